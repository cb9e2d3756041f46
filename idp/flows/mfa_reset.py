"""The staff path for a patient who lost every second factor (issue 9 item 8).

Recovery never removes a second factor (NIST SP 800-63B-4 §4.2.2.2): a reset
password alone must not open an account that had two. When the phone with the
app, every passkey and the recovery codes are all gone, staff check the caller's
identity out of band and remove the factors; the patient then signs in with the
password and may enrol again.

That is exactly the step a social engineer aims for, so it is loud: the staff
member and the reason go into the audit event, written in the same transaction as
the removal (invariant 9), and the patient is told at every address on file (the
email, verified or not, and the phone by text), so that the real owner hears of it
even if the attacker talked staff into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from idp.i18n import format_when
from idp.notify import InvalidEmailAddress, InvalidPhoneNumber, Notifier
from idp.records import AccountRecord, AuditEntry
from idp.store.credentials import CredentialKind

if TYPE_CHECKING:  # the concrete transaction type, for annotations only
    from idp.store.durable import UnitOfWork


@dataclass(frozen=True, slots=True)
class FactorsReset:
    apps: int
    passkeys: int
    recovery_codes: int
    notified: tuple[str, ...]  # "email", "sms": the channels a notice was queued on

    @property
    def removed(self) -> int:
        return self.apps + self.passkeys + self.recovery_codes


def reset_second_factors(
    uow: UnitOfWork,
    account: AccountRecord,
    *,
    staff: str,
    reason: str,
    notifier: Notifier,
    now: datetime,
    audit: Callable[[AuditEntry], AuditEntry] | None = None,
) -> FactorsReset | None:
    """Remove every factor of ``account``; None (nothing written) when it has none.

    ``audit`` rewrites the event before it is recorded (the staff operations add the
    staff member's role and the operation's name).
    """
    factors = uow.credentials.listing(account.id)
    codes = uow.credentials.recovery_codes_left(account.id)
    if not factors and not codes:
        return None
    for factor in factors:
        uow.credentials.remove(account.id, factor.id)
    uow.credentials.replace_recovery_codes(account.id, [], now=now)
    notified = _notify_everywhere(uow, account, notifier, now)
    result = FactorsReset(
        apps=sum(f.kind is CredentialKind.TOTP for f in factors),
        passkeys=sum(f.kind is CredentialKind.WEBAUTHN for f in factors),
        recovery_codes=codes,
        notified=notified,
    )
    entry = AuditEntry(
        type="second_factors_reset",
        outcome="success",
        actor=f"staff:{staff}",
        subject=account.subject,
        details={
            "reason": reason,
            "apps": result.apps,
            "passkeys": result.passkeys,
            "recovery_codes": result.recovery_codes,
            "notified": list(notified),
        },
    )
    uow.audit.record(audit(entry) if audit else entry, now=now)
    return result


def _notify_everywhere(
    uow: UnitOfWork, account: AccountRecord, notifier: Notifier, now: datetime
) -> tuple[str, ...]:
    name = account.person.first_name if account.person else None
    sent: list[str] = []
    if account.email:
        try:
            notifier.email(
                uow,
                to=account.email,
                template="second_factors_reset",
                context={
                    "name": name or account.username,
                    "when": format_when(now.astimezone(UTC), "%d %B %Y at %H:%M UTC"),
                },
                now=now,
            )
            sent.append("email")
        except InvalidEmailAddress:
            pass  # an address that was accepted once and no longer parses: the text still goes
    if account.phone:
        try:
            notifier.sms(
                uow, to=account.phone, template="second_factors_reset", context={}, now=now
            )
            sent.append("sms")
        except InvalidPhoneNumber:
            pass
    return tuple(sent)
