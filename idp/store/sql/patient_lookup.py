"""Finding patients for the staff console: by user ID, email, MRN, or name + birth date.

Returns whole account records (with the person), at most ``limit``, ordered by user
ID; the console's patient page reads the rest (links, grants, factors) from the
stores that own them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.records import AccountRecord
from idp.store.usernames import username_key

from . import models as m


class PatientLookupRepository:
    def __init__(self, session: Session, record: Callable[[m.Account], AccountRecord]) -> None:
        self._s = session
        self._record = record  # AccountRepository's row -> record (with the person)

    def find(
        self,
        *,
        username: str | None = None,
        email: str | None = None,
        mrn: str | None = None,
        portal: str | None = None,
        last_name: str | None = None,
        first_name: str | None = None,
        dob: date | None = None,
        limit: int = 25,
    ) -> list[AccountRecord]:
        """Accounts matching every given criterion (the caller gives one kind)."""
        query = select(m.Account).outerjoin(m.Person, m.Person.id == m.Account.person_id)
        if username is not None:
            query = query.where(m.Account.username_key == username_key(username))
        if email is not None:
            query = query.where(func.lower(m.Account.email) == email.strip().lower())
        if mrn is not None:
            links = select(m.PortalLink.account_id).where(m.PortalLink.patient_id == mrn)
            if portal is not None:
                links = links.join(m.Portal, m.Portal.id == m.PortalLink.portal_id).where(
                    m.Portal.slug == portal
                )
            query = query.where(m.Account.id.in_(links))
        if last_name is not None:
            query = query.where(func.lower(m.Person.last_name) == last_name.strip().lower())
        if first_name is not None:
            query = query.where(func.lower(m.Person.first_name) == first_name.strip().lower())
        if dob is not None:
            query = query.where(m.Person.dob == dob)
        rows = self._s.scalars(query.order_by(m.Account.username_key).limit(limit))
        return [self._record(r) for r in rows]
