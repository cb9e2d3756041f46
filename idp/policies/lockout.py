"""The lockout rule: how many failures lock an account, for how long, and when for good.

Pure: the caller counts (atomically, in the ephemeral store) and passes the
numbers in. Defaults follow the portal FAQ ("wait 15 minutes") inside NIST SP
800-63B-4 §3.2.2 (at most 100 consecutive failures before the account needs
recovery).

How counting works (see :class:`idp.flows.login.AttemptCounter`): before a
credential is checked, the attempt is *reserved* with one atomic increment. An
attempt whose reservation number is above the limit is refused without checking
the credential, so N concurrent guesses can never count more than the limit
(the race that let parallel password checks bypass Zitadel's lockout).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LockoutVerdict(StrEnum):
    CHECK = "check"  # go ahead and verify the credential
    LOCKED = "locked"  # refuse without verifying


@dataclass(frozen=True, slots=True)
class LockoutRules:
    max_failures: int = 5
    lock_seconds: int = 15 * 60
    # Failures are "consecutive" within this window; a quiet day starts afresh.
    window_seconds: int = 12 * 3600
    hard_cap: int = 100


@dataclass(frozen=True, slots=True)
class LockoutDecision:
    verdict: LockoutVerdict
    reason: str  # stable code for audit: within_limit | temporarily_locked


def decide_attempt(reservation: int, rules: LockoutRules) -> LockoutDecision:
    """``reservation`` is this attempt's number in the current window (1-based)."""
    if reservation > rules.max_failures:
        return LockoutDecision(LockoutVerdict.LOCKED, "temporarily_locked")
    return LockoutDecision(LockoutVerdict.CHECK, "within_limit")


def failure_starts_lock(reservation: int, rules: LockoutRules) -> bool:
    """The failure that reaches the limit starts the lock period."""
    return reservation == rules.max_failures


def reaches_hard_cap(total_failures: int, rules: LockoutRules) -> bool:
    """Past the cap only recovery or staff unlock it (NIST SP 800-63B-4 §3.2.2)."""
    return total_failures >= rules.hard_cap
