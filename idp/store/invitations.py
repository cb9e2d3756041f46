"""Invitations as flows see them: the record, its states and the store's Protocol.

``idp.store.sql.invitations.InvitationRepository`` implements :class:`InvitationStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

PENDING, ACTIVATED, REVOKED, EXPIRED = "pending", "activated", "revoked", "expired"


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: int
    portal_id: int
    portal_slug: str
    portal_name: str
    patient_id: str
    first_name: str
    last_name: str
    dob: date
    zip: str
    gender: str | None
    email: str
    status: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    activated_at: datetime | None
    account_id: int | None

    def is_live(self, now: datetime) -> bool:
        """Usable for activation: pending and not yet expired."""
        return self.status == PENDING and self.expires_at > now

    def state(self, now: datetime) -> str:
        """The status as callers see it: a pending invitation past its expiry is "expired"."""
        if self.status == PENDING and self.expires_at <= now:
            return EXPIRED
        return self.status


class InvitationStore(Protocol):
    """A practice's offers to link a patient record; use is single (one racing caller wins)."""

    def create(
        self,
        *,
        portal_id: int,
        patient_id: str,
        code_hash: str,
        first_name: str,
        last_name: str,
        dob: date,
        zip: str,
        gender: str | None,
        email: str,
        created_by: str,
        now: datetime,
        expires_at: datetime,
    ) -> tuple[InvitationRecord, list[int]]:
        """Store a new invitation; the record's earlier pending ones are revoked."""

    def by_id(self, invitation_id: int) -> InvitationRecord | None: ...

    def by_code(self, code_hash: str) -> InvitationRecord | None:
        """Whatever its state: callers decide with :meth:`InvitationRecord.is_live`."""

    def mark_activated(self, invitation_id: int, account_id: int, *, now: datetime) -> bool:
        """Use a live invitation for ``account_id``; exactly one of two racing callers wins."""

    def revoke(self, invitation_id: int, *, now: datetime) -> bool:
        """Revoke a pending invitation (expired or not); False if it was not pending."""

    def replace_code(self, invitation_id: int, code_hash: str, *, now: datetime) -> bool:
        """A new code for a live invitation ("resend my code"); the old code dies with it."""

    def pending_for_email(self, email: str, *, now: datetime) -> list[InvitationRecord]:
        """Live invitations sent to ``email`` (case-insensitive), oldest first."""

    def for_portal(self, portal_id: int, *, limit: int = 500) -> list[InvitationRecord]:
        """A practice's invitations, newest first."""
