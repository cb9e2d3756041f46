"""Sign-ups waiting for staff review (issue 5).

A sign-up that closely matches an existing account, without proof of the phone on
that account's record, becomes a *pending* enrollment (the second health system's
FAQ: "your enrollment request was submitted to the enrollment staff for
processing"). Staff approve (an account is created from ``data``) or reject; the
applicant may also withdraw it by proving the phone on the existing record.

``data`` holds what the account would be made of: user ID, argon2id hashes of the
password and the security answers, demographics, and match reason codes for the
reviewer. Once decided, the hashes are dropped (:data:`SECRET_FIELDS`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.store.enrollments import EnrollmentRecord, EnrollmentStatus

from . import models as m

# Entries of ``data`` that are credentials: kept only while the enrollment is pending.
SECRET_FIELDS = ("password_hash", "answers")


def _record(row: m.Enrollment) -> EnrollmentRecord:
    return EnrollmentRecord(
        id=row.id,
        status=row.status,
        email=row.email,
        data=dict(row.data or {}),
        candidate_account_id=row.candidate_account_id,
        portal_id=row.portal_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
        account_id=row.account_id,
    )


def without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in SECRET_FIELDS}


class EnrollmentRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(
        self,
        *,
        email: str,
        data: dict[str, Any],
        candidate_account_id: int | None,
        now: datetime,
        portal_id: int | None = None,
    ) -> EnrollmentRecord:
        row = m.Enrollment(
            status=EnrollmentStatus.PENDING.value,
            email=email,
            data=data,
            candidate_account_id=candidate_account_id,
            portal_id=portal_id,
            created_at=now,
        )
        self._s.add(row)
        self._s.flush()
        return _record(row)

    def get(self, enrollment_id: int) -> EnrollmentRecord | None:
        row = self._s.get(m.Enrollment, enrollment_id)
        return None if row is None else _record(row)

    def list(self, *, status: str | None = "pending", limit: int = 100) -> list[EnrollmentRecord]:
        """Oldest first (the queue order); ``status=None`` lists every status."""
        stmt = select(m.Enrollment).order_by(m.Enrollment.id).limit(limit)
        if status is not None:
            stmt = stmt.where(m.Enrollment.status == status)
        return [_record(r) for r in self._s.scalars(stmt)]

    def decide(
        self,
        enrollment_id: int,
        *,
        status: EnrollmentStatus,
        by: str,
        reason: str | None,
        now: datetime,
    ) -> bool:
        """Close a pending enrollment, atomically: of two concurrent decisions one wins.

        ``UPDATE … WHERE status = 'pending'``; the credential hashes go with it.
        """
        row = self._s.get(m.Enrollment, enrollment_id, with_for_update=True)
        if row is None or row.status != EnrollmentStatus.PENDING:
            return False
        result = self._s.execute(
            update(m.Enrollment)
            .where(
                m.Enrollment.id == enrollment_id,
                m.Enrollment.status == EnrollmentStatus.PENDING.value,
            )
            .values(
                status=status.value,
                decided_by=by,
                reason=reason,
                decided_at=now,
                data=without_secrets(dict(row.data or {})),
            )
            .execution_options(synchronize_session="fetch")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_account(self, enrollment_id: int, account_id: int) -> None:
        """The account an approval created."""
        self._s.execute(
            update(m.Enrollment)
            .where(m.Enrollment.id == enrollment_id)
            .values(account_id=account_id)
            .execution_options(synchronize_session="fetch")
        )

    def note_verified_phone(self, enrollment_id: int, phone: str) -> bool:
        """The applicant proved control of ``phone`` (E.164): stored verified if approved."""
        row = self._s.get(m.Enrollment, enrollment_id, with_for_update=True)
        if row is None or row.status != EnrollmentStatus.PENDING:
            return False
        row.data = {**(row.data or {}), "phone_verified": phone}
        self._s.flush()
        return True
