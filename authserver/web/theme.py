"""Branding: a theme directory over the built-in templates and static files, and the stylesheet that
carries the primary colour (a static file: the CSP allows no inline style).

A theme is a directory with `templates/` and `static/`; each file there takes the place of the
built-in file of the same name, and a theme template can extend the built-in one as
"default/NAME.html" (README "Branding and languages" lists the templates and their blocks).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from authserver.resources import resource_dir
from authserver.settings import Settings

BRAND_CSS = "/brand.css"


def template_dirs(settings: Settings) -> list[Path]:
    """Where templates are looked up, in order: the theme's, then the built-in ones."""
    builtin = resource_dir("templates")
    theme = settings.theme_dir / "templates" if settings.theme_dir else None
    return [theme, builtin] if theme is not None and theme.is_dir() else [builtin]


def static_files(settings: Settings) -> StaticFiles:
    """/static/: the theme's files first, then the built-in ones."""
    builtin = resource_dir("templates") / "static"
    files = StaticFiles(directory=builtin)
    theme = settings.theme_dir / "static" if settings.theme_dir else None
    if theme is not None and theme.is_dir():
        # StaticFiles looks a path up in each of its directories in order.
        files.all_directories = [theme, *files.all_directories]
    return files


def _darker(colour: str, factor: float = 0.85) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * factor):02x}" for c in (r, g, b))


def brand_stylesheet(settings: Settings) -> str | None:
    """The custom properties of app.css that the primary colour replaces (settings checked its contrast
    with the white text of primary buttons); dark mode keeps its lighter link colour."""
    colour = settings.primary_color
    if colour is None:
        return None
    hover = _darker(colour)
    return (
        f":root {{ --primary: {colour}; --primary-bg: {colour}; --primary-hover: {hover}; --focus: {colour}; }}\n"
        "@media (prefers-color-scheme: dark) {\n"
        f"  :root {{ --primary-bg: {colour}; --primary-hover: {hover}; }}\n"
        "}\n"
    )


def brand_css_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    body = (brand_stylesheet(settings) or "").encode()

    async def brand_css(request: Request) -> Response:
        return Response(
            body,
            media_type="text/css",
            headers={"cache-control": "public, max-age=300", "x-content-type-options": "nosniff"},
        )

    return brand_css
