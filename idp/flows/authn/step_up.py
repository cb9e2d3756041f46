"""Step-up: re-authentication for sensitive changes, through the sign-in methods.

The account page and "unlink a practice" ask for the password again (ASVS 7.5.1)
through :func:`idp.flows.lockout.reauthenticate`, the same reserve -> verify ->
rehash -> count path as sign-in. Changes that touch the second factors themselves
(removing an authenticator app or a passkey, new recovery codes) also ask for a
second factor, through :meth:`AuthnFlow.check_second_factor`, so guesses made here
count toward the same lockout as the sign-in page's. Nothing here starts a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp.records import AccountRecord, RequestMeta

from ..lockout import CredentialLockout, Reauthentication, reauthenticate
from ..methods.base import Verified
from ..methods.password import PasswordHashing
from .flow import AuthnFlow


@dataclass(frozen=True, slots=True)
class StepUpResult:
    ok: bool
    locked: bool = False
    method: str | None = None


class StepUp:
    def __init__(
        self, *, authn: AuthnFlow, lockout: CredentialLockout, hashing: PasswordHashing
    ) -> None:
        self._authn = authn
        self._lockout = lockout
        self._hashing = hashing

    def password(
        self,
        uow: Any,
        account: AccountRecord,
        password: str,
        *,
        meta: RequestMeta,
        now: datetime,
        source: str,
        device_cookie: str | None = None,
    ) -> StepUpResult:
        outcome = reauthenticate(
            self._lockout,
            self._hashing,
            uow,
            account,
            password,
            meta=meta,
            now=now,
            source=source,
            device_cookie=device_cookie,
        )
        return StepUpResult(
            ok=outcome is Reauthentication.OK,
            locked=outcome is Reauthentication.LOCKED,
            method="password" if outcome is Reauthentication.OK else None,
        )

    def second_factor(
        self,
        account_id: int,
        form: Mapping[str, str],
        *,
        flow_id: str,
        meta: RequestMeta,
        source: str,
        device_cookie: str | None = None,
    ) -> StepUpResult:
        """One code from any enrolled factor; its own transaction, audited as ``source``."""

        def accept(uow: Any, account: AccountRecord, verified: Verified, now: datetime) -> bool:
            return True

        check = self._authn.check_second_factor(
            account_id,
            form,
            flow_id=flow_id,
            meta=meta,
            source=source,
            then=accept,
            device_cookie=device_cookie,
        )
        if check.verified is None:
            return StepUpResult(ok=False, locked=check.locked)
        return StepUpResult(ok=True, method=check.verified.method)
