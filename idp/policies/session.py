"""When an SSO session is still good, and when a request needs a fresh sign-in.

Pure rules over numbers (unix seconds); the session store supplies the facts.
Timeouts follow NIST SP 800-63B-4 AAL2 shapes (standards.md row 14).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SessionState(StrEnum):
    VALID = "valid"
    IDLE_EXPIRED = "idle_expired"
    ABSOLUTE_EXPIRED = "absolute_expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class SessionRules:
    idle_timeout: int
    absolute_timeout: int


@dataclass(frozen=True, slots=True)
class SessionFacts:
    created_at: float
    last_seen_at: float
    # Sessions created at or before this instant were ended by "sign out everywhere",
    # a password change or a staff action.
    revoked_before: float | None = None


def decide_session(facts: SessionFacts, rules: SessionRules, now: float) -> SessionState:
    if facts.revoked_before is not None and facts.created_at <= facts.revoked_before:
        return SessionState.REVOKED
    if now - facts.created_at >= rules.absolute_timeout:
        return SessionState.ABSOLUTE_EXPIRED
    if now - facts.last_seen_at >= rules.idle_timeout:
        return SessionState.IDLE_EXPIRED
    return SessionState.VALID


def needs_fresh_login(*, auth_time: float, max_age: int | None, now: float) -> bool:
    """OIDC Core §3.1.2.1 ``max_age``: re-authenticate if the sign-in is older.

    ``max_age=0`` means always (equivalent to ``prompt=login``).
    """
    if max_age is None:
        return False
    return now - auth_time > max_age or max_age == 0
