"""Authorization request: login, consent, issue or error, as a table (OIDC Core §3.1.2.1)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.oidc.interaction import InteractionFacts, Step, decide_interaction

NOW = 10_000
BASE = InteractionFacts(
    prompt=frozenset(),
    max_age=None,
    signed_in=True,
    auth_time=NOW - 60,
    login_done=False,
    hint_matches=None,
    first_party=False,
    requested_scopes=frozenset({"openid", "email"}),
    granted_scopes=frozenset({"openid", "email"}),
    consent_done=False,
)


@pytest.mark.parametrize(
    ("changes", "step", "error"),
    [
        ({}, Step.ISSUE, None),
        ({"signed_in": False, "auth_time": None}, Step.LOGIN, None),
        (
            {"signed_in": False, "auth_time": None, "prompt": frozenset({"none"})},
            Step.ERROR,
            "login_required",
        ),
        ({"prompt": frozenset({"none", "login"})}, Step.ERROR, "invalid_request"),
        ({"prompt": frozenset({"login"})}, Step.LOGIN, None),
        ({"prompt": frozenset({"login"}), "login_done": True}, Step.ISSUE, None),
        ({"max_age": 30}, Step.LOGIN, None),
        ({"max_age": 30, "prompt": frozenset({"none"})}, Step.ERROR, "login_required"),
        ({"max_age": 30, "login_done": True}, Step.ISSUE, None),
        ({"max_age": 10_000}, Step.ISSUE, None),
        ({"hint_matches": False}, Step.LOGIN, None),
        ({"hint_matches": False, "prompt": frozenset({"none"})}, Step.ERROR, "login_required"),
        ({"hint_matches": True, "prompt": frozenset({"none"})}, Step.ISSUE, None),
        ({"granted_scopes": frozenset({"openid"})}, Step.CONSENT, None),
        (
            {"granted_scopes": frozenset({"openid"}), "prompt": frozenset({"none"})},
            Step.ERROR,
            "consent_required",
        ),
        ({"granted_scopes": frozenset({"openid"}), "consent_done": True}, Step.ISSUE, None),
        ({"granted_scopes": frozenset(), "first_party": True}, Step.ISSUE, None),
        ({"prompt": frozenset({"consent"})}, Step.CONSENT, None),
        ({"prompt": frozenset({"consent"}), "first_party": True}, Step.ISSUE, None),
    ],
)
def test_decision(changes: dict[str, object], step: Step, error: str | None) -> None:
    decision = decide_interaction(replace(BASE, **changes), NOW)  # type: ignore[arg-type]
    assert decision.step is step
    assert decision.error == error
