"""Sign-in with a passkey alone: the checks the authentication flow runs for it.

A discoverable credential names its account (credential ID and user handle), so
the passkey is both IDENTIFY and FIRST_FACTOR. What that changes, and why:

- **Whose lockout.** Nothing is typed, so the counter is the one of the account
  the credential belongs to (its user ID's key, or this browser's device counter
  for it), reserved *before* the signature is checked, as a password is
  (invariant 6): a response that names a known credential but does not verify
  (wrong challenge, bad signature, counter gone backwards) counts there. A
  credential ID we do not hold names no account: nothing to count, and the same
  neutral refusal as every other failure, so a response tells nobody which
  credential IDs exist.
- **Which accounts.** Only active ones. A closed or unverified account gets the
  neutral refusal; a locked one (temporarily or by the hard cap) is told so, as
  the password page tells a locked user ID.
- **Single use.** The caller has already taken the flow (one submission per flow);
  the method takes the challenge (GETDEL), so a captured response never verifies
  twice.
- **Without user verification** the passkey is one factor; the flow then asks for
  the password, checked here through :func:`idp.flows.lockout.reauthenticate` (the
  sign-in's reserve -> verify -> rehash -> count path for a known account).

Every outcome is audited as a ``login`` event with ``method: passkey``, in the
transaction of the change it describes (the counter update, a clone flag).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webauthn.helpers import parse_authentication_credential_json

from idp.clock import Clock
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from ..hooks import AuditHook, Hook, ResetLockoutHook, SuccessContext, run_hooks
from ..lockout import CredentialLockout, Reauthentication, reauthenticate
from ..methods.base import Failed, Verified
from ..methods.password import PasswordHashing
from ..methods.webauthn import BAD_RESPONSE, MAX_RESPONSE_LENGTH, RESPONSE_FIELD, WebAuthnMethod

METHOD = "passkey"


@dataclass(frozen=True, slots=True)
class PasskeyCheck:
    """What one passkey (or passkey-then-password) submission came to."""

    verified: Verified | None = None
    account: AccountRecord | None = None
    auth_time: int = 0
    locked: bool = False
    # A fresh device cookie: this browser proved itself for the account (invariant 12).
    device_cookie: str | None = None


class PasskeySignIn:
    def __init__(
        self,
        *,
        db: Transactions,
        method: WebAuthnMethod,
        lockout: CredentialLockout,
        hashing: PasswordHashing,
        clock: Clock,
    ) -> None:
        self.method = method
        self._db = db
        self._lockout = lockout
        self._hashing = hashing
        self._clock = clock
        self._hooks: tuple[Hook, ...] = (AuditHook(), ResetLockoutHook())

    def options(self, *, flow_id: str) -> str:
        """Request options with an empty allow list: the browser offers any passkey it holds."""
        with self._db.transaction() as uow:
            return self.method.authentication_options(account_id=None, flow_id=flow_id, tx=uow)

    def verify(
        self,
        form: Mapping[str, str],
        *,
        flow_id: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
    ) -> PasskeyCheck:
        """Check a discoverable response under the lockout of the credential's account.

        A success with user verification is audited ``signed_in``; without, as
        ``password_required`` (the flow asks for the password next).
        """
        response = form.get(RESPONSE_FIELD, "")
        account = self._owner(response)
        if account is None or account.status not in ("active", "locked"):
            return self._unknown(flow_id, meta, response)
        devices = self._lockout.devices
        device = devices.device_for(device_cookie, account.username) if devices else None
        reservation = self._lockout.reserve(username_key(account.username), device=device)
        try:
            with self._db.transaction() as uow:
                now = self._clock()
                if reservation.locked or account.status == "locked":
                    self._spend_challenge(flow_id)
                    reason = "locked" if reservation.locked else "hard_locked"
                    uow.audit.record(_entry(account, meta, "login_refused", reason), now=now)
                    return PasskeyCheck(locked=True)
                verdict = self.method.verify_discoverable(form, tx=uow, flow_id=flow_id, now=now)
                if isinstance(verdict, Verified) and verdict.account_id == account.id:
                    self._succeeded(
                        uow,
                        account,
                        meta,
                        now,
                        reason="signed_in" if verdict.user_verified else "password_required",
                        details={"user_verified": verdict.user_verified},
                        settle=(lambda: self._lockout.succeeded(reservation)),
                    )
                    return PasskeyCheck(
                        verified=verdict,
                        account=account,
                        auth_time=int(now.timestamp()),
                        device_cookie=devices.issue(account.username) if devices else None,
                    )
                reason = (
                    verdict.reason.value if isinstance(verdict, Failed) else "unknown_credential"
                )
                locked = self._lockout.failed(
                    uow, reservation, account, meta=meta, now=now, source="sign_in"
                )
                uow.audit.record(_entry(account, meta, "login", f"passkey_{reason}"), now=now)
            return PasskeyCheck(locked=locked)
        finally:
            self._lockout.release(reservation)

    def password(
        self,
        account_id: int,
        password: str,
        *,
        meta: RequestMeta,
        then: Callable[[], bool],
        device_cookie: str | None = None,
    ) -> PasskeyCheck:
        """The password that completes a sign-in begun by a passkey without user verification.

        ``then()`` takes the parked flow (single use) once the password is right; False
        means it was used up meanwhile, and nothing is signed in or audited as success.
        """
        with self._db.transaction() as uow:
            account = uow.accounts.by_id(account_id)
            if account is None or not account.is_active:
                return PasskeyCheck()
            now = self._clock()
            outcome = reauthenticate(
                self._lockout,
                self._hashing,
                uow,
                account,
                password[:1024],
                meta=meta,
                now=now,
                source="sign_in",
                device_cookie=device_cookie,
            )
            if outcome is not Reauthentication.OK:
                reason = "locked" if outcome is Reauthentication.LOCKED else "invalid_credentials"
                uow.audit.record(_entry(account, meta, "login", reason), now=now)
                return PasskeyCheck(locked=outcome is Reauthentication.LOCKED)
            if not then():
                return PasskeyCheck()
            self._succeeded(
                uow, account, meta, now, reason="signed_in", details={"second": "password"}
            )
            return PasskeyCheck(account=account, auth_time=int(now.timestamp()))

    # --- internals ---------------------------------------------------------------------------

    def _owner(self, response: str) -> AccountRecord | None:
        """The account whose credential the response names, before anything is verified."""
        if not response or len(response) > MAX_RESPONSE_LENGTH:
            return None
        try:
            raw_id = parse_authentication_credential_json(response).raw_id
        except BAD_RESPONSE:
            return None
        with self._db.transaction() as uow:
            passkey = uow.credentials.passkey_by_credential_id(raw_id)
            found: AccountRecord | None = (
                uow.accounts.by_id(passkey.account_id) if passkey is not None else None
            )
            return found

    def _unknown(self, flow_id: str, meta: RequestMeta, response: str) -> PasskeyCheck:
        """No account to count against: spend the challenge, audit, refuse neutrally."""
        self._spend_challenge(flow_id)
        reason = "passkey_unknown_credential" if response else "passkey_malformed"
        with self._db.transaction() as uow:
            uow.audit.record(_entry(None, meta, "login", reason), now=self._clock())
        return PasskeyCheck()

    def _spend_challenge(self, flow_id: str) -> None:
        """One submission per challenge, whatever it was: a refused one spends it too."""
        self.method.forget_challenge(flow_id)

    def _succeeded(
        self,
        uow: Any,
        account: AccountRecord,
        meta: RequestMeta,
        now: datetime,
        *,
        reason: str,
        details: Mapping[str, Any],
        settle: Callable[[], None] | None = None,
    ) -> None:
        run_hooks(
            self._hooks,
            SuccessContext(
                tx=uow,
                account=account,
                meta=meta,
                now=now,
                event="login",
                details={"reason": reason, "method": METHOD, **details},
                settle=[settle] if settle is not None else [],
            ),
        )


def _entry(account: AccountRecord | None, meta: RequestMeta, event: str, reason: str) -> AuditEntry:
    subject = account.subject if account else None
    return AuditEntry(
        type=event,
        outcome="failure",
        actor=subject or "anonymous",
        subject=subject,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={"reason": reason, "method": METHOD},
    )
