"""Staff members as the database keeps them: an account's role and a practice's portals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from idp.records import StaffRecord

from . import models as m

# Built once (no expression building or cache-key walk per call): every sign-in for a
# portal asks whether the account is staff (issue 12 item 3).
_IS_STAFF = select(m.StaffMember.account_id).where(
    m.StaffMember.account_id == bindparam("account_id")
)


class StaffRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def is_staff(self, account_id: int) -> bool:
        """Whether the account is staff: one indexed SELECT, no record built."""
        return self._s.execute(_IS_STAFF, {"account_id": account_id}).first() is not None

    def by_account(self, account_id: int) -> StaffRecord | None:
        row = self._s.get(m.StaffMember, account_id)
        return None if row is None else self._record(row)

    def put(
        self,
        account_id: int,
        *,
        role: str,
        portal_ids: Iterable[int],
        by: str,
        now: datetime,
    ) -> StaffRecord:
        """Make the account staff with exactly this role and these portals (replacing any)."""
        row = self._s.get(m.StaffMember, account_id)
        if row is None:
            row = m.StaffMember(account_id=account_id, role=role, created_at=now, created_by=by)
            self._s.add(row)
        else:
            row.role = role
            row.created_at, row.created_by = now, by
        self._s.flush()
        self._s.execute(delete(m.StaffPortal).where(m.StaffPortal.account_id == account_id))
        for portal_id in sorted(set(portal_ids)):
            self._s.add(m.StaffPortal(account_id=account_id, portal_id=portal_id))
        self._s.flush()
        return self._record(row)

    def remove(self, account_id: int) -> bool:
        self._s.execute(delete(m.StaffPortal).where(m.StaffPortal.account_id == account_id))
        result = self._s.execute(
            delete(m.StaffMember).where(m.StaffMember.account_id == account_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def listing(self) -> list[StaffRecord]:
        rows = self._s.scalars(select(m.StaffMember).order_by(m.StaffMember.account_id))
        return [self._record(row) for row in rows]

    def _record(self, row: m.StaffMember) -> StaffRecord:
        account = self._s.get(m.Account, row.account_id)
        assert account is not None  # a foreign key
        slugs = self._s.scalars(
            select(m.Portal.slug)
            .join(m.StaffPortal, m.StaffPortal.portal_id == m.Portal.id)
            .where(m.StaffPortal.account_id == row.account_id)
            .order_by(m.Portal.slug)
        )
        return StaffRecord(
            account_id=row.account_id,
            username=account.username,
            subject=account.subject,
            role=row.role,
            portals=tuple(slugs),
            created_at=row.created_at,
            created_by=row.created_by,
        )
