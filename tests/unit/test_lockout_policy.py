"""The lockout rule as a table."""

from __future__ import annotations

import pytest

from idp.policies.lockout import (
    HardCap,
    LockoutRules,
    LockoutVerdict,
    address_failure_budget,
    decide_attempt,
    decide_hard_cap,
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


@pytest.mark.parametrize(
    ("total", "trusted", "outcome"),
    [
        (99, True, HardCap.NOT_REACHED),
        (99, False, HardCap.NOT_REACHED),
        (100, True, HardCap.LOCK_ACCOUNT),
        # Strangers alone never lock the account for good (invariant 12).
        (100, False, HardCap.CLOSE_TO_UNKNOWN_BROWSERS),
        (5000, False, HardCap.CLOSE_TO_UNKNOWN_BROWSERS),
    ],
)
def test_only_the_owners_devices_reach_the_permanent_lock(
    total: int, trusted: bool, outcome: HardCap
) -> None:
    assert decide_hard_cap(total, RULES, trusted=trusted) is outcome


@pytest.mark.parametrize(
    ("accounts", "ceiling", "budget"),
    [
        (1, 30, 9),  # 5 failures lock one account; 4 more never lock a second
        (2, 30, 14),
        (10, 30, 30),  # the general per-address limit is the ceiling
        (1, 3, 3),
    ],
)
def test_address_budget_allows_at_most_the_set_number_of_locks(
    accounts: int, ceiling: int, budget: int
) -> None:
    got = address_failure_budget(RULES, accounts=accounts, ceiling=ceiling)
    assert got == budget
    assert got // RULES.max_failures <= accounts
