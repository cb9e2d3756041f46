"""SSO session validity and max_age."""

from __future__ import annotations

import pytest

from idp.policies.session import (
    SessionFacts,
    SessionRules,
    SessionState,
    decide_session,
    needs_fresh_login,
)

RULES = SessionRules(idle_timeout=1800, absolute_timeout=43200)


@pytest.mark.parametrize(
    ("facts", "now", "state"),
    [
        (SessionFacts(created_at=0, last_seen_at=0), 1799, SessionState.VALID),
        (SessionFacts(created_at=0, last_seen_at=0), 1800, SessionState.IDLE_EXPIRED),
        (SessionFacts(created_at=0, last_seen_at=43000), 43200, SessionState.ABSOLUTE_EXPIRED),
        (SessionFacts(created_at=10, last_seen_at=10, revoked_before=10), 11, SessionState.REVOKED),
        (SessionFacts(created_at=10, last_seen_at=10, revoked_before=9), 11, SessionState.VALID),
    ],
)
def test_session_state(facts: SessionFacts, now: float, state: SessionState) -> None:
    assert decide_session(facts, RULES, now) is state


@pytest.mark.parametrize(
    ("auth_time", "max_age", "now", "fresh"),
    [(0, None, 10**6, False), (0, 10, 10, False), (0, 10, 11, True), (100, 0, 100, True)],
)
def test_max_age(auth_time: int, max_age: int | None, now: int, fresh: bool) -> None:
    assert needs_fresh_login(auth_time=auth_time, max_age=max_age, now=now) is fresh
