"""Proxy grants, their history and the confidential flags of a patient (issue 10).

A grant's status moves only through :meth:`ProxyGrantRepository.move`: one conditional
UPDATE (``WHERE status IN (...)``) plus a history row, so two staff members approving or
revoking at once change it once and the loser learns it (False). A partial unique index
keeps at most one live (pending or active) grant per practice, representative and patient.

States (values of :class:`idp.policies.proxy.GrantStatus`)::

    pending_cosignature ──teen signs online──▶ pending_approval ──staff──▶ active
           │  └───────────staff record the teen's signature──────────────────▲
           └─────────────── revoke (either side, staff) ──▶ revoked ◀── active
                                                     expired ◀── active (the policy says it ended)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.store.proxy_grants import (
    ConfidentialFlagRecord,
    DuplicateGrantError,
    GrantEventRecord,
    NewGrant,
    ProxyGrantRecord,
)

from . import models as m


def _record(row: m.ProxyGrant) -> ProxyGrantRecord:
    return ProxyGrantRecord(
        id=row.id,
        portal_id=row.portal_id,
        representative_account_id=row.representative_account_id,
        patient_person_id=row.patient_person_id,
        relationship=row.relationship,
        kind=row.kind,
        status=row.status,
        full_access_requested=row.full_access_requested,
        teen_cosigned_at=row.teen_cosigned_at,
        teen_cosigned_by=row.teen_cosigned_by,
        legal_document=row.legal_document,
        evidence_ref=row.evidence_ref,
        created_by=row.created_by,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        related_person=row.related_person,
    )


class ProxyGrantRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, new: NewGrant, *, now: datetime, reason: str | None = None) -> ProxyGrantRecord:
        """Store a grant and its first history row; :class:`DuplicateGrantError` if a live
        one exists (checked by the partial unique index, so concurrent inserts too)."""
        row = m.ProxyGrant(
            portal_id=new.portal_id,
            representative_account_id=new.representative_account_id,
            patient_person_id=new.patient_person_id,
            relationship=new.relationship,
            kind=new.kind,
            status=new.status,
            full_access_requested=new.full_access_requested,
            teen_cosigned_at=now if new.teen_cosigned_by else None,
            teen_cosigned_by=new.teen_cosigned_by,
            legal_document=new.legal_document,
            evidence_ref=new.evidence_ref,
            created_by=new.created_by,
            approved_by=new.approved_by,
            approved_at=now if new.approved_by else None,
            starts_on=new.starts_on,
            ends_on=new.ends_on,
            related_person=new.related_person,
            created_at=now,
            updated_at=now,
        )
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:  # the session is unusable now: the caller rolls back
            raise DuplicateGrantError() from exc
        self._event(row.id, "granted", new.status, new.created_by, reason, now)
        return _record(row)

    def move(
        self,
        grant_id: int,
        *,
        from_statuses: Iterable[str],
        to_status: str,
        action: str,
        actor: str,
        now: datetime,
        reason: str | None = None,
        **changes: Any,
    ) -> ProxyGrantRecord | None:
        """Change the status atomically if it is still one of ``from_statuses``; the
        grant after the change, or None when another change came first."""
        values: dict[str, Any] = {"status": to_status, "updated_at": now, **changes}
        result = self._s.execute(
            update(m.ProxyGrant)
            .where(m.ProxyGrant.id == grant_id, m.ProxyGrant.status.in_(list(from_statuses)))
            .values(**values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        self._event(grant_id, action, to_status, actor, reason, now)
        return self.by_id(grant_id)

    def note(
        self, grant_id: int, action: str, *, actor: str, reason: str | None, now: datetime
    ) -> None:
        """A history row that changes nothing: what was told or flagged, and when (the
        periodic notifier reads them back so that a second run sends nothing new)."""
        row = self._s.get(m.ProxyGrant, grant_id)
        if row is None:
            raise LookupError(grant_id)
        self._event(grant_id, action, row.status, actor, reason, now)

    def _event(
        self, grant_id: int, action: str, status: str, actor: str, reason: str | None, now: datetime
    ) -> None:
        self._s.add(
            m.ProxyGrantEvent(
                grant_id=grant_id, at=now, action=action, status=status, actor=actor, reason=reason
            )
        )
        self._s.flush()

    # --- reading ---------------------------------------------------------------------------

    def by_id(self, grant_id: int) -> ProxyGrantRecord | None:
        row = self._s.get(m.ProxyGrant, grant_id, populate_existing=True)
        return None if row is None else _record(row)

    def history(self, grant_id: int) -> list[GrantEventRecord]:
        rows = self._s.scalars(
            select(m.ProxyGrantEvent)
            .where(m.ProxyGrantEvent.grant_id == grant_id)
            .order_by(m.ProxyGrantEvent.id)
        )
        return [GrantEventRecord(r.at, r.action, r.status, r.actor, r.reason) for r in rows]

    def _list(self, *where: Any) -> list[ProxyGrantRecord]:
        rows = self._s.scalars(select(m.ProxyGrant).where(*where).order_by(m.ProxyGrant.id))
        return [_record(r) for r in rows]

    def for_portal(
        self, portal_id: int, *, patient_person_id: int | None = None
    ) -> list[ProxyGrantRecord]:
        where = [m.ProxyGrant.portal_id == portal_id]
        if patient_person_id is not None:
            where.append(m.ProxyGrant.patient_person_id == patient_person_id)
        return self._list(*where)

    def for_representative(self, account_id: int) -> list[ProxyGrantRecord]:
        return self._list(m.ProxyGrant.representative_account_id == account_id)

    def for_patient(self, person_id: int) -> list[ProxyGrantRecord]:
        return self._list(m.ProxyGrant.patient_person_id == person_id)

    def live(
        self, portal_id: int, representative_account_id: int, patient_person_id: int
    ) -> ProxyGrantRecord | None:
        found = self._list(
            m.ProxyGrant.portal_id == portal_id,
            m.ProxyGrant.representative_account_id == representative_account_id,
            m.ProxyGrant.patient_person_id == patient_person_id,
            m.ProxyGrant.status.in_(m.LIVE_GRANT_STATUSES),
        )
        return found[0] if found else None

    def active(self) -> list[ProxyGrantRecord]:
        """Every active grant (the expiry sweep evaluates each against the policy)."""
        return self._list(m.ProxyGrant.status == "active")


class ConfidentialFlagRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def of(self, portal_id: int, person_id: int) -> list[ConfidentialFlagRecord]:
        rows = self._s.scalars(
            select(m.ConfidentialFlag)
            .where(m.ConfidentialFlag.portal_id == portal_id)
            .where(m.ConfidentialFlag.person_id == person_id)
            .order_by(m.ConfidentialFlag.category)
        )
        return [ConfidentialFlagRecord(r.category, r.reason, r.set_by, r.set_at) for r in rows]

    def replace(
        self,
        portal_id: int,
        person_id: int,
        categories: frozenset[str],
        *,
        reason: str,
        actor: str,
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Make the patient's flags exactly ``categories``; (added, removed)."""
        current = {f.category for f in self.of(portal_id, person_id)}
        added, removed = frozenset(categories - current), frozenset(current - categories)
        if removed:
            self._s.execute(
                delete(m.ConfidentialFlag).where(
                    m.ConfidentialFlag.portal_id == portal_id,
                    m.ConfidentialFlag.person_id == person_id,
                    m.ConfidentialFlag.category.in_(sorted(removed)),
                )
            )
        for category in sorted(added):
            self._s.add(
                m.ConfidentialFlag(
                    portal_id=portal_id,
                    person_id=person_id,
                    category=category,
                    reason=reason,
                    set_by=actor,
                    set_at=now,
                )
            )
        self._s.flush()
        return added, removed
