"""Accessibility and usability checks run on every page the browser tests visit."""

from __future__ import annotations

from tests.browser.conftest import Tab

UNLABELLED_INPUTS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && !el.hidden)
  .filter(el => {
    const byFor = el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
    const aria = (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby');
    return !byFor && !aria;
  })
  .map(el => el.outerHTML)"""


PAGE_FACTS = """() => ({
  scrollWidth: document.documentElement.scrollWidth,
  lang: document.documentElement.lang,
  title: document.title,
  h1: document.querySelectorAll('h1').length,
  namelessButtons: Array.from(document.querySelectorAll('button, a'))
    .filter(el => !(el.textContent || el.getAttribute('aria-label') || '').trim()).map(el => el.outerHTML),
})"""


def check(tab: Tab, name: str, *, max_width: int | None = None) -> None:
    """Accessibility and usability smoke checks on the current page, then a screenshot."""
    page = tab.page
    page.wait_for_load_state("load")
    assert page.evaluate(UNLABELLED_INPUTS) == [], f"{name}: inputs without a label"
    facts = page.evaluate(PAGE_FACTS)
    assert facts["lang"] == "en" and facts["title"].strip(), f"{name}: {facts}"
    assert facts["h1"] == 1, f"{name}: expected one h1, got {facts['h1']}"
    assert facts["namelessButtons"] == [], f"{name}: buttons or links without a name"
    if max_width is not None:
        assert facts["scrollWidth"] <= max_width, f"{name}: scrolls sideways ({facts['scrollWidth']}px wide)"
    assert tab.errors == [], f"{name}: console errors"
    tab.shot(name + ".png")
