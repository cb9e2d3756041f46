"""Authenticator apps (TOTP, RFC 6238) as a credential method, with enrolment helpers.

Verifying a code: normalise it (:mod:`idp.policies.totp`), open the account's sealed
secret, let pyotp find the step in the ±1 window, then refuse the step if it is not
later than the last one accepted. "Used" is recorded twice, on purpose:

1. ``EphemeralStore.put_new`` on ``totp-step:<account>:<step>``: one atomic SET NX
   that every process sees at once (Redis in production), so two requests carrying
   the same code at the same moment cannot both pass, even before either commits;
2. ``last_used_step`` in the credentials row, by a conditional UPDATE: the marker
   expires after a few steps and Redis may be flushed, but the durable step still
   refuses a replay for ever after.

Enrolment: :meth:`TotpMethod.start_enrolment` makes a secret, its ``otpauth://`` URI
and a QR code drawn here as inline SVG (segno; no third-party service ever sees the
secret). The caller keeps the secret sealed in its flow until the patient types a
code from the app; :meth:`TotpMethod.confirm_enrolment` checks it and stores the
credential with that code's step already used.

The URI's account name is the patient's user ID. It is shown only inside the
patient's own authenticator app, where it tells two accounts of the same service
apart; the subject identifier would mean nothing to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from pyotp.exceptions import OTPVerificationError

from idp.policies.totp import (
    DIGITS,
    STEP_SECONDS,
    USED_STEP_TTL,
    WINDOW,
    normalise_totp_code,
    step_is_fresh,
)
from idp.store.credentials import CredentialKind
from idp.store.interfaces import EphemeralStore
from idp.store.secret_box import SecretBox

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


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret as text, its URI and its QR code."""

    secret: str  # base32, for manual entry (the element carrying data-totp-secret)
    uri: str
    qr_svg: str  # an <svg> element, safe to embed as is


def _context(account_id: int) -> bytes:
    # Binds the sealed secret to its account: a row moved to another account won't open.
    return b"totp:%d" % account_id


class TotpMethod:
    id = CredentialKind.TOTP.value
    amr = ("otp",)

    def __init__(self, *, box: SecretBox, ephemeral: EphemeralStore, issuer_name: str) -> None:
        self._box = box
        self._ephemeral = ephemeral
        self._issuer_name = issuer_name

    def enrolled(self, account: AccountFacts) -> bool:
        return CredentialKind.TOTP in account.factors

    # --- enrolment ---------------------------------------------------------------------------

    def start_enrolment(self, *, account_name: str) -> TotpEnrolment:
        """A fresh 160-bit secret (RFC 4226 §4 asks for 128, recommends 160)."""
        return self._enrolment(pyotp.random_base32(), account_name)

    def _enrolment(self, secret: str, account_name: str) -> TotpEnrolment:
        uri = self._totp(secret).provisioning_uri(name=account_name, issuer_name=self._issuer_name)
        svg = segno.make(uri, error="m").svg_inline(scale=4, title="Authenticator app QR code")
        return TotpEnrolment(secret=secret, uri=uri, qr_svg=svg)

    def reopen_enrolment(
        self, account_id: int, sealed_secret: bytes, *, account_name: str
    ) -> TotpEnrolment:
        """The page of a pending enrolment again (after a wrong code), from its sealed secret."""
        secret = self._box.open(sealed_secret, context=_context(account_id)).decode("ascii")
        return self._enrolment(secret, account_name)

    def seal_pending(self, account_id: int, secret: str) -> bytes:
        """The secret sealed for keeping in a flow until the patient confirms it."""
        return self._box.seal(secret.encode("ascii"), context=_context(account_id))

    def confirm_enrolment(
        self,
        account: AccountFacts,
        *,
        sealed_secret: bytes,
        code: str,
        tx: MethodTx,
        now: datetime,
        label: str = "Authenticator app",
    ) -> Verified | Failed:
        """Keep the app's secret once a code from it verifies; replaces an earlier app."""
        typed = normalise_totp_code(code)
        if typed is None:
            return Failed(self.id, FailureReason.MALFORMED)
        secret = self._box.open(sealed_secret, context=_context(account.account_id))
        step = self._matching_step(secret.decode("ascii"), typed, now)
        if step is None:
            return Failed(self.id, FailureReason.WRONG_CODE)
        if not self._mark_step(account.account_id, step):
            return Failed(self.id, FailureReason.REPLAYED)
        stored = tx.credentials.add_totp(
            account.account_id, secret_ciphertext=sealed_secret, label=label, step=step, now=now
        )
        return Verified(self.id, account.account_id, self.amr, credential=stored.id)

    # --- sign-in -----------------------------------------------------------------------------

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
        typed = normalise_totp_code(form.get(CODE_FIELD, ""))
        if typed is None:
            return Failed(self.id, FailureReason.MALFORMED)
        credential = tx.credentials.totp_of(account.account_id)
        if credential is None:
            return Failed(self.id, FailureReason.NOT_ENROLLED)
        secret = self._box.open(
            credential.secret_ciphertext, context=_context(account.account_id)
        ).decode("ascii")
        step = self._matching_step(secret, typed, now)
        if step is None:
            return Failed(self.id, FailureReason.WRONG_CODE)
        if not step_is_fresh(step, credential.last_used_step):
            return Failed(self.id, FailureReason.REPLAYED)
        if not self._mark_step(account.account_id, step):
            return Failed(self.id, FailureReason.REPLAYED)
        if not tx.credentials.record_totp_step(credential.id, step=step, now=now):
            return Failed(self.id, FailureReason.REPLAYED)
        return Verified(self.id, account.account_id, self.amr, credential=credential.id)

    # --- helpers -----------------------------------------------------------------------------

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)

    def _matching_step(self, secret: str, code: str, now: datetime) -> int | None:
        try:
            return self._totp(secret).verify_and_get_timecode(
                code, for_time=now.timestamp(), valid_window=WINDOW
            )
        except OTPVerificationError:
            return None

    def _mark_step(self, account_id: int, step: int) -> bool:
        """Claim ``step`` for the account in every process at once (SET NX)."""
        return self._ephemeral.put_new(f"totp-step:{account_id}:{step}", "1", ttl=USED_STEP_TTL)
