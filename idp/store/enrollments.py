"""Queued enrollments (sign-ups staff decide) as flows see them.

``idp.store.sql.enrollments.EnrollmentRepository`` implements :class:`EnrollmentStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class EnrollmentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # The applicant proved the phone on the existing record: no second account needed.
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    id: int
    status: str
    email: str
    data: dict[str, Any]
    candidate_account_id: int | None
    portal_id: int | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    account_id: int | None


class EnrollmentStore(Protocol):
    """The staff queue of sign-ups; a decision is atomic (of two, one wins)."""

    def add(
        self,
        *,
        email: str,
        data: dict[str, Any],
        candidate_account_id: int | None,
        now: datetime,
        portal_id: int | None = None,
    ) -> EnrollmentRecord: ...

    def get(self, enrollment_id: int) -> EnrollmentRecord | None: ...

    def list(self, *, status: str | None = "pending", limit: int = 100) -> list[EnrollmentRecord]:
        """Oldest first (the queue order); ``status=None`` lists every status."""

    def decide(
        self,
        enrollment_id: int,
        *,
        status: EnrollmentStatus,
        by: str,
        reason: str | None,
        now: datetime,
    ) -> bool:
        """Close a pending enrollment, atomically: of two concurrent decisions one wins."""

    def set_account(self, enrollment_id: int, account_id: int) -> None:
        """The account an approval created."""

    def note_verified_phone(self, enrollment_id: int, phone: str) -> bool:
        """The applicant proved control of ``phone`` (E.164): stored verified if approved."""
