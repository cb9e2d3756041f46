"""Sign-in with user ID and password, under the lockout rule.

Every outcome a stranger can observe is the same for an unknown user ID and a
wrong password: the same reason code, and one argon2 verification of work
(security invariant 4). Counters are keyed by the normalised user ID, not the
account, so unknown IDs lock exactly as real ones do.

Who is counted where (docs/lockout.md): a browser with a valid device cookie for
the user ID typed uses its device's own counter and is exempt from the address
budget; every other attempt uses the user ID's counter and its address's budget,
reserved before the check so that concurrent guesses cannot exceed either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from idp.clock import Clock
from idp.policies.lockout import LockoutRules
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.attempts import AttemptCounter, Slot
from idp.store.interfaces import AuthnTx, Transactions
from idp.store.throttle import Throttle
from idp.store.usernames import username_key

from .lockout import CredentialLockout, Reservation
from .methods.password import PasswordHashing

MAX_USERNAME = 64
MAX_PASSWORD = 1024


class LoginReason(StrEnum):
    SIGNED_IN = "signed_in"
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED = "account_locked"
    # Right password, email not verified yet: told only to the password holder. Only accounts
    # made pending by staff approving an enrollment (or by sign-ups before self sign-up
    # deferred account creation to the link) are in that state.
    EMAIL_NOT_VERIFIED = "email_not_verified"
    # Right temporary password of an office-made account: choose your own credentials first.
    SETUP_REQUIRED = "setup_required"
    # Right temporary password, but it is older than its lifetime: told only to its holder.
    TEMPORARY_PASSWORD_EXPIRED = "temporary_password_expired"
    # Too many failures from this network address, whatever the accounts tried.
    THROTTLED = "too_many_attempts"
    # Right password of an account with a second factor: the sign-in is not done yet.
    SECOND_FACTOR_REQUIRED = "second_factor_required"


@dataclass(frozen=True, slots=True)
class LoginResult:
    reason: LoginReason
    account: AccountRecord | None = None
    # A fresh device cookie for the browser, after a right password only.
    device_cookie: str | None = None
    # The account's second factors (TOTP, passkeys, recovery codes) after a right password.
    factors: frozenset[str] = frozenset()
    # Whether the signed-in account is staff, when the caller asked (``check_staff``):
    # read in the sign-in's own transaction rather than a second one (issue 12 item 3).
    staff: bool | None = None

    @property
    def ok(self) -> bool:
        return self.reason is LoginReason.SIGNED_IN


@dataclass(frozen=True, slots=True)
class AddressLimit:
    """Per-address budget: slows guessing across many accounts without locking the owner.

    Only failures from unknown browsers count; when an address used up its budget,
    every sign-in from it without a device cookie for the user ID gets one reply for
    the rest of the window, whatever the account (OWASP Authentication Cheat Sheet;
    ASVS 6.1.1, 6.3.1). The budget is chosen so that one address can start at most a
    few locks (:func:`idp.policies.lockout.address_failure_budget`).
    """

    failures: int = 9
    window: int = 15 * 60


def address_key(ip: str) -> str:
    # Hashed: counter keys must not put client addresses in Redis.
    return hashlib.sha256(ip.encode("utf-8", "replace")).hexdigest()[:32]


class LoginFlow:
    def __init__(
        self,
        *,
        db: Transactions,
        hashing: PasswordHashing,
        lockout: CredentialLockout,
        clock: Clock,
        throttle: Throttle | None = None,
        address_limit: AddressLimit = AddressLimit(),
        temporary_password_ttl: int = 7 * 24 * 3600,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._lockout = lockout
        self._clock = clock
        self._address_limit = address_limit
        self._devices = lockout.devices
        self._temporary_password_ttl = temporary_password_ttl
        # The per-address budget: slots like the lockout's, reserved before the check.
        self.addresses: AttemptCounter | None = (
            AttemptCounter(
                lockout.counter.store,
                LockoutRules(
                    max_failures=address_limit.failures,
                    lock_seconds=address_limit.window,
                    window_seconds=address_limit.window,
                ),
                scope="address:",
            )
            if throttle is not None
            else None
        )

    def submit(
        self,
        *,
        username: str,
        password: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
        check_staff: bool = False,
    ) -> LoginResult:
        """Check the password under the lockout rule.

        ``check_staff``: also say (``LoginResult.staff``) whether a signed-in account
        is staff, read in the same transaction.
        """
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
        device = self._devices.device_for(device_cookie, username) if self._devices else None
        # The user ID's (or device's) slot first: concurrent guesses beyond its limit meet
        # the lock without using up their address's budget.
        reservation = self._lockout.reserve(key, device=device)
        address: Slot | None = None
        try:
            if reservation.locked:
                self._hashing.verify_decoy(password)  # same work as a real check
                self._audit(None, "login_refused", "locked", meta, key=key)
                return LoginResult(LoginReason.LOCKED)
            if device is None and meta.ip and self.addresses is not None:
                address = self.addresses.reserve(address_key(meta.ip))
                if address is None:
                    self._hashing.verify_decoy(password)
                    self._audit(None, "login_refused", "address_throttled", meta, key=key)
                    return LoginResult(LoginReason.THROTTLED)
            return self._check(username, password, meta, reservation, address, check_staff)
        finally:
            # An attempt that ended in an exception (a database or store that is down)
            # is no failure: its reservations go back (invariant 10; issue 8, item 3).
            self._lockout.release(reservation)
            if address is not None and self.addresses is not None:
                self.addresses.release(address)

    def _check(
        self,
        username: str,
        password: str,
        meta: RequestMeta,
        reservation: Reservation,
        address: Slot | None,
        check_staff: bool = False,
    ) -> LoginResult:
        with self._db.transaction() as uow:
            # The account with its factors and staff flag: one statement for any user ID.
            # Read in the transaction the sign-in writes its audit event in, so that
            # event is chained there, on the connection this request checked out (and
            # pinged when it had sat idle), not handed to the group committer: after a
            # PostgreSQL restart the committer's kept connection fails its first write
            # (tests/integration/test_lockout_postgres_restart.py).
            found = uow.accounts.for_sign_in(username)
            account = found.account if found is not None else None
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
                self._lockout.succeeded(reservation)
                uow.audit.record(
                    self._entry(account, "login_refused", "email_not_verified", meta), now=now
                )
                return LoginResult(LoginReason.EMAIL_NOT_VERIFIED)
            if check.ok and account is not None and account.is_active:
                self._lockout.succeeded(reservation)
                if account.must_change_password:
                    return self._temporary(uow, account, meta, now)
                if check.rehash:
                    uow.accounts.replace_password_hash(account.id, check.rehash, now=now)
                cookie = self._devices.issue(account.username) if self._devices else None
                assert found is not None
                factors = frozenset(str(kind) for kind in found.factors)
                if factors:
                    # Half-way: the authentication flow parks and asks for the second factor.
                    uow.audit.record(
                        self._entry(account, "login", "second_factor_required", meta, ok=True),
                        now=now,
                    )
                    return LoginResult(
                        LoginReason.SECOND_FACTOR_REQUIRED,
                        account,
                        device_cookie=cookie,
                        factors=factors,
                    )
                staff = found.staff if check_staff else None
                uow.audit.record(self._entry(account, "login", "signed_in", meta, ok=True), now=now)
                return LoginResult(
                    LoginReason.SIGNED_IN, account, device_cookie=cookie, staff=staff
                )

            if address is not None and self.addresses is not None:
                if self.addresses.keep(address) >= self._address_limit.failures:
                    self.addresses.start_lock(address.key)
            if self._lockout.failed(
                uow, reservation, account, meta=meta, now=now, source="sign_in"
            ):
                uow.audit.record(self._entry(account, "login", "locked", meta), now=now)
                return LoginResult(LoginReason.LOCKED)
            uow.audit.record(self._entry(account, "login", "invalid_credentials", meta), now=now)
            return LoginResult(LoginReason.INVALID_CREDENTIALS)

    def _temporary(
        self, uow: AuthnTx, account: AccountRecord, meta: RequestMeta, now: datetime
    ) -> LoginResult:
        """An office-made account's temporary password: valid for a while, then expired."""
        age = (now - account.password_changed_at).total_seconds()
        if age > self._temporary_password_ttl:
            uow.audit.record(
                self._entry(account, "login_refused", "temporary_password_expired", meta), now=now
            )
            return LoginResult(LoginReason.TEMPORARY_PASSWORD_EXPIRED, account)
        uow.audit.record(self._entry(account, "login", "setup_required", meta, ok=True), now=now)
        return LoginResult(LoginReason.SETUP_REQUIRED, account)

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
