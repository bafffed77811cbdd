"""The whole chain against a real upstream: a second authserver, started by the test as its own process
with its own database, is the identity provider behind "Continue with Corp".

app -> us (/authorize, /login) -> upstream (/authorize, its login page, code) -> us (callback: discovery-
configured endpoints, the code exchanged, the ID token checked against its JWKS, userinfo) -> app (code,
tokens with amr fed). Two cookie jars: the browser's cookies for us and for the upstream never mix.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import PASSWORD, follow, forms, query, submit
from tests.upstreams import (
    CALLBACK,
    OURS,
    REDIRECT,
    audit,
    come_back,
    leave_for,
    login_page,
    provider,
    refused_as_expired,
    refused_on_login_page,
    signed_in_tokens,
)

# Starting a server process takes seconds (tens of seconds on a loaded 2-core machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def corp_idp(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    upstream = provider(tmp_path_factory.mktemp("upstream"))
    yield upstream
    upstream.stop()


@pytest.fixture
def ours(make_app):  # type: ignore[no-untyped-def]
    return make_app(issuer=OURS)


def add_corp(cli, corp_idp, *extra: str) -> dict:  # type: ignore[no-untyped-def]
    result = cli(
        "upstream", "add", "--name", "corp", "--display-name", "Corp", "--issuer", corp_idp.base,
        "--client-id", corp_idp.client["client_id"], "--client-secret-stdin", "--json", *extra,
        stdin=corp_idp.client["client_secret"] + "\n",
    )  # fmt: skip
    assert result.code == 0, result.err
    return result.json()


@pytest.fixture
def app(register):  # type: ignore[no-untyped-def]
    return register("--grant-type", "authorization_code", "--redirect-uri", REDIRECT, "--first-party", name="Photo App")


def at_upstream(corp_idp, url: str, username: str = "bob") -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The browser at the upstream: its authorization endpoint, its login page; the answer for our callback."""
    assert url.startswith(corp_idp.base + "/authorize?")
    with httpx.Client(base_url=corp_idp.base, timeout=30) as browser:
        response = browser.get(url, follow_redirects=False)
        assert response.status_code in (302, 303), response.text
        page = follow(browser, response)
        response = submit(browser, page, username=username, password=PASSWORD)
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return query(location)


def test_discovery_configures_the_upstream(cli, corp_idp):
    row = add_corp(cli, corp_idp)
    assert row["kind"] == "oidc" and row["issuer"] == corp_idp.base
    assert row["authorization_endpoint"] == corp_idp.base + "/authorize"
    assert row["jwks_uri"] == corp_idp.base + "/jwks.json"
    assert row["iss_parameter_supported"] is True


def test_the_whole_chain_app_us_upstream_us_app(ours, cli, corp_idp, app):
    add_corp(cli, corp_idp)
    page, verifier, params = login_page(ours, app)
    sent = leave_for(ours, page)
    answer = at_upstream(corp_idp, sent["url"])
    assert answer["state"] == sent["state"] and answer["iss"] == corp_idp.base
    claims = signed_in_tokens(ours, app, come_back(ours, **answer), verifier, params)
    assert claims["amr"] == ["fed"] and claims["iss"] == OURS
    bob = cli("user", "show", "bob@corp.example", "--json").json()
    assert claims["sub"] == bob["id"] and bob["email_verified"] is True and bob["name"] == "Bob"
    signin = audit(cli, "upstream.signin")[-1]["data"]
    assert signin["upstream_acr"] == "urn:authserver:loa:1" and signin["upstream_amr"] == ["pwd"]


def test_a_tampered_nonce_is_refused(ours, cli, corp_idp, app):
    add_corp(cli, corp_idp)
    page, _, _ = login_page(ours, app)
    sent = leave_for(ours, page)
    tampered = sent["url"].replace("nonce=" + sent["nonce"], "nonce=someone-elses-nonce")
    answer = at_upstream(corp_idp, tampered)
    refused_on_login_page(come_back(ours, **answer))
    assert "nonce" in audit(cli, "upstream.failed")[-1]["data"]["reason"]
    assert cli("user", "list", "--json").json() == []


def test_a_state_mismatch_is_refused(ours, cli, corp_idp, app):
    add_corp(cli, corp_idp)
    page, _, _ = login_page(ours, app)
    sent = leave_for(ours, page)
    answer = at_upstream(corp_idp, sent["url"])
    refused_as_expired(come_back(ours, **{**answer, "state": "not-the-state"}))
    assert cli("user", "list", "--json").json() == []


def test_an_unverified_address_at_the_upstream_does_not_take_over_a_local_account(ours, cli, corp_idp, app, alice):
    add_corp(cli, corp_idp, "--link-by-email")
    page, _, _ = login_page(ours, app)
    sent = leave_for(ours, page)
    answer = at_upstream(corp_idp, sent["url"], username="mallory")
    response = come_back(ours, **answer)
    assert response.status_code == 403 and "exists already" in response.text
    assert audit(cli, "upstream.failed")[-1]["data"]["reason"] == "email_unverified"
    assert audit(cli, "upstream.linked") == []


def test_an_upstream_that_went_down_leaves_the_local_login_usable(ours, cli, app, alice, tmp_path):
    upstream = provider(tmp_path)
    try:
        add_corp(cli, upstream)
        page, _, params = login_page(ours, app)
        sent = leave_for(ours, page)
        answer = at_upstream(upstream, sent["url"])
    finally:
        upstream.stop()
    response = come_back(ours, **answer)
    assert response.status_code == 502 and "cannot be reached" in response.text
    response = submit(ours, response, username="alice", password=PASSWORD)
    assert query(response.headers["location"])["state"] == params["state"]


def test_unlinking_the_last_way_in_is_refused(ours, cli, corp_idp, app):
    add_corp(cli, corp_idp)
    page, verifier, params = login_page(ours, app)
    sent = leave_for(ours, page)
    signed_in_tokens(ours, app, come_back(ours, **at_upstream(corp_idp, sent["url"])), verifier, params)
    account = ours.get("/account")
    form = next(f for f in forms(account.text) if f["action"] == "/account/upstreams/disconnect")
    response = ours.post(
        "/account/upstreams/disconnect", data={**form["fields"], "upstream": "corp"}, follow_redirects=False
    )
    assert response.status_code == 409
    assert urlsplit(CALLBACK).path == "/login/upstream/corp/callback"
