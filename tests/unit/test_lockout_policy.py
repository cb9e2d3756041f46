"""The lockout rule as a table."""

from __future__ import annotations

import pytest

from idp.policies.lockout import (
    LockoutRules,
    LockoutVerdict,
    decide_attempt,
    failure_starts_lock,
    reaches_hard_cap,
)

RULES = LockoutRules(max_failures=5, lock_seconds=900, hard_cap=100)


@pytest.mark.parametrize(
    ("reservation", "verdict"),
    [
        (1, LockoutVerdict.CHECK),
        (5, LockoutVerdict.CHECK),
        (6, LockoutVerdict.LOCKED),
        (500, LockoutVerdict.LOCKED),
    ],
)
def test_attempts_beyond_the_limit_are_refused_unchecked(reservation: int, verdict: str) -> None:
    assert decide_attempt(reservation, RULES).verdict == verdict


def test_fifth_failure_starts_the_lock() -> None:
    assert [failure_starts_lock(n, RULES) for n in range(1, 7)] == [False] * 4 + [True, False]


def test_hard_cap_at_one_hundred() -> None:
    assert not reaches_hard_cap(99, RULES)
    assert reaches_hard_cap(100, RULES)
