"""`authserver client create|list|show|delete`, through the CLI's public surface only.

Every failure must be one line on stderr (`authserver: error: ...`, or argparse's
`authserver client create: error: ...` for usage errors), a non-zero exit, and no traceback.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.cli.checks import assert_error, assert_usage_error
from tests.helpers import basic, client_token, jwt_parts

SECRET_HASH_PREFIX = "hmac-sha256$"
SIGN_IN_GRANT = ["--grant-type", "authorization_code"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "cli-test-key"})


@pytest.fixture
def public_jwks(tmp_path, rsa_key) -> str:
    path = tmp_path / "public-jwks.json"
    path.write_text(json.dumps(KeySet([rsa_key]).as_dict(private=False)))
    return str(path)


def on_client(cli, action: str, client_id: str, *flags: str):  # type: ignore[no-untyped-def]
    """`client ACTION [FLAGS] -- ID`: `--` keeps an id that starts with '-' from reading as an option."""
    return cli("client", action, *flags, "--", client_id)


def _write(tmp_path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


# --- create: happy paths ---------------------------------------------------------------------


def test_create_defaults_json(cli):
    result = cli("client", "create", "--name", "billing service", "--json")
    assert result.code == 0, result.err
    assert result.err == ""
    data = result.json()
    assert set(data) == {
        "client_id",
        "name",
        "token_endpoint_auth_method",
        "public",
        "grant_types",
        "redirect_uris",
        "post_logout_redirect_uris",
        "scope",
        "resources",
        "first_party",
        "require_mfa",
        "require_pushed_authorization_requests",
        "require_signed_request_object",
        "dpop_bound_access_tokens",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
        "introspect",
        "admin",
        "jwks",
        "client_uri",
        "logo_uri",
        "policy_uri",
        "tos_uri",
        "contacts",
        "registered_by",
        "disabled",
        "created_at",
        "client_secret",
    }
    assert data["name"] == "billing service"
    assert data["token_endpoint_auth_method"] == "client_secret_basic"
    assert data["public"] is False
    assert data["grant_types"] == ["client_credentials"]
    assert data["redirect_uris"] == [] and data["post_logout_redirect_uris"] == []
    assert data["scope"] == "" and data["resources"] == []
    assert data["first_party"] is False and data["disabled"] is False
    assert abs(data["created_at"] - time.time()) < 60
    assert len(data["client_id"]) >= 16
    assert len(data["client_secret"]) >= 32  # 256 bits, url-safe base64
    assert SECRET_HASH_PREFIX not in result.out


def test_create_service_client_with_every_option(cli):
    result = cli(
        "client",
        "create",
        "--name",
        "  billing  ",
        "--grant-type",
        "client_credentials",
        "--grant-type",
        "client_credentials",
        "--scope",
        "api:read api:write api:read",
        "--resource",
        "https://api.example",
        "--resource",
        "https://files.example/v1",
        "--resource",
        "https://api.example",
        "--token-endpoint-auth-method",
        "client_secret_post",
        "--first-party",
        "--json",
    )
    assert result.code == 0, result.err
    data = result.json()
    assert data["name"] == "billing"  # surrounding whitespace trimmed
    assert data["token_endpoint_auth_method"] == "client_secret_post"
    assert data["grant_types"] == ["client_credentials"]
    assert data["scope"] == "api:read api:write"
    assert data["resources"] == ["https://api.example", "https://files.example/v1"]
    assert data["first_party"] is True
    assert data["client_secret"]
    shown = on_client(cli, "show", data["client_id"], "--json")
    assert shown.code == 0, shown.err
    assert shown.json() == {k: v for k, v in data.items() if k != "client_secret"}


def test_create_sign_in_client_with_redirect_uris(cli):
    result = cli(
        "client",
        "create",
        "--name",
        "web app",
        *SIGN_IN_GRANT,
        "--redirect-uri",
        "https://app.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:8080/cb",
        "--redirect-uri",
        "http://localhost/cb",
        "--redirect-uri",
        "http://[::1]:9000/cb",
        "--redirect-uri",
        "com.example.app:/oauth2redirect",
        "--redirect-uri",
        "https://app.example/cb?tenant=1",
        "--redirect-uri",
        "https://app.example/cb",  # duplicate: kept once
        "--post-logout-redirect-uri",
        "https://app.example/bye",
        "--post-logout-redirect-uri",
        "http://127.0.0.1:8080/bye",
        "--scope",
        "openid api:read",
        "--json",
    )
    assert result.code == 0, result.err
    data = result.json()
    assert "authorization_code" in data["grant_types"]
    assert data["redirect_uris"] == [
        "https://app.example/cb",
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "http://[::1]:9000/cb",
        "com.example.app:/oauth2redirect",
        "https://app.example/cb?tenant=1",
    ]
    assert data["post_logout_redirect_uris"] == ["https://app.example/bye", "http://127.0.0.1:8080/bye"]
    assert data["scope"] == "openid api:read"
    assert data["client_secret"]
    shown = on_client(cli, "show", data["client_id"], "--json")
    assert shown.code == 0, shown.err
    assert shown.json() == {k: v for k, v in data.items() if k != "client_secret"}


def test_public_sign_in_client_has_no_secret(cli):
    result = cli(
        "client", "create", "--name", "spa", "--public", "--redirect-uri", "http://127.0.0.1:5173/cb", "--json"
    )
    assert result.code == 0, result.err
    data = result.json()
    assert data["public"] is True
    assert data["token_endpoint_auth_method"] == "none"
    assert data["client_secret"] is None
    assert "client_credentials" not in data["grant_types"]
    text = cli("client", "create", "--name", "spa", "--public", "--redirect-uri", "http://127.0.0.1:5173/cb")
    assert text.code == 0, text.err
    assert text.out.startswith("client_id ") and "client_secret" not in text.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grant-type", "authorization_code"], "--redirect-uri"),
        (["--grant-type", "refresh_token"], "authorization_code"),
        (["--grant-type", "client_credentials", "--grant-type", "refresh_token"], "authorization_code"),
        (["--post-logout-redirect-uri", "https://app.example/bye"], "--post-logout-redirect-uri"),
        (
            ["--grant-type", "client_credentials", "--post-logout-redirect-uri", "https://app.example/bye"],
            "--post-logout-redirect-uri",
        ),
    ],
)
def test_sign_in_options_need_authorization_code_and_a_redirect_uri(cli, extra, message):
    assert_error(cli("client", "create", "--name", "x", *extra), contains=message)
    assert cli("client", "list", "--json").json() == []


def test_create_text_prints_the_secret_once_with_a_warning(cli):
    result = cli("client", "create", "--name", "svc")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("client_id ")
    assert lines[1].startswith("client_secret ")
    assert "shown only now" in lines[2]
    client_id = lines[0].split()[1]
    secret = lines[1].split()[1]
    assert len(secret) >= 32
    for args in (
        ("client", "show", "--", client_id),
        ("client", "show", "--json", "--", client_id),
        ("client", "list"),
        ("client", "list", "--json"),
    ):
        shown = cli(*args)
        assert shown.code == 0, shown.err
        assert client_id in shown.out
        assert secret not in shown.out
        assert not re.search(r'(^|\s|")client_secret("|\s)', shown.out), shown.out
        assert SECRET_HASH_PREFIX not in shown.out


def test_printed_secret_works_at_the_token_endpoint(cli, http):
    result = cli("client", "create", "--name", "svc", "--scope", "a b")
    client_id = result.out.splitlines()[0].split()[1]
    secret = result.out.splitlines()[1].split()[1]
    response = http.post("/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "a b"
    assert jwt_parts(body["access_token"])[1]["client_id"] == client_id
    wrong = http.post("/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret + "x"))
    assert wrong.status_code == 401


def test_json_secret_works_and_registered_resource_becomes_audience(http, register):
    client = register("--scope", "api:read", "--resource", "https://api.example")
    body = client_token(http, client)
    claims = jwt_parts(body["access_token"])[1]
    assert claims["aud"] == "https://api.example"
    assert claims["scope"] == "api:read"


def test_client_secret_post_client_authenticates_in_the_form(http, register):
    client = register("--token-endpoint-auth-method", "client_secret_post")
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    # It registered for client_secret_post, so Basic is refused.
    assert (
        http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client["client_id"], client["client_secret"]),
        ).status_code
        == 401
    )


def test_private_key_jwt_client_has_no_secret_and_its_stored_keys_verify(cli, http, public_jwks, rsa_key):
    result = cli(
        "client",
        "create",
        "--name",
        "jwt",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-file",
        public_jwks,
        "--json",
    )
    assert result.code == 0, result.err
    data = result.json()
    assert data["client_secret"] is None
    assert data["token_endpoint_auth_method"] == "private_key_jwt"
    assert data["public"] is False
    text = cli(
        "client",
        "create",
        "--name",
        "jwt2",
        "--token-endpoint-auth-method",
        "private_key_jwt",
        "--jwks-file",
        public_jwks,
    )
    assert text.code == 0, text.err
    assert "client_secret" not in text.out and "shown only now" not in text.out
    now = int(time.time())
    claims = {
        "iss": data["client_id"],
        "sub": data["client_id"],
        "aud": "http://testserver/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "RS256", "kid": rsa_key.kid}, claims, rsa_key)
    response = http.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 200, response.text


def test_ec_public_jwks_is_accepted(cli, tmp_path):
    path = _write(tmp_path, "ec.json", json.dumps(KeySet([ECKey.generate_key("P-256")]).as_dict(private=False)))
    result = cli(
        "client", "create", "--name", "ec", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path
    )
    assert result.code == 0, result.err


def test_each_create_gets_a_fresh_id_and_secret(register):
    a, b = register(name="a"), register(name="a")
    assert a["client_id"] != b["client_id"]
    assert a["client_secret"] != b["client_secret"]


def test_a_200_character_name_is_accepted(register):
    assert register(name="n" * 200)["name"] == "n" * 200


# --- create: refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--public", "--grant-type", "client_credentials"],
        ["--token-endpoint-auth-method", "none", "--grant-type", "client_credentials"],
        ["--public", "--token-endpoint-auth-method", "none", "--grant-type", "client_credentials"],
    ],
)
def test_public_client_with_client_credentials_is_refused(cli, extra):
    err = assert_error(cli("client", "create", "--name", "spa", *extra))
    assert "client_credentials" in err
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_public_with_a_confidential_method_is_refused(cli, method, public_jwks):
    extra = ["--jwks-file", public_jwks] if method == "private_key_jwt" else []
    assert_error(
        cli("client", "create", "--name", "x", "--public", "--token-endpoint-auth-method", method, *extra),
        contains="'none'",
    )


@pytest.mark.parametrize("scope", ['a"b', "a\\b", "caf\u00e9", "a\x7fb", "ok bad\\one"])
def test_bad_scope_characters_are_refused(cli, scope):
    assert_error(cli("client", "create", "--name", "x", "--scope", scope), contains="invalid scope")
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize("option", ["--redirect-uri", "--post-logout-redirect-uri"])
@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb#fragment",
        "https://app.example/cb#",
        "/relative/cb",
        "cb",
        "app.example/cb",
        "//app.example/cb",
        "http://app.example/cb",
        "http://localhost.evil.example/cb",
        "HTTP://app.example/cb",
        "https:///cb",
        "https://app.example/c b",
        "",
    ],
)
def test_bad_redirect_uris_are_refused(cli, option, uri):
    args = ["client", "create", "--name", "x", *SIGN_IN_GRANT]
    if option == "--post-logout-redirect-uri":
        args += ["--redirect-uri", "https://app.example/cb"]
    err = assert_error(cli(*args, option, uri), contains=option)
    assert "must" in err or "has no host" in err
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize("option", ["--redirect-uri", "--post-logout-redirect-uri"])
@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://user@app.example/cb", "must not contain userinfo"),
        ("https://user:pw@app.example/cb", "must not contain userinfo"),
        ("https://app.example@evil.example/cb", "must not contain userinfo"),
        ("http://user@127.0.0.1/cb", "must not contain userinfo"),
        ("https://*.app.example/cb", "must not contain a wildcard"),
        ("https://app.example/*", "must not contain a wildcard"),
        ("https://app.example/cb?x=*", "must not contain a wildcard"),
        ("https://app.example/cb/%2e%2e/evil", "dot segments"),
        ("https://app.example/cb/%2E%2E/evil", "dot segments"),
        ("https://app.example/cb/.%2e/evil", "dot segments"),
        ("https://app.example/%2e/cb", "dot segments"),
        ("https://app.example/cb/../evil", "dot segments"),
        ("https://app.example/./cb", "dot segments"),
        ("com.example.app:/cb/%2e%2e/x", "dot segments"),
        ("https://app.example:0/cb", "port between 1 and 65535"),
        ("https://app.example:65536/cb", "port between 1 and 65535"),
        ("http://127.0.0.1:99999/cb", "port between 1 and 65535"),
        ("https://app.example:123456/cb", "numeric port"),
        ("https://app.example:-1/cb", "numeric port"),
        ("https://app.example:/cb", "numeric port"),
        ("https://app.example:8o/cb", "numeric port"),
        ("https://app.example:\u0661\u0662/cb", "numeric port"),
        ("https://app.example\\@evil.example/cb", "backslash"),
        ("https://app.example/cb\x00", "control characters"),
        ("https://app.ex%61mple/cb", "numeric port"),
    ],
)
def test_ambiguous_redirect_uris_are_refused_with_the_reason(cli, option, uri, reason):
    args = ["client", "create", "--name", "x", *SIGN_IN_GRANT]
    if option == "--post-logout-redirect-uri":
        args += ["--redirect-uri", "https://app.example/cb"]
    err = assert_error(cli(*args, option, uri), contains=option)
    assert reason in err, err
    assert cli("client", "list", "--json").json() == []


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example:1/cb",
        "https://app.example:65535/cb",
        "https://app.example/a.b/..c/cb",
        "http://[::1]:8080/cb",
    ],
)
def test_unambiguous_edge_cases_are_accepted(cli, uri):
    result = cli("client", "create", "--name", "x", *SIGN_IN_GRANT, "--redirect-uri", uri, "--json")
    assert result.code == 0, result.err
    assert result.json()["redirect_uris"] == [uri]


@pytest.mark.parametrize("uri", ["api", "/api", "//api.example", "https://api.example/#x", "https://api.example#", ""])
def test_bad_resources_are_refused(cli, uri):
    assert_error(cli("client", "create", "--name", "x", "--resource", uri), contains="--resource")


# Regression (found by these tests, fixed in e1fa2be): authserver/cli/clients.py _check_resource
# requires a netloc, so RFC 8707 §2 absolute URIs such as URNs are refused although its own comment says
# 'an absolute URI without a fragment'
def test_urn_resource_is_an_absolute_uri(register):
    assert register("--resource", "urn:example:api")["resources"] == ["urn:example:api"]


@pytest.mark.parametrize("name", ["", "   ", "\t", "n" * 201])
def test_bad_names_are_refused(cli, name):
    assert_error(cli("client", "create", "--name", name), contains="--name")


def test_missing_name_is_a_usage_error(cli):
    assert_usage_error(cli("client", "create"), contains="--name")


def test_unknown_grant_type_is_a_usage_error(cli):
    assert_usage_error(cli("client", "create", "--name", "x", "--grant-type", "password"), contains="--grant-type")


def test_unknown_auth_method_is_a_usage_error(cli):
    assert_usage_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "tls_client_auth"),
        contains="--token-endpoint-auth-method",
    )


def test_unknown_option_is_a_usage_error(cli):
    assert_usage_error(cli("client", "create", "--name", "x", "--secret", "s3cret"))


def test_private_key_jwt_needs_a_jwks_file(cli):
    assert_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt"),
        contains="--jwks-file",
    )


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--token-endpoint-auth-method", "client_secret_basic"],
        ["--token-endpoint-auth-method", "client_secret_post"],
    ],
)
def test_jwks_file_with_a_secret_based_method_is_refused(cli, public_jwks, extra):
    assert_error(cli("client", "create", "--name", "x", "--jwks-file", public_jwks, *extra), contains="private_key_jwt")
    assert cli("client", "list", "--json").json() == []


def test_private_jwks_is_refused(cli, tmp_path):
    path = _write(tmp_path, "private.json", json.dumps(KeySet([RSAKey.generate_key(2048)]).as_dict(private=True)))
    assert_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path),
        contains="public keys only",
    )
    assert cli("client", "list", "--json").json() == []


def test_a_set_mixing_public_and_private_keys_is_refused(cli, tmp_path, rsa_key):
    private = RSAKey.generate_key(2048).as_dict(private=True)
    data = {"keys": [rsa_key.as_dict(private=False), private]}
    path = _write(tmp_path, "mixed.json", json.dumps(data))
    assert_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path),
        contains="public keys only",
    )


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "",
        "[]",
        "{}",
        '{"keys": []}',
        '{"keys": [1]}',
        '{"keys": [{"kty": "RSA"}]}',
        '{"keys": [{"kty": "nope", "n": "x"}]}',
        json.dumps(RSAKey.generate_key(2048).as_dict(private=False)),  # one JWK, not a JWK Set
        b"\xff\xfe\x00binary",
    ],
)
def test_invalid_jwks_file_is_a_one_line_error(cli, tmp_path, content):
    path = _write(tmp_path, "jwks.json", content)
    assert_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path),
        contains="--jwks-file",
    )


@pytest.mark.parametrize("which", ["missing", "directory", "under-a-file", "unreadable"])
def test_unreadable_jwks_file_is_a_one_line_error(cli, tmp_path, public_jwks, which):
    import os

    if which == "missing":
        path = str(tmp_path / "nope.json")
    elif which == "directory":
        path = str(tmp_path)
    elif which == "under-a-file":
        path = public_jwks + "/jwks.json"
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        os.chmod(public_jwks, 0)
        path = public_jwks
    err = assert_error(
        cli("client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path),
        contains="cannot read --jwks-file",
    )
    assert "Errno" not in err


# Regression (found by these tests, fixed in e1fa2be): authserver/cli/clients.py _load_jwks accepts a
# 1024-bit RSA key (RFC 7518 §3.3 requires >= 2048 bits for RS*/PS*); joserfc only emits a
# SecurityWarning, which the real console script prints to stderr
def test_weak_rsa_key_in_jwks_is_refused(cli, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = RSAKey.generate_key(1024)
    path = _write(tmp_path, "weak.json", json.dumps(KeySet([weak]).as_dict(private=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cli(
            "client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", path
        )
    assert_error(result, contains="--jwks-file")


# --- list / show / delete ----------------------------------------------------------------------


def test_list_when_empty(cli):
    text = cli("client", "list")
    assert (text.code, text.out, text.err) == (0, "no clients\n", "")
    js = cli("client", "list", "--json")
    assert js.code == 0 and js.json() == []


def test_list_shows_every_client_without_secrets(cli, register):
    a = register("--scope", "x", name="alpha")
    b = register("--token-endpoint-auth-method", "client_secret_post", name="beta")
    rows = cli("client", "list", "--json").json()
    assert {r["client_id"] for r in rows} == {a["client_id"], b["client_id"]}
    by_id = {r["client_id"]: r for r in rows}
    assert by_id[a["client_id"]]["name"] == "alpha" and by_id[a["client_id"]]["scope"] == "x"
    assert by_id[b["client_id"]]["token_endpoint_auth_method"] == "client_secret_post"
    for row in rows:
        assert "client_secret" not in row and "secret_hash" not in row
    text = cli("client", "list")
    assert text.code == 0
    assert a["client_id"] in text.out and b["client_id"] in text.out
    assert "alpha" in text.out and "beta" in text.out
    assert "\n\n" in text.out  # one block per client
    for client in (a, b):
        assert client["client_secret"] not in text.out
    assert SECRET_HASH_PREFIX not in text.out


def test_show_text_and_json(cli, register):
    client = register("--scope", "a b", "--first-party", name="shown")
    text = on_client(cli, "show", client["client_id"])
    assert text.code == 0 and text.err == ""
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.out.splitlines())
    assert fields["client_id"] == client["client_id"]
    assert fields["name"] == "shown"
    assert fields["scope"] == "a b"
    assert fields["first_party"] == "True"
    assert fields["redirect_uris"] == "-"
    assert "client_secret" not in fields
    js = on_client(cli, "show", client["client_id"], "--json").json()
    assert js["client_id"] == client["client_id"] and js["first_party"] is True
    assert "client_secret" not in js


@pytest.mark.parametrize("action", ["show", "delete", "disable", "enable"])
def test_unknown_client_is_a_one_line_error(cli, register, action):
    register()
    for client_id in ("nope", "x" * 300, "bad'quote", "line\nbreak", ""):
        for extra in ([], ["--json"]):
            assert_error(cli("client", action, client_id, *extra), contains="no client")
    assert len(cli("client", "list", "--json").json()) == 1


def test_show_and_delete_need_a_client_id(cli):
    assert_usage_error(cli("client", "show"))
    assert_usage_error(cli("client", "delete"))
    assert_usage_error(cli("client"))
    assert_usage_error(cli("client", "rename", "x"))


def test_delete_removes_the_client_and_its_access(cli, http, register):
    client = register()
    other = register(name="other")
    client_token(http, client)
    result = on_client(cli, "delete", client["client_id"])
    assert (result.code, result.err) == (0, "")
    assert result.out == f"deleted client {client['client_id']}\n"
    assert_error(on_client(cli, "show", client["client_id"]), contains="no client")
    assert [r["client_id"] for r in cli("client", "list", "--json").json()] == [other["client_id"]]
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 401
    assert_error(on_client(cli, "delete", client["client_id"]), contains="no client")
    client_token(http, other)


def test_delete_json(cli, register):
    client = register()
    result = on_client(cli, "delete", client["client_id"], "--json")
    assert result.code == 0, result.err
    assert result.json() == {"client_id": client["client_id"], "deleted": True}


def test_disable_and_enable(cli, http, register):
    client = register()
    client_token(http, client)
    result = on_client(cli, "disable", client["client_id"])
    assert (result.code, result.out, result.err) == (0, f"disabled client {client['client_id']}\n", "")
    assert on_client(cli, "show", client["client_id"], "--json").json()["disabled"] is True
    refused = http.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client["client_id"], client["client_secret"])
    )
    assert refused.status_code == 401
    again = on_client(cli, "disable", client["client_id"], "--json")
    assert again.code == 0 and again.json() == {"client_id": client["client_id"], "disabled": True}
    enabled = on_client(cli, "enable", client["client_id"], "--json")
    assert enabled.code == 0 and enabled.json() == {"client_id": client["client_id"], "disabled": False}
    assert on_client(cli, "show", client["client_id"], "--json").json()["disabled"] is False
    client_token(http, client)
    for out in (result.out, again.out, enabled.out):
        assert client["client_secret"] not in out


@pytest.mark.parametrize("action", ["show", "disable", "enable", "delete"])
def test_every_generated_client_id_can_be_passed_back_as_printed(cli, monkeypatch, action):
    import secrets

    real = secrets.token_urlsafe
    draws = []

    def unlucky(nbytes=None):  # type: ignore[no-untyped-def]
        # The first id-sized draw is one of the 1-in-64 that begin with '-'; the rest are real.
        value = real(nbytes)
        if nbytes == 18 and not draws:
            draws.append(value)
            return "-" + value[1:]
        return value

    monkeypatch.setattr(secrets, "token_urlsafe", unlucky)
    created = cli("client", "create", "--name", "svc", "--json")
    assert created.code == 0, created.err
    client_id = created.json()["client_id"]
    result = cli("client", action, client_id)
    assert result.code == 0, result.err


# --- update: how the client is presented to people -----------------------------------------------

PRESENTED = ("name", "logo_uri", "client_uri", "policy_uri", "tos_uri")


def presented(cli, client_id: str) -> dict:  # type: ignore[no-untyped-def]
    shown = cli("client", "show", client_id, "--json")
    assert shown.code == 0, shown.err
    return {key: shown.json().get(key) for key in PRESENTED}


@pytest.fixture
def photo_app(register) -> dict:  # type: ignore[no-untyped-def]
    return register(*SIGN_IN_GRANT, "--redirect-uri", "https://photos.example/cb", name="Photos")


def test_update_sets_the_name_logo_and_links(cli, photo_app):
    result = cli(
        "client", "update", photo_app["client_id"], "--json",
        "--client-name", "Photo App",
        "--logo-uri", "https://cdn.photos.example/logo.png",
        "--client-uri", "https://photos.example/",
        "--policy-uri", "https://photos.example/privacy",
        "--tos-uri", "https://photos.example/terms",
    )  # fmt: skip
    assert result.code == 0, result.err
    expected = {
        "name": "Photo App",
        "logo_uri": "https://cdn.photos.example/logo.png",
        "client_uri": "https://photos.example/",
        "policy_uri": "https://photos.example/privacy",
        "tos_uri": "https://photos.example/terms",
    }
    assert {key: result.json().get(key) for key in PRESENTED} == expected
    assert presented(cli, photo_app["client_id"]) == expected
    # A logo from our own static files; the text output names the client.
    text = cli("client", "update", photo_app["client_id"], "--logo-uri", "/static/photos.png")
    assert text.code == 0 and text.out.strip() == f"updated client {photo_app['client_id']}"
    assert presented(cli, photo_app["client_id"])["logo_uri"] == "/static/photos.png"


def test_update_changes_only_what_it_is_given(cli, register):
    client = register(
        *SIGN_IN_GRANT, "--redirect-uri", "https://photos.example/cb", "--require-mfa",
        "--client-uri", "https://photos.example/", "--tos-uri", "https://photos.example/terms", name="Photos",
    )  # fmt: skip
    before = cli("client", "show", client["client_id"], "--json").json()
    assert cli("client", "update", client["client_id"], "--policy-uri", "https://photos.example/privacy").code == 0
    after = cli("client", "show", client["client_id"], "--json").json()
    changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    assert changed <= {"policy_uri", "version", "updated_at"}, changed
    assert after["policy_uri"] == "https://photos.example/privacy"
    assert after["require_mfa"] is True and after["tos_uri"] == "https://photos.example/terms"


def test_an_empty_value_removes_a_link_or_the_logo(cli, register):
    client = register(
        *SIGN_IN_GRANT, "--redirect-uri", "https://photos.example/cb", "--logo-uri", "/static/photos.png",
        "--client-uri", "https://photos.example/", "--tos-uri", "https://photos.example/terms", name="Photos",
    )  # fmt: skip
    result = cli("client", "update", client["client_id"], "--logo-uri", "", "--tos-uri", "", "--json")
    assert result.code == 0, result.err
    assert presented(cli, client["client_id"]) == {
        "name": "Photos",
        "logo_uri": None,
        "client_uri": "https://photos.example/",
        "policy_uri": None,
        "tos_uri": None,
    }


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--logo-uri", "http://cdn.example/logo.png"),
        ("--logo-uri", "javascript:alert(1)"),
        ("--logo-uri", "data:image/png;base64,AAAA"),
        ("--logo-uri", "/static/../keys/secret"),
        ("--logo-uri", "/elsewhere/logo.png"),
        ("--client-uri", "javascript:alert(1)"),
        ("--client-uri", "http://photos.example/"),
        ("--policy-uri", "/privacy"),
        ("--tos-uri", "https://user:pw@photos.example/terms"),
        ("--client-name", ""),
        ("--client-name", "x" * 201),
    ],
)
def test_update_refuses_bad_values_and_changes_nothing(cli, register, flag, value):
    client = register(
        *SIGN_IN_GRANT, "--redirect-uri", "https://photos.example/cb", "--logo-uri", "/static/photos.png",
        "--client-uri", "https://photos.example/", name="Photos",
    )  # fmt: skip
    before = cli("client", "show", client["client_id"], "--json").json()
    # A good change in the same command is not applied either.
    result = cli("client", "update", client["client_id"], "--tos-uri", "https://photos.example/terms", flag, value)
    assert_error(result, contains=flag)
    assert cli("client", "show", client["client_id"], "--json").json() == before


def test_update_needs_something_to_change_and_an_existing_client(cli, photo_app):
    assert_error(cli("client", "update", photo_app["client_id"]), contains="nothing to change: give --client-name")
    assert_error(cli("client", "update", "NOPE", "--client-name", "x"), contains="no client 'NOPE'")


def test_the_consent_page_shows_the_updated_presentation(http, cli, photo_app, alice):
    from tests.helpers import PASSWORD, follow, submit
    from tests.pages import start

    changed = cli(
        "client", "update", photo_app["client_id"], "--client-name", "Photo App",
        "--logo-uri", "https://cdn.photos.example/logo.png", "--policy-uri", "https://photos.example/privacy",
    )  # fmt: skip
    assert changed.code == 0, changed.err
    response, _, _ = start(http, photo_app)
    page = follow(http, submit(http, follow(http, response), username="alice", password=PASSWORD))
    assert page.status_code == 200, page.text
    assert "<strong>Photo App</strong>" in page.text
    assert 'src="https://cdn.photos.example/logo.png"' in page.text
    assert "https://cdn.photos.example" in page.headers["content-security-policy"]
    assert 'href="https://photos.example/privacy"' in page.text
