"""authserver upstream add|list|show|delete."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import ISSUER
from tests.fake_idp import FakeIdP

SECRET = "upstream-client-secret-0123456789"


@pytest.fixture
def idp():  # type: ignore[no-untyped-def]
    provider = FakeIdP().start()
    yield provider
    provider.stop()


def add(cli, *args: str, secret: str = SECRET):  # type: ignore[no-untyped-def]
    return cli(
        "upstream", "add", "--client-id", "our-client", "--client-secret-stdin", "--json", *args, stdin=secret + "\n"
    )


def test_add_an_openid_connect_upstream_from_discovery(cli, env, idp):
    result = add(cli, "--name", "corp", "--issuer", idp.issuer)
    assert result.code == 0, result.err
    row = result.json()
    assert row["kind"] == "oidc" and row["display_name"] == "corp"
    assert row["authorization_endpoint"] == idp.base + "/authorize"
    assert row["token_endpoint"] == idp.base + "/token"
    assert row["jwks_uri"] == idp.base + "/jwks"
    assert row["redirect_uri"] == f"{ISSUER}/login/upstream/corp/callback"
    assert row["scope"] == "openid email profile"
    assert row["signup"] is True and row["link_by_email"] is False and row["trust_mfa"] is False
    assert SECRET not in result.out

    # Sealed at rest: the stored value is not the secret and does not contain it.
    engine = sa.create_engine(env["AUTHSERVER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT client_secret_enc FROM upstreams")).scalar_one()
    finally:
        engine.dispose()
    assert SECRET not in stored and len(stored) > len(SECRET)

    assert cli("upstream", "show", "corp", "--json").json() == row
    assert [u["name"] for u in cli("upstream", "list", "--json").json()] == ["corp"]
    assert SECRET not in cli("upstream", "show", "corp").out
    events = [e["event"] for e in cli("audit", "list", "--json").json()]
    assert "upstream.added" in events


def test_flags_are_kept(cli, idp):
    result = add(
        cli, "--name", "corp", "--issuer", idp.issuer, "--display-name", "Corp SSO", "--scope", "openid email",
        "--link-by-email", "--no-signup", "--trust-mfa", "--mfa-acr", "urn:corp:mfa",
    )  # fmt: skip
    assert result.code == 0, result.err
    row = result.json()
    assert row["display_name"] == "Corp SSO" and row["scope"] == "openid email"
    assert row["link_by_email"] is True and row["signup"] is False and row["trust_mfa"] is True
    assert row["mfa_acr_values"] == ["urn:corp:mfa"]


def test_delete_removes_it(cli, idp):
    assert add(cli, "--name", "corp", "--issuer", idp.issuer).code == 0
    assert cli("upstream", "delete", "corp", "--json").json() == {"name": "corp", "deleted": True}
    assert cli("upstream", "list", "--json").json() == []
    result = cli("upstream", "show", "corp")
    assert result.code == 1 and "no upstream named 'corp'" in result.err


def test_the_github_preset_needs_no_discovery(cli):
    result = add(cli, "--name", "github", "--preset", "github")
    assert result.code == 0, result.err
    row = result.json()
    assert row["kind"] == "oauth2" and row["display_name"] == "GitHub"
    assert row["authorization_endpoint"] == "https://github.com/login/oauth/authorize"
    assert row["claim_map"]["sub"] == "id" and row["scope"] == "read:user user:email"
    assert row["token_endpoint_auth_method"] == "client_secret_post"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "Bad Name", "--issuer", "https://idp.example"), "--name must be"),
        (("--name", "ms", "--preset", "microsoft"), "needs --tenant"),
        (("--name", "x", "--preset", "nope"), "invalid choice"),
        (("--name", "x"), "needs --issuer"),
        (("--name", "x", "--issuer", "http://idp.example"), "must be https"),
        (("--name", "x", "--issuer", "https://user:pw@idp.example"), "without credentials"),
        (
            ("--name", "x", "--authorization-endpoint", "https://idp.example/a"),
            "needs --authorization-endpoint, --token-endpoint",
        ),
        (("--name", "x", "--preset", "github", "--claim", "nonsense"), "CLAIM=FIELD"),
        (("--name", "x", "--preset", "github", "--claim", "role=admin"), "the claims are"),
    ],
)
def test_bad_upstreams_are_refused_with_a_reason(cli, args, message):
    result = add(cli, *args)
    assert result.code != 0
    assert message in result.err
    assert cli("upstream", "list", "--json").json() == []


def test_a_secret_is_required(cli, idp):
    result = add(cli, "--name", "corp", "--issuer", idp.issuer, secret="")
    assert result.code == 1 and "client secret is required" in result.err


def test_a_discovery_document_for_another_issuer_is_refused(cli, idp):
    result = add(cli, "--name", "corp", "--issuer", idp.issuer + "/")
    assert result.code == 1 and "names the issuer" in result.err


def test_an_unreachable_issuer_is_refused(cli, idp):
    idp.stop()
    result = add(cli, "--name", "corp", "--issuer", idp.issuer)
    assert result.code == 1 and "cannot fetch" in result.err
    idp.server = type("Stopped", (), {"shutdown": lambda self: None, "server_close": lambda self: None})()


def test_a_second_upstream_with_the_same_name_is_refused(cli, idp):
    assert add(cli, "--name", "corp", "--issuer", idp.issuer).code == 0
    result = add(cli, "--name", "corp", "--issuer", idp.issuer)
    assert result.code == 1 and "exists already" in result.err
