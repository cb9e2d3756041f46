"""Counting failed credentials: the one place sign-in, the account page and recovery share.

Security invariant 6: every failed credential (password, security answer, birth
date, one-time code) counts toward the lockout, atomically, across processes.
Callers reserve an attempt *before* checking the credential
(:meth:`CredentialLockout.reserve`), then report the outcome; the rule itself is
the pure :mod:`idp.policies.lockout`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from idp.notify import Notifier
from idp.policies.lockout import (
    HardCap,
    LockoutRules,
    LockoutVerdict,
    decide_attempt,
    decide_hard_cap,
    failure_starts_lock,
)
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.attempts import AttemptCounter, Slot, device_key, trusted_key
from idp.store.interfaces import AuthnTx
from idp.store.usernames import username_key

from .devices import DeviceCookies
from .methods.password import PasswordHashing


@dataclass(slots=True)
class Reservation:
    """One attempt's claim on a counter, taken before the credential is checked.

    Mutable only to remember that it was settled (kept as a failure, cleared by a
    success, or released), so that :meth:`CredentialLockout.release` in a ``finally``
    frees exactly the reservations that ended some other way (issue 8, item 3).
    """

    key: str  # the user ID's key (or an invitation's, a phone number's)
    number: int  # the slot taken, 1..max_failures; max_failures + 1 when refused
    locked: bool
    device: str | None = None  # the browser's device id when it holds a valid cookie
    slot: Slot | None = None
    settled: bool = False

    @property
    def counter_key(self) -> str:
        return device_key(self.device) if self.device else self.key


class CredentialLockout:
    def __init__(
        self,
        counter: AttemptCounter,
        rules: LockoutRules,
        notifier: Notifier | None = None,
        devices: DeviceCookies | None = None,
        on_account_locked: Callable[..., None] | None = None,
    ) -> None:
        self.counter = counter
        # Voids the account's access tokens (introspection reads Redis alone, so the
        # account's new status must reach it there).
        self._on_account_locked = on_account_locked
        self.rules = rules
        self._notifier = notifier
        # Reads device cookies for the flows that check a password (sign-in, re-entry).
        self.devices = devices

    def reserve(self, key: str, *, device: str | None = None) -> Reservation:
        """Claim a slot for this attempt; without one it must be refused unchecked.

        ``device``: the id from a valid device cookie for this user ID. Its attempts use
        the device's own slots and lock and ignore the user ID's, so failures from
        other browsers never block it (invariant 12).
        """
        refused = Reservation(key=key, number=self.rules.max_failures + 1, locked=True)
        # Unknown browsers are also refused past the hard cap (see decide_hard_cap),
        # checked in the same round trip as the lock marker.
        slot = (
            self.counter.reserve(device_key(device))
            if device
            else self.counter.reserve(key, hard_cap=self.rules.hard_cap)
        )
        if slot is None:
            refused.device = device
            return refused
        number = slot.number
        locked = decide_attempt(number, self.rules).verdict is LockoutVerdict.LOCKED
        return Reservation(key=key, number=number, locked=locked, device=device, slot=slot)

    @contextmanager
    def releasing(self, reservation: Reservation) -> Iterator[Reservation]:
        """Release the reservation when the block ends without settling it (an exception)."""
        try:
            yield reservation
        finally:
            self.release(reservation)

    def release(self, reservation: Reservation) -> None:
        """Free an attempt that ended neither in a failure nor a success (an exception)."""
        if reservation.slot is not None and not reservation.settled:
            self.counter.release(reservation.slot)
        reservation.settled = True

    def succeeded(self, reservation: Reservation | str) -> None:
        """A right credential: the counter it was charged to starts afresh.

        From a device, the device's counter and the owner's hard-cap count clear, not
        the unknown browsers' lock (a stranger keeps waiting). From elsewhere,
        everything about the key clears, as before device cookies.
        """
        if isinstance(reservation, str):
            self.counter.unlock(reservation)
            return
        reservation.settled = True
        if reservation.device is None:
            self.counter.unlock(reservation.key)
            return
        self.counter.clear(reservation.counter_key)
        self.counter.clear(trusted_key(reservation.key))

    def failed(
        self,
        uow: AuthnTx,
        reservation: Reservation,
        account: AccountRecord | None,
        *,
        meta: RequestMeta,
        now: datetime,
        source: str,
    ) -> bool:
        """Record a failure; True when it started the lock (the caller says so).

        The failure that fills the last slot starts the lock period (of two that see
        the slots full at once, one starts it); the hard cap turns
        an active account "locked" until recovery or staff unlock (NIST SP 800-63B-4
        §3.2.2) only when the owner's devices made the failures. The owner is told
        when a lock starts (of unknown browsers or of one of their devices).
        """
        if reservation.slot is None or reservation.settled:
            return reservation.locked
        reservation.settled = True
        held = self.counter.keep(reservation.slot)
        trusted = reservation.device is not None
        total = self.counter.record_failure(
            trusted_key(reservation.key) if trusted else reservation.key
        )
        cap = decide_hard_cap(total, self.rules, trusted=trusted)
        if account is not None and account.is_active and cap is HardCap.LOCK_ACCOUNT:
            uow.accounts.set_status(account.id, "locked", now=now)
            if self._on_account_locked is not None:
                self._on_account_locked(account.id, now=now.timestamp())
            uow.audit.record(_locked_entry(account, meta, "hard_cap", source), now=now)
        elif account is not None and cap is HardCap.CLOSE_TO_UNKNOWN_BROWSERS:
            if total == self.rules.hard_cap:
                uow.audit.record(
                    _locked_entry(account, meta, "hard_cap_unknown_browsers", source), now=now
                )
        if not failure_starts_lock(held, self.rules):
            return False
        if not self.counter.start_lock(reservation.counter_key):
            return False
        if reservation.device is not None:
            self.counter.note_device_lock(reservation.key, reservation.device)
        if account is not None:
            reason = "device_locked" if trusted else "temporarily_locked"
            uow.audit.record(_locked_entry(account, meta, reason, source), now=now)
            self._notify(uow, account, now)
        return True

    def _notify(self, uow: AuthnTx, account: AccountRecord, now: datetime) -> None:
        """The FAQ's "wait 15 minutes", by email (ASVS 6.3.7: notify on security events)."""
        if self._notifier is None or not account.email or not account.email_verified:
            return
        self._notifier.email(
            uow,
            to=account.email,
            template="account_locked",
            context={"minutes": max(1, self.rules.lock_seconds // 60)},
            now=now,
        )


def _locked_entry(
    account: AccountRecord, meta: RequestMeta, reason: str, source: str
) -> AuditEntry:
    return AuditEntry(
        type="account_locked",
        outcome="failure",
        actor=account.subject,
        subject=account.subject,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={"reason": reason, "via": source},
    )


class Reauthentication(StrEnum):
    OK = "ok"
    WRONG_PASSWORD = "wrong_password"
    LOCKED = "locked"


def reauthenticate(
    lockout: CredentialLockout,
    hashing: PasswordHashing,
    uow: AuthnTx,
    account: AccountRecord,
    password: str,
    *,
    meta: RequestMeta,
    now: datetime,
    source: str,
    device_cookie: str | None = None,
) -> Reauthentication:
    """The current password, re-entered for a sensitive change (ASVS 7.5.1).

    Same counter keys as sign-in (the normalised user ID, or this browser's device
    cookie for it) and the same reserve-then-check order, so guesses here and on the
    login page share one limit, and a stranger's failures elsewhere never refuse the
    owner's own browser. A success re-hashes a password stored with weaker parameters.
    """
    device = (
        lockout.devices.device_for(device_cookie, account.username) if lockout.devices else None
    )
    reservation = lockout.reserve(username_key(account.username), device=device)
    if reservation.locked:
        return Reauthentication.LOCKED
    try:
        check = hashing.verify(account.password_hash, password)
        if check.ok:
            lockout.succeeded(reservation)
            if check.rehash:
                uow.accounts.replace_password_hash(account.id, check.rehash, now=now)
            return Reauthentication.OK
        if lockout.failed(uow, reservation, account, meta=meta, now=now, source=source):
            return Reauthentication.LOCKED
        return Reauthentication.WRONG_PASSWORD
    finally:
        lockout.release(reservation)  # nothing to do unless an exception ended it
