"""Counting failed credentials: the one place sign-in, the account page and recovery share.

Security invariant 6: every failed credential (password, security answer, birth
date, one-time code) counts toward the lockout, atomically, across processes.
Callers reserve an attempt *before* checking the credential
(:meth:`CredentialLockout.reserve`), then report the outcome; the rule itself is
the pure :mod:`idp.policies.lockout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from idp.notify import Notifier
from idp.policies.lockout import (
    LockoutRules,
    LockoutVerdict,
    decide_attempt,
    failure_starts_lock,
    reaches_hard_cap,
)
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.attempts import AttemptCounter
from idp.store.sql.repositories import UnitOfWork, username_key

from .methods.password import PasswordHashing


@dataclass(frozen=True, slots=True)
class Reservation:
    key: str
    number: int
    locked: bool


class CredentialLockout:
    def __init__(
        self, counter: AttemptCounter, rules: LockoutRules, notifier: Notifier | None = None
    ) -> None:
        self.counter = counter
        self.rules = rules
        self._notifier = notifier

    def reserve(self, key: str) -> Reservation:
        """Claim this attempt's number; past the limit it must be refused unchecked."""
        number = self.counter.reserve(key)
        locked = decide_attempt(number, self.rules).verdict is LockoutVerdict.LOCKED
        return Reservation(key=key, number=number, locked=locked)

    def succeeded(self, key: str) -> None:
        self.counter.clear(key)

    def failed(
        self,
        uow: UnitOfWork,
        reservation: Reservation,
        account: AccountRecord | None,
        *,
        meta: RequestMeta,
        now: datetime,
        source: str,
    ) -> bool:
        """Record a failure; True when it started the lock (the caller says so).

        The failure that reaches the limit starts the lock period; the hard cap
        turns an active account "locked" until recovery or staff unlock (NIST SP
        800-63B-4 §3.2.2). The owner is told when a lock starts.
        """
        total = self.counter.record_failure(reservation.key)
        if account is not None and account.is_active and reaches_hard_cap(total, self.rules):
            uow.accounts.set_status(account.id, "locked", now=now)
            uow.audit.record(_locked_entry(account, meta, "hard_cap", source), now=now)
        if not failure_starts_lock(reservation.number, self.rules):
            return False
        self.counter.start_lock(reservation.key)
        if account is not None:
            uow.audit.record(_locked_entry(account, meta, "temporarily_locked", source), now=now)
            self._notify(uow, account, now)
        return True

    def _notify(self, uow: UnitOfWork, account: AccountRecord, now: datetime) -> None:
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
    uow: UnitOfWork,
    account: AccountRecord,
    password: str,
    *,
    meta: RequestMeta,
    now: datetime,
    source: str,
) -> Reauthentication:
    """The current password, re-entered for a sensitive change (ASVS 7.5.1).

    Same counter key as sign-in (the normalised user ID) and the same
    reserve-then-check order, so guesses here and on the login page share one
    limit. A success re-hashes a password stored with weaker parameters.
    """
    reservation = lockout.reserve(username_key(account.username))
    if reservation.locked:
        return Reauthentication.LOCKED
    check = hashing.verify(account.password_hash, password)
    if check.ok:
        lockout.succeeded(reservation.key)
        if check.rehash:
            uow.accounts.replace_password_hash(account.id, check.rehash, now=now)
        return Reauthentication.OK
    if lockout.failed(uow, reservation, account, meta=meta, now=now, source=source):
        return Reauthentication.LOCKED
    return Reauthentication.WRONG_PASSWORD
