"""The lockout rule: how many failures lock an account, for how long, and when for good.

Pure: the caller counts (atomically, in the ephemeral store) and passes the
numbers in. Defaults follow the portal FAQ ("wait 15 minutes") inside NIST SP
800-63B-4 §3.2.2 (at most 100 consecutive failures before the account needs
recovery).

How counting works (see :class:`idp.store.attempts.AttemptCounter`): before a
credential is checked, the attempt *reserves* one of ``max_failures`` slots with an
atomic set-if-absent. An attempt that finds no free slot is refused without
checking the credential, so N concurrent guesses can never count more than the
limit (the race that let parallel password checks bypass Zitadel's lockout). A
reservation that does not end in a failure is released, and the lock is its own
marker that expires after ``lock_seconds``: nothing else can keep a user ID locked
(issue 8, item 3).

Who is counted (OWASP "Slow Down Online Guessing Attacks with Device Cookies";
DESIGN invariant 12): a browser that signed in as a user ID before holds a signed
device cookie for it. Its attempts count on that device's own slots and lock; all
other attempts ("unknown browsers") share the user ID's slots and lock. So a
stranger can lock unknown browsers out of a user ID, never the owner's device.
See docs/lockout.md.
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


class HardCap(StrEnum):
    NOT_REACHED = "not_reached"
    # Failures from the owner's own devices: the account is "locked" until recovery or
    # staff unlock (NIST SP 800-63B-4 §3.2.2).
    LOCK_ACCOUNT = "lock_account"
    # Failures from unknown browsers: those stop being checked for this user ID until
    # recovery, staff unlock or a quiet month; the owner's devices and the emailed reset
    # link still work, so strangers alone can never lock the owner out (invariant 12).
    CLOSE_TO_UNKNOWN_BROWSERS = "close_to_unknown_browsers"


def decide_hard_cap(total_failures: int, rules: LockoutRules, *, trusted: bool) -> HardCap:
    """What reaching the hard cap does depends on who made the failures."""
    if not reaches_hard_cap(total_failures, rules):
        return HardCap.NOT_REACHED
    return HardCap.LOCK_ACCOUNT if trusted else HardCap.CLOSE_TO_UNKNOWN_BROWSERS


def address_failure_budget(rules: LockoutRules, *, accounts: int, ceiling: int) -> int:
    """Failures one network address may make (unknown browsers) per window.

    ``accounts * max_failures + max_failures - 1`` is the largest budget with which
    one address can start at most ``accounts`` locks, since each lock takes
    ``max_failures`` failures; ``ceiling`` (the general per-address limit) may lower it.
    """
    return max(1, min(ceiling, (accounts + 1) * rules.max_failures - 1))
