"""Sign-in with user ID and password, under the lockout rule.

Every outcome a stranger can observe is the same for an unknown user ID and a
wrong password: the same reason code, and one argon2 verification of work
(security invariant 4). Counters are keyed by the normalised user ID, not the
account, so unknown IDs lock exactly as real ones do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.clock import Clock
from idp.policies.lockout import (
    LockoutRules,
    LockoutVerdict,
    decide_attempt,
    failure_starts_lock,
    reaches_hard_cap,
)
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.attempts import AttemptCounter
from idp.store.sql.database import Database
from idp.store.sql.repositories import username_key

from .methods.password import PasswordHashing

MAX_USERNAME = 64
MAX_PASSWORD = 1024


class LoginReason(StrEnum):
    SIGNED_IN = "signed_in"
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED = "account_locked"
    # Right password, email not verified yet (self sign-up): told only to the password holder.
    EMAIL_NOT_VERIFIED = "email_not_verified"


@dataclass(frozen=True, slots=True)
class LoginResult:
    reason: LoginReason
    account: AccountRecord | None = None

    @property
    def ok(self) -> bool:
        return self.reason is LoginReason.SIGNED_IN


class LoginFlow:
    def __init__(
        self,
        *,
        db: Database,
        hashing: PasswordHashing,
        counter: AttemptCounter,
        rules: LockoutRules,
        clock: Clock,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._counter = counter
        self._rules = rules
        self._clock = clock

    def submit(self, *, username: str, password: str, meta: RequestMeta) -> LoginResult:
        username = username.strip()
        malformed = any(ord(c) < 32 or ord(c) == 127 for c in username)
        if (
            malformed
            or not (0 < len(username) <= MAX_USERNAME)
            or not (0 < len(password) <= MAX_PASSWORD)
        ):
            # Malformed input (control characters, NUL, oversize): refused before any
            # lookup, since no account can match it and PostgreSQL rejects NUL in text.
            self._hashing.verify_decoy(password[:MAX_PASSWORD])
            return LoginResult(LoginReason.INVALID_CREDENTIALS)
        key = username_key(username)
        reservation = self._counter.reserve(key)
        if decide_attempt(reservation, self._rules).verdict is LockoutVerdict.LOCKED:
            self._hashing.verify_decoy(password)  # same work as a real check
            self._audit(None, "login_refused", "locked", meta, key=key)
            return LoginResult(LoginReason.LOCKED)

        with self._db.transaction() as uow:
            account = uow.accounts.by_username(username)
            if account is None:
                check = self._hashing.verify_decoy(password)
            else:
                check = self._hashing.verify(account.password_hash, password)
            now = self._clock()
            if check.ok and account is not None and account.status == "locked":
                uow.audit.record(
                    self._entry(account, "login_refused", "hard_locked", meta), now=now
                )
                return LoginResult(LoginReason.LOCKED)
            if check.ok and account is not None and account.status == "pending":
                self._counter.clear(key)
                uow.audit.record(
                    self._entry(account, "login_refused", "email_not_verified", meta), now=now
                )
                return LoginResult(LoginReason.EMAIL_NOT_VERIFIED)
            if check.ok and account is not None and account.is_active:
                self._counter.clear(key)
                if check.rehash:
                    uow.accounts.replace_password_hash(account.id, check.rehash, now=now)
                uow.audit.record(self._entry(account, "login", "signed_in", meta, ok=True), now=now)
                return LoginResult(LoginReason.SIGNED_IN, account)

            total = self._counter.record_failure(key)
            if account is not None and reaches_hard_cap(total, self._rules):
                uow.accounts.set_status(account.id, "locked", now=now)
                uow.audit.record(self._entry(account, "account_locked", "hard_cap", meta), now=now)
            if failure_starts_lock(reservation, self._rules):
                self._counter.start_lock(key)
                if account is not None:
                    uow.audit.record(
                        self._entry(account, "account_locked", "temporarily_locked", meta), now=now
                    )
                uow.audit.record(self._entry(account, "login", "locked", meta), now=now)
                return LoginResult(LoginReason.LOCKED)
            uow.audit.record(self._entry(account, "login", "invalid_credentials", meta), now=now)
            return LoginResult(LoginReason.INVALID_CREDENTIALS)

    def _entry(
        self,
        account: AccountRecord | None,
        event: str,
        reason: str,
        meta: RequestMeta,
        *,
        ok: bool = False,
    ) -> AuditEntry:
        subject = account.subject if account else None
        return AuditEntry(
            type=event,
            outcome="success" if ok else "failure",
            actor=subject or "anonymous",
            subject=subject,
            ip=meta.ip,
            user_agent=meta.user_agent,
            details={"reason": reason},
        )

    def _audit(
        self, account: AccountRecord | None, event: str, reason: str, meta: RequestMeta, *, key: str
    ) -> None:
        with self._db.transaction() as uow:
            found = uow.accounts.by_username(key)
            uow.audit.record(self._entry(found or account, event, reason, meta), now=self._clock())
