"""Staff review of sign-ups that closely matched an existing account (issue 5, FAQ 004).

"If you enrolled online but did not successfully complete the enrollment process, your
enrollment request was submitted to the enrollment staff for processing. They may
contact you to confirm your identity. You will then receive an email with a link to
complete your enrollment. This may take 3-5 business days."

::

    pending ─approve (staff)─► approved: account "pending" made from the stored data,
       │                       verification link mailed (the account is active once the
       │                       applicant opens it: staff approval does not prove the
       │                       mailbox, the link does)
       ├─reject (staff)──► rejected: a polite email, nothing created
       └─phone proven ───► withdrawn (registration flow: the applicant proved the phone
                            on the matched record, so no second account is needed)

Approval still creates a *pending account* in SQL (self sign-up's no-match branch no
longer does: it keeps a pending registration in the ephemeral store until the link is
opened, :mod:`idp.flows.signup_links`). Deferring here too does not fit: approval is a
staff decision days after the sign-up that must survive a Redis flush, and the CLI
that records it runs in its own process (with the embedded in-process store it shares
nothing with the server). Nor does it leak what deferral protects against: the
approved account appears only after staff review, not at step 2, so sign-in answering
"email not verified" for it (LoginReason.EMAIL_NOT_VERIFIED) says nothing about what
the typed details matched. The sign-up's user-ID reservation (held by every branch) is
released here when the caller gives the ephemeral store (the admin API does); otherwise
it simply expires, and the account row protects the user ID from then on. Approval
checks only SQL uniqueness: a user ID merely reserved by another sign-up in progress
can be approved, and that sign-up's link then asks for another user ID.

Each decision is one conditional UPDATE (of two concurrent decisions one wins), drops
the stored hashes, and is audited in the same transaction with the staff member's
name (actor ``staff:<name>``) and, through the admin API, the client that carried it.
Callers own the transaction: the CLI opens one, the admin API opens one per request;
a :class:`ReviewError` means "roll it back".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from idp.clock import Clock
from idp.notify import InvalidEmailAddress, Notifier
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.accounts import DuplicateError, NewPerson
from idp.store.durable import UnitOfWork
from idp.store.enrollments import EnrollmentRecord, EnrollmentStatus
from idp.store.interfaces import EphemeralStore
from idp.store.security_answers import StoredQuestion

from .signup_common import USERNAME_RE
from .signup_links import UserIdReservations, send_verification_link

MAX_STAFF = 64
MAX_REASON = 500
STATUSES = tuple(s.value for s in EnrollmentStatus)


class ReviewError(Exception):
    """The decision cannot be made; ``code`` is stable (API error, CLI message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_staff(name: str | None) -> str:
    value = " ".join((name or "").split())
    if not value or len(value) > MAX_STAFF or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ReviewError("invalid_staff", f"staff must name a person (1-{MAX_STAFF} characters)")
    return value


def clean_reason(text: str | None, *, required: bool) -> str | None:
    value = " ".join((text or "").split())
    if not value:
        if required:
            raise ReviewError("invalid_reason", "a reason is required")
        return None
    if len(value) > MAX_REASON or any(ord(c) < 32 for c in value):
        raise ReviewError("invalid_reason", f"the reason must be 1-{MAX_REASON} characters")
    return value


@dataclass(frozen=True, slots=True)
class Decision:
    enrollment: EnrollmentRecord
    account: AccountRecord | None = None


def _person_view(account: AccountRecord | None) -> dict[str, Any] | None:
    if account is None:
        return None
    person = account.person
    return {
        "username": account.username,
        "subject": account.subject,
        "status": account.status,
        "email": account.email,
        "email_verified": account.email_verified,
        "phone": account.phone,
        "phone_verified": account.phone_verified,
        "first_name": person.first_name if person else None,
        "last_name": person.last_name if person else None,
        "dob": person.dob.isoformat() if person and person.dob else None,
        "zip": person.zip if person else None,
        "gender": person.gender if person else None,
    }


class EnrollmentReview:
    def __init__(
        self,
        *,
        notifier: Notifier,
        clock: Clock,
        issuer: str,
        verify_link_ttl: int,
        matching_secret: str,
        ephemeral: EphemeralStore | None = None,
    ) -> None:
        """``ephemeral``, when given, lets approval release the sign-up's user-ID
        reservation at once (without it the reservation just expires)."""
        self._notifier = notifier
        self._reservations = UserIdReservations(ephemeral) if ephemeral is not None else None
        self._clock = clock
        self._issuer = issuer.rstrip("/")
        self._ttl = verify_link_ttl
        self._secret = matching_secret

    # --- reading -------------------------------------------------------------------------

    def describe(self, uow: UnitOfWork, record: EnrollmentRecord) -> dict[str, Any]:
        """What a reviewer needs side by side: the applicant and the account it resembles.

        Staff-only (CLI, ``idp:admin`` API): it shows demographics, never a hash.
        """
        data = record.data
        candidate = (
            uow.accounts.by_id(record.candidate_account_id) if record.candidate_account_id else None
        )
        created = uow.accounts.by_id(record.account_id) if record.account_id else None
        return {
            "id": record.id,
            "status": record.status,
            "created_at": record.created_at.isoformat(),
            "email": record.email,
            "username": data.get("username"),
            "demographics": data.get("demographics"),
            "phone_verified": data.get("phone_verified"),
            "match_reasons": data.get("match_reasons", []),
            "match_score": data.get("match_score"),
            "candidate": _person_view(candidate),
            "decided_at": record.decided_at.isoformat() if record.decided_at else None,
            "decided_by": record.decided_by,
            "reason": record.reason,
            "account": {"username": created.username, "subject": created.subject}
            if created
            else None,
        }

    def list(
        self, uow: UnitOfWork, *, status: str | None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise ReviewError("invalid_status", f"status must be one of {', '.join(STATUSES)}")
        return [self.describe(uow, r) for r in uow.enrollments.list(status=status, limit=limit)]

    def _pending(self, uow: UnitOfWork, enrollment_id: int) -> EnrollmentRecord:
        record = uow.enrollments.get(enrollment_id)
        if record is None:
            raise ReviewError("not_found", f"no enrollment {enrollment_id}")
        if record.status != EnrollmentStatus.PENDING:
            raise ReviewError("already_decided", f"enrollment {enrollment_id} is {record.status}")
        return record

    # --- deciding ------------------------------------------------------------------------

    def approve(
        self,
        uow: UnitOfWork,
        enrollment_id: int,
        *,
        staff: str,
        reason: str | None = None,
        username: str | None = None,
        via: str | None = None,
        meta: RequestMeta | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Decision:
        """Create the account from the stored data (status pending) and mail the link.

        ``username`` replaces the one asked for when someone took it meanwhile.
        """
        staff, why = clean_staff(staff), clean_reason(reason, required=False)
        record = self._pending(uow, enrollment_id)
        data = record.data
        name = (username or data.get("username") or "").strip()
        if not USERNAME_RE.fullmatch(name):
            raise ReviewError("username_invalid", "the user ID must be 3-64 of A-Z a-z 0-9 . _ - @")
        if uow.accounts.by_username(name) is not None:
            raise ReviewError("username_taken", f"user ID {name!r} is taken; give another one")
        now = self._clock()
        if not uow.enrollments.decide(
            enrollment_id,
            status=EnrollmentStatus.APPROVED,
            by=f"staff:{staff}",
            reason=why,
            now=now,
        ):
            raise ReviewError("already_decided", f"enrollment {enrollment_id} was just decided")
        who = data["demographics"]
        person = NewPerson(
            first_name=who["first_name"],
            last_name=who["last_name"],
            dob=date.fromisoformat(who["dob"]),
            zip=who["zip"],
            gender=who["gender"],
            email=record.email,
            phone=data.get("phone_verified"),
        )
        try:
            account = uow.accounts.add(
                username=name,
                password_hash=data["password_hash"],
                email=record.email,
                now=now,
                status="pending",
                person=person,
            )
        except DuplicateError:
            raise ReviewError("username_taken", f"user ID {name!r} is taken") from None
        if account.person is not None:
            uow.candidates.index_person(account.person.id, person, secret=self._secret, fresh=True)
        uow.security_answers.replace(
            account.id, [StoredQuestion(**a) for a in data.get("answers", [])], now=now
        )
        uow.accounts.accept_terms(account.id, now=_accepted_at(data, now))
        if data.get("phone_verified"):
            uow.accounts.set_phone(account.id, data["phone_verified"], verified=True, now=now)
        uow.enrollments.set_account(enrollment_id, account.id)
        send_verification_link(
            uow,
            self._notifier,
            account_id=account.id,
            email=record.email,
            issuer=self._issuer,
            ttl=self._ttl,
            now=now,
            template="signup_enrollment_approved",
        )
        self._audit(
            uow, "enrollment_approved", staff, account, enrollment_id, why, via, meta, facts
        )
        if self._reservations is not None and data.get("reservation") and data.get("username"):
            # The account (or another user ID) now stands for it; only its own holder goes.
            self._reservations.release(data["username"], data["reservation"])
        decided = uow.enrollments.get(enrollment_id)
        assert decided is not None
        return Decision(decided, uow.accounts.by_id(account.id))

    def reject(
        self,
        uow: UnitOfWork,
        enrollment_id: int,
        *,
        staff: str,
        reason: str,
        via: str | None = None,
        meta: RequestMeta | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Decision:
        """Nothing is created; the applicant gets a polite email (never the staff reason)."""
        staff, why = clean_staff(staff), clean_reason(reason, required=True)
        record = self._pending(uow, enrollment_id)
        now = self._clock()
        if not uow.enrollments.decide(
            enrollment_id,
            status=EnrollmentStatus.REJECTED,
            by=f"staff:{staff}",
            reason=why,
            now=now,
        ):
            raise ReviewError("already_decided", f"enrollment {enrollment_id} was just decided")
        try:
            self._notifier.email(
                uow,
                to=record.email,
                template="signup_enrollment_rejected",
                context={"login_url": f"{self._issuer}/login"},
                now=now,
            )
        except InvalidEmailAddress:
            pass  # checked at sign-up; an address that fails today's check just gets nothing
        self._audit(uow, "enrollment_rejected", staff, None, enrollment_id, why, via, meta, facts)
        decided = uow.enrollments.get(enrollment_id)
        assert decided is not None
        return Decision(decided)

    def _audit(
        self,
        uow: UnitOfWork,
        event: str,
        staff: str,
        account: AccountRecord | None,
        enrollment_id: int,
        reason: str | None,
        via: str | None,
        meta: RequestMeta | None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        details: dict[str, Any] = {k: v for k, v in (facts or {}).items() if v is not None}
        details["enrollment_id"] = enrollment_id
        if reason:
            details["reason"] = reason
        uow.audit.record(
            AuditEntry(
                type=event,
                outcome="success",
                actor=f"staff:{staff}",
                subject=account.subject if account else None,
                client_id=via,
                ip=meta.ip if meta else None,
                user_agent=meta.user_agent if meta else None,
                details=details,
            ),
            now=self._clock(),
        )


def _accepted_at(data: dict[str, Any], fallback: datetime) -> datetime:
    """The applicant accepted the terms when signing up, not when staff approved."""
    try:
        return datetime.fromisoformat(data["terms_accepted_at"])
    except (KeyError, TypeError, ValueError):
        return fallback
