"""Practice invitations with hashed activation codes (issue 5).

Only the SHA-256 of an activation code is stored (security invariant 5). Every
state change is one conditional UPDATE, so two browsers racing with the same code
cannot both activate it, and a revoked or expired invitation can never be used::

    pending ──activate (live, atomic)──► activated
       │
       ├──revoke (staff, practice, a newer invitation, the lockout's hard cap)──► revoked
       └──expires_at passes──► (still "pending" in the row; shown as "expired")
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from idp.store.invitations import ACTIVATED, PENDING, REVOKED, InvitationRecord

from . import models as m


def _record(row: m.Invitation, portal: m.Portal) -> InvitationRecord:
    return InvitationRecord(
        id=row.id,
        portal_id=row.portal_id,
        portal_slug=portal.slug,
        portal_name=portal.name,
        patient_id=row.patient_id,
        first_name=row.first_name,
        last_name=row.last_name,
        dob=row.dob,
        zip=row.zip,
        gender=row.gender,
        email=row.email,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        activated_at=row.activated_at,
        account_id=row.account_id,
    )


def _with_portal() -> Select[m.Invitation, m.Portal]:
    return select(m.Invitation, m.Portal).join(m.Portal, m.Portal.id == m.Invitation.portal_id)


class InvitationRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _one(self, query: Select[m.Invitation, m.Portal]) -> InvitationRecord | None:
        row = self._s.execute(query).first()
        return None if row is None else _record(*row)

    def _many(self, query: Select[m.Invitation, m.Portal]) -> list[InvitationRecord]:
        return [_record(*row) for row in self._s.execute(query)]

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
        """Store a new invitation; the record's earlier pending ones are revoked.

        One live code per patient record and practice: a new invitation replaces the
        old one. Returns the new invitation and the ids of those it replaced.
        """
        superseded = self.revoke_pending_for(portal_id, patient_id, now=now)
        row = m.Invitation(
            portal_id=portal_id,
            patient_id=patient_id,
            code_hash=code_hash,
            first_name=first_name,
            last_name=last_name,
            dob=dob,
            zip=zip,
            gender=gender,
            email=email,
            status=PENDING,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        self._s.add(row)
        self._s.flush()
        record = self.by_id(row.id)
        assert record is not None
        return record, superseded

    def by_id(self, invitation_id: int) -> InvitationRecord | None:
        return self._one(_with_portal().where(m.Invitation.id == invitation_id))

    def by_code(self, code_hash: str) -> InvitationRecord | None:
        """Whatever its state: callers decide with :meth:`InvitationRecord.is_live`."""
        return self._one(_with_portal().where(m.Invitation.code_hash == code_hash))

    def mark_activated(self, invitation_id: int, account_id: int, *, now: datetime) -> bool:
        """Use a live invitation for ``account_id``; exactly one of two racing callers wins."""
        result = self._s.execute(
            update(m.Invitation)
            .where(
                m.Invitation.id == invitation_id,
                m.Invitation.status == PENDING,
                m.Invitation.expires_at > now,
            )
            .values(status=ACTIVATED, activated_at=now, account_id=account_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke(self, invitation_id: int, *, now: datetime) -> bool:
        """Revoke a pending invitation (expired or not); False if it was not pending."""
        result = self._s.execute(
            update(m.Invitation)
            .where(m.Invitation.id == invitation_id, m.Invitation.status == PENDING)
            .values(status=REVOKED)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_pending_for(self, portal_id: int, patient_id: str, *, now: datetime) -> list[int]:
        """Revoke every pending invitation of one patient record; returns their ids."""
        ids = list(
            self._s.scalars(
                select(m.Invitation.id).where(
                    m.Invitation.portal_id == portal_id,
                    m.Invitation.patient_id == patient_id,
                    m.Invitation.status == PENDING,
                )
            )
        )
        if ids:
            self._s.execute(
                update(m.Invitation)
                .where(m.Invitation.id.in_(ids), m.Invitation.status == PENDING)
                .values(status=REVOKED)
            )
        return ids

    def replace_code(self, invitation_id: int, code_hash: str, *, now: datetime) -> bool:
        """A new code for a live invitation ("resend my code"); the old code dies with it."""
        result = self._s.execute(
            update(m.Invitation)
            .where(
                m.Invitation.id == invitation_id,
                m.Invitation.status == PENDING,
                m.Invitation.expires_at > now,
            )
            .values(code_hash=code_hash)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def pending_for_email(self, email: str, *, now: datetime) -> list[InvitationRecord]:
        """Live invitations sent to ``email`` (case-insensitive), oldest first.

        For "My portals" (practices waiting for this patient) and "resend my code".
        """
        return self._many(
            _with_portal()
            .where(
                func.lower(m.Invitation.email) == email.strip().lower(),
                m.Invitation.status == PENDING,
                m.Invitation.expires_at > now,
            )
            .order_by(m.Invitation.id)
        )

    def for_portal(self, portal_id: int, *, limit: int = 500) -> list[InvitationRecord]:
        """A practice's invitations, newest first."""
        return self._many(
            _with_portal()
            .where(m.Invitation.portal_id == portal_id)
            .order_by(m.Invitation.id.desc())
            .limit(limit)
        )
