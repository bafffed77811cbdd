"""The stored form of a pending interaction (interaction/state.py): every kind of flow and every step
comes back as it went in, and a record this code did not write is "not found" (the expired page)."""

from __future__ import annotations

import json

import pytest

from authserver.interaction import state


def authorize_flow(**changes: object) -> state.AuthorizeFlow:
    values: dict[str, object] = {
        "client_id": "app",
        "redirect_uri": "https://app.example/cb",
        "response_mode": "form_post",
        "scopes": ("openid", "email"),
        "state": "s",
        "nonce": "n",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "prompt": frozenset({"login", "consent"}),
        "max_age": 0,
        "login_hint": "alice@example.com",
        "hint_subject": "sub-1",
        "acr_values": ("urn:authserver:loa:2",),
        "claims": {"userinfo": {"email": {"essential": True}}},
        "resources": ("https://api.example",),
        "dpop_jkt": "j" * 43,
    }
    values.update(changes)
    return state.AuthorizeFlow(**values)  # type: ignore[arg-type]  # the test's own keyword bag


FLOWS = [
    authorize_flow(),
    authorize_flow(prompt=frozenset(), max_age=None, claims=None, state=None, code_challenge=None),
    state.DeviceFlow(client_id="tv", device_code_hash="h", user_code="BCDFGHJK", scopes=("openid",)),
    state.AccountFlow(next="/account/security"),
]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.kind)
@pytest.mark.parametrize("step", list(state.Step))
def test_every_flow_and_step_round_trips(flow: state.Flow, step: state.Step) -> None:
    it = state.new_interaction(flow, "browser", 1_700_000_000)
    it.step = step
    it.login_failures = 2
    it.consented = True
    it.await_second_factor("user-1", 1_700_000_010)
    it.await_verified_email("user-2")
    it.step = step
    back = state.decode(state.encode(it))
    assert back == it
    assert back is not None and type(back.flow) is type(flow) and isinstance(back.step, state.Step)


def test_signing_in_drops_the_half_signed_in_state() -> None:
    it = state.new_interaction(authorize_flow(), "browser", 0)
    it.await_second_factor("user-1", 5)
    assert it.step is state.Step.SECOND_FACTOR and it.second_factor == state.SecondFactorPending("user-1", 5)
    it.signed_in("user-1")
    assert it.second_factor is None and it.authenticated_user == "user-1"
    assert state.decode(state.encode(it)) == it


def test_the_views_every_page_reads() -> None:
    authz = state.new_interaction(authorize_flow(), "b", 0)
    device = state.new_interaction(FLOWS[2], "b", 0)
    account = state.new_interaction(FLOWS[3], "b", 0)
    assert (authz.client_id, device.client_id, account.client_id) == ("app", "tv", None)
    assert authz.prompt == {"login", "consent"} and device.prompt == account.prompt == frozenset()
    assert authz.login_hint == "alice@example.com" and device.login_hint is None
    assert authz.form_targets == ("https://app.example/cb",) and device.form_targets == account.form_targets == ()
    assert authz.acr_values == ("urn:authserver:loa:2",) and account.acr_values == ()


def valid() -> dict:  # type: ignore[type-arg]
    return json.loads(state.encode(state.new_interaction(authorize_flow(), "b", 0)))


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        "null",
        # The previous format (no version): never read, the browser starts again.
        json.dumps({"id": "x", "request": {"client_id": "app"}, "browser": "b", "created_at": 0}),
        json.dumps({**valid(), "v": 1}),
        json.dumps({**valid(), "v": 3}),
        json.dumps({k: v for k, v in valid().items() if k != "flow"}),
        json.dumps({**valid(), "step": "no-such-step"}),
        json.dumps({**valid(), "flow": {**valid()["flow"], "kind": "no-such-flow"}}),
        json.dumps({**valid(), "flow": {**valid()["flow"], "response_mode": "fragment"}}),
        json.dumps({**valid(), "flow": {**valid()["flow"], "unknown_field": 1}}),
        json.dumps({**valid(), "second_factor": {"user_id": "u"}}),
        json.dumps({**valid(), "unknown_field": 1}),
    ],
)
def test_a_record_this_code_did_not_write_is_not_found(raw: str) -> None:
    assert state.decode(raw) is None


def test_the_format_is_in_the_key() -> None:
    # Old nodes look under "interaction:<id>" and never meet this format (and the reverse).
    assert state.PREFIX != "interaction:" and state.PREFIX.startswith("interaction:")
