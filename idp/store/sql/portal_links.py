"""Links between accounts and practices' patient records (issue 5).

A :class:`~idp.store.sql.models.PortalLink` ties one account to one practice's own
patient identifier (its medical record number). Two unique constraints keep the
"one person, one account; accounts are never shared" rule at the database level:
a practice has at most one link per account, and one MRN names at most one account
there. A revoked link keeps its row (the audit trail and the practice's reference
stay), so the same MRN can later be linked again only to the same account.

States::

    invited ──link(status="active")──▶ active ──revoke──▶ revoked
       │                                  ▲                 │
       └──────────revoke───────▶ revoked  └──link(again)────┘  (same account only)

Reads return :class:`PortalLinkRecord`, never ORM rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.store.links import ACTIVE, INVITED, REVOKED, DuplicateLinkError, PortalLinkRecord

from . import models as m

# Links that still stand for something: revoking ends them.
_LIVE = (INVITED, ACTIVE)


def _query() -> Select[m.PortalLink, str, str]:
    return select(m.PortalLink, m.Portal.slug, m.Portal.name).join(
        m.Portal, m.Portal.id == m.PortalLink.portal_id
    )


def _clients_of(portal_id: int) -> Select[int]:
    """Every client the practice owns, retired ones too (their grants end as well)."""
    return select(m.Client.id).where(m.Client.portal_id == portal_id)


def _record(link: m.PortalLink, slug: str, name: str) -> PortalLinkRecord:
    return PortalLinkRecord(
        id=link.id,
        account_id=link.account_id,
        portal_id=link.portal_id,
        portal_slug=slug,
        portal_name=name,
        patient_id=link.patient_id,
        status=link.status,
        created_at=link.created_at,
        activated_at=link.activated_at,
        revoked_at=link.revoked_at,
        last_signin_at=link.last_signin_at,
        person_id=link.person_id,
    )


class PortalLinkRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # --- writing ---------------------------------------------------------------------------

    def link(
        self,
        account_id: int,
        portal_id: int,
        patient_id: str,
        now: datetime,
        status: str = ACTIVE,
    ) -> PortalLinkRecord:
        """Link an account to a practice's patient record (``active``, or ``invited``).

        An ``invited`` link for the same MRN becomes active; a revoked link of this
        account is linked again (with the MRN given now). Anything else that would
        break either unique constraint raises :class:`DuplicateLinkError`, checked
        first for a clear answer and again by the constraint for a concurrent insert.
        """
        if status not in _LIVE:
            raise ValueError(f"a new link is invited or active, not {status!r}")
        activated_at = now if status == ACTIVE else None
        mine = self._s.scalar(
            select(m.PortalLink).where(
                m.PortalLink.portal_id == portal_id, m.PortalLink.account_id == account_id
            )
        )
        holder = self._s.execute(
            select(m.PortalLink.account_id).where(
                m.PortalLink.portal_id == portal_id, m.PortalLink.patient_id == patient_id
            )
        ).first()
        # A person's record without an account counts as another holder: claiming it
        # takes the practice's word, not an activation (issue 10 leaves that to staff).
        if holder is not None and holder.account_id != account_id:
            raise DuplicateLinkError("patient_id")
        if mine is None:
            mine = m.PortalLink(
                account_id=account_id,
                portal_id=portal_id,
                patient_id=patient_id,
                status=status,
                created_at=now,
                activated_at=activated_at,
            )
            self._s.add(mine)
        elif mine.status == REVOKED:
            mine.patient_id = patient_id
            mine.status = status
            mine.activated_at = activated_at
            mine.revoked_at = None
            mine.last_signin_at = None
        elif mine.status == INVITED and status == ACTIVE and mine.patient_id == patient_id:
            mine.status = ACTIVE
            mine.activated_at = now
        else:
            raise DuplicateLinkError("account")
        try:
            self._s.flush()
        except IntegrityError as exc:  # a concurrent link won the race
            raise DuplicateLinkError("account") from exc
        found = self._one(m.PortalLink.id == mine.id)
        assert found is not None
        return found

    def link_person(
        self, person_id: int, portal_id: int, patient_id: str, now: datetime
    ) -> PortalLinkRecord:
        """The record of a patient without an account (a young child): always active.

        The MRN must be new at the practice: :class:`DuplicateLinkError` (``patient_id``)
        otherwise, checked first and again by the unique constraint.
        """
        taken = self._s.scalar(
            select(m.PortalLink.id).where(
                m.PortalLink.portal_id == portal_id, m.PortalLink.patient_id == patient_id
            )
        )
        if taken is not None:
            raise DuplicateLinkError("patient_id")
        row = m.PortalLink(
            person_id=person_id,
            portal_id=portal_id,
            patient_id=patient_id,
            status=ACTIVE,
            created_at=now,
            activated_at=now,
        )
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:  # a concurrent insert of the same MRN
            raise DuplicateLinkError("patient_id") from exc
        found = self._one(m.PortalLink.id == row.id)
        assert found is not None
        return found

    def revoke(self, account_id: int, portal_id: int, now: datetime) -> bool:
        """End this account's link at one practice; False if there was none to end."""
        result = self._s.execute(
            update(m.PortalLink)
            .where(
                m.PortalLink.account_id == account_id,
                m.PortalLink.portal_id == portal_id,
                m.PortalLink.status.in_(_LIVE),
            )
            .values(status=REVOKED, revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_all_for_account(self, account_id: int, now: datetime) -> int:
        """End every link of an account (account closed); rows stay for the audit."""
        result = self._s.execute(
            update(m.PortalLink)
            .where(m.PortalLink.account_id == account_id, m.PortalLink.status.in_(_LIVE))
            .values(status=REVOKED, revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def touch_signin(self, account_id: int, portal_id: int, now: datetime) -> bool:
        """Record a sign-in at the practice (a code issued to one of its clients)."""
        result = self._s.execute(
            update(m.PortalLink)
            .where(
                m.PortalLink.account_id == account_id,
                m.PortalLink.portal_id == portal_id,
                m.PortalLink.status == ACTIVE,
            )
            .values(last_signin_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # What a link let the practice's clients hold. Consents and refresh tokens have
    # their own repositories; these per-practice variants sit here because only
    # unlinking needs them.

    def revoke_consents(self, account_id: int, portal_id: int, now: datetime) -> int:
        """Withdraw the account's consents to every client of the practice."""
        result = self._s.execute(
            update(m.Consent)
            .where(
                m.Consent.account_id == account_id,
                m.Consent.client_id.in_(_clients_of(portal_id)),
                m.Consent.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_refresh_tokens(self, account_id: int, portal_id: int, now: datetime) -> list[str]:
        """End the account's refresh tokens at the practice's clients; the families touched
        (their access tokens share the family id, so the caller can void those too)."""
        live = (
            m.RefreshToken.account_id == account_id,
            m.RefreshToken.client_id.in_(_clients_of(portal_id)),
            m.RefreshToken.revoked_at.is_(None),
        )
        families = list(self._s.scalars(select(m.RefreshToken.family_id).where(*live).distinct()))
        self._s.execute(update(m.RefreshToken).where(*live).values(revoked_at=now))
        return families

    # --- reading ---------------------------------------------------------------------------

    def _one(self, *where: object) -> PortalLinkRecord | None:
        row = self._s.execute(_query().where(*where)).first()  # type: ignore[arg-type]
        return None if row is None else _record(*row)

    def active_for(self, account_id: int, portal_id: int) -> PortalLinkRecord | None:
        """The account's active link at one practice: what its clients' tokens carry."""
        return self._one(
            m.PortalLink.account_id == account_id,
            m.PortalLink.portal_id == portal_id,
            m.PortalLink.status == ACTIVE,
        )

    def by_patient(self, portal_id: int, patient_id: str) -> PortalLinkRecord | None:
        """The link holding this MRN at the practice, whatever its status."""
        return self._one(m.PortalLink.portal_id == portal_id, m.PortalLink.patient_id == patient_id)

    def list_for_account(self, account_id: int) -> list[PortalLinkRecord]:
        """Every link of an account, each status, by practice name."""
        rows = self._s.execute(
            _query()
            .where(m.PortalLink.account_id == account_id)
            .order_by(m.Portal.name, m.Portal.id)
        )
        return [_record(*row) for row in rows]
