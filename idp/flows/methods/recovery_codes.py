"""Recovery codes as a credential method: ten single-use codes, shown once.

The format and hashing rules are in :mod:`idp.policies.recovery_codes`. Issuing a new
set replaces the whole old set, used or not, in the caller's transaction, so a
printout that may have been seen stops working the moment the patient asks for new
codes. A code is used by one conditional UPDATE (``used_at IS NULL``): two requests
racing with the same code get exactly one success, on SQLite and PostgreSQL alike.
Notifying the patient that a code was used is the sign-in flow's hook, not ours.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from idp.policies.recovery_codes import (
    ALPHABET,
    COUNT,
    LENGTH,
    format_recovery_code,
    normalise_recovery_code,
    recovery_code_hash,
)
from idp.store.credentials import CredentialKind

from .base import (
    NOT_MINE,
    AccountFacts,
    Failed,
    FailureReason,
    MethodTx,
    Verification,
    Verified,
    submitted_for,
)

CODE_FIELD = "code"


def new_recovery_code() -> str:
    """16 characters drawn uniformly from the 32-letter alphabet: 80 bits (``secrets``)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


class RecoveryCodeMethod:
    id = CredentialKind.RECOVERY_CODE.value
    # RFC 8176 has no value for look-up secrets; a recovery code is a one-time password.
    amr = ("otp",)

    def enrolled(self, account: AccountFacts) -> bool:
        return CredentialKind.RECOVERY_CODE in account.factors

    def issue(self, account_id: int, *, tx: MethodTx, now: datetime) -> tuple[str, ...]:
        """A new set of codes, formatted for display; the old set stops working.

        The plain codes exist only in the return value: show them once and drop them.
        """
        codes = {new_recovery_code() for _ in range(COUNT)}
        while len(codes) < COUNT:  # a repeat among 2^80 values: practically never
            codes.add(new_recovery_code())
        tx.credentials.replace_recovery_codes(
            account_id, [recovery_code_hash(code) for code in codes], now=now
        )
        return tuple(format_recovery_code(code) for code in sorted(codes))

    def verify(
        self,
        account: AccountFacts,
        form: Mapping[str, str],
        *,
        tx: MethodTx,
        flow_id: str,
        now: datetime,
    ) -> Verification:
        if not submitted_for(self.id, form):
            return NOT_MINE
        code = normalise_recovery_code(form.get(CODE_FIELD, ""))
        if code is None:
            return Failed(self.id, FailureReason.MALFORMED)
        if not tx.credentials.use_recovery_code(
            account.account_id, recovery_code_hash(code), now=now
        ):
            return Failed(self.id, FailureReason.WRONG_CODE)
        return Verified(self.id, account.account_id, self.amr)
