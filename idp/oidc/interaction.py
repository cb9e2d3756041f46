"""What an authorization request needs before a code can be issued.

Login sits outside the protocol (STYLE.md "OIDC"): the authorize endpoint saves
the request under an interaction id, sends the browser to the login or consent
page, and resumes from the saved parameters. This module holds the decision,
as a pure function of the facts (OIDC Core §3.1.2.1 prompt, max_age,
id_token_hint; §3.1.2.3–4 authentication and consent).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.policies.session import needs_fresh_login


class Step(StrEnum):
    LOGIN = "login"
    CONSENT = "consent"
    ISSUE = "issue"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class InteractionFacts:
    prompt: frozenset[str]
    max_age: int | None
    signed_in: bool
    auth_time: int | None
    # The sign-in happened for this very request (after it arrived).
    login_done: bool
    # None: no id_token_hint; True/False: does the hint name the signed-in user?
    hint_matches: bool | None
    first_party: bool
    requested_scopes: frozenset[str]
    granted_scopes: frozenset[str]
    consent_done: bool
    # The client requires MFA, or the request asks for it (acr_values), and the
    # session's sign-in did not use a second factor: a step-up is due.
    needs_second_factor: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    error: str | None = None  # OAuth/OIDC error code when step is ERROR


def decide_interaction(facts: InteractionFacts, now: int) -> Decision:
    silent = "none" in facts.prompt
    if silent and len(facts.prompt) > 1:
        return Decision(Step.ERROR, "invalid_request")

    stale = (
        facts.signed_in
        and facts.auth_time is not None
        and needs_fresh_login(auth_time=facts.auth_time, max_age=facts.max_age, now=now)
    )
    wants_login = (
        not facts.signed_in
        or (not facts.login_done and ("login" in facts.prompt or stale))
        or (not facts.login_done and facts.hint_matches is False)
        or (not facts.login_done and facts.needs_second_factor)
    )
    if wants_login:
        return Decision(Step.ERROR, "login_required") if silent else Decision(Step.LOGIN)
    if facts.needs_second_factor:
        # Signed in for this very request and still without a second factor: never a code.
        return Decision(Step.ERROR, "access_denied")

    # offline_access and openid are part of what the patient approves like any scope.
    missing = facts.requested_scopes - facts.granted_scopes
    wants_consent = (
        not facts.first_party
        and not facts.consent_done
        and (bool(missing) or "consent" in facts.prompt)
    )
    if wants_consent:
        return Decision(Step.ERROR, "consent_required") if silent else Decision(Step.CONSENT)
    return Decision(Step.ISSUE)
