"""Patients as a practice knows them: a portal link (its MRN) and the person behind it.

A patient may have an account (the link belongs to it, the person is the account's) or
not yet (a young child: the link belongs to the person, issue 10 item 1). Proxy grants
point at the person, so a child who later gets an account keeps the grants made for them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from idp.records import PersonRecord, PortalRecord
from idp.store.links import ACTIVE
from idp.store.patients import PatientRecord

from . import models as m
from .portal_links import PortalLinkRepository


def _person(row: m.Person) -> PersonRecord:
    return PersonRecord(
        id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        dob=row.dob,
        zip=row.zip,
        gender=row.gender,
        phone=row.phone,
        email=row.email,
    )


class PatientRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(
        self,
        portal: PortalRecord,
        patient_id: str,
        *,
        first_name: str,
        last_name: str,
        dob: date,
        zip: str,
        gender: str | None,
        now: datetime,
    ) -> PatientRecord:
        """A person without an account and their record at the practice (one transaction).

        Raises :class:`~idp.store.sql.portal_links.DuplicateLinkError` when the MRN is
        already used at the practice; the caller's transaction then rolls back the person.
        """
        person = m.Person(
            first_name=first_name,
            last_name=last_name,
            dob=dob,
            zip=zip,
            gender=gender,
            created_at=now,
        )
        self._s.add(person)
        self._s.flush()
        PortalLinkRepository(self._s).link_person(person.id, portal.id, patient_id, now)
        return PatientRecord(
            portal=portal, patient_id=patient_id, link_status=ACTIVE, person=_person(person)
        )

    def find(self, portal: PortalRecord, patient_id: str) -> PatientRecord | None:
        """The patient holding this MRN at the practice, whatever the link's status."""
        link = self._s.scalar(
            select(m.PortalLink).where(
                m.PortalLink.portal_id == portal.id, m.PortalLink.patient_id == patient_id
            )
        )
        return None if link is None else self._record(portal, link)

    def of_person(self, portal: PortalRecord, person_id: int) -> PatientRecord | None:
        """The person's record at the practice: their own link, or their account's."""
        accounts = select(m.Account.id).where(m.Account.person_id == person_id)
        link = self._s.scalar(
            select(m.PortalLink)
            .where(
                m.PortalLink.portal_id == portal.id,
                or_(m.PortalLink.person_id == person_id, m.PortalLink.account_id.in_(accounts)),
            )
            .order_by(m.PortalLink.id)
            .limit(1)
        )
        return None if link is None else self._record(portal, link)

    def _record(self, portal: PortalRecord, link: m.PortalLink) -> PatientRecord:
        account = self._s.get(m.Account, link.account_id) if link.account_id else None
        person_id = link.person_id or (account.person_id if account is not None else None)
        person = self._s.get(m.Person, person_id) if person_id else None
        return PatientRecord(
            portal=portal,
            patient_id=link.patient_id,
            link_status=link.status,
            person=None if person is None else _person(person),
            account_id=None if account is None else account.id,
            account_subject=None if account is None else account.subject,
            account_email=None if account is None else account.email,
            account_phone=None if account is None else account.phone,
        )

    def person(self, person_id: int) -> PersonRecord | None:
        row = self._s.get(m.Person, person_id)
        return None if row is None else _person(row)

    def portal(self, portal_id: int) -> PortalRecord:
        row = self._s.get(m.Portal, portal_id)
        assert row is not None, "a grant's portal is never removed"
        return PortalRecord(
            id=row.id,
            slug=row.slug,
            name=row.name,
            require_mfa=bool(row.require_mfa),
            teen_age=row.proxy_teen_age,
            majority_age=row.proxy_majority_age,
            adult_grant_months=row.proxy_adult_grant_months,
            time_zone=row.time_zone,
        )

    def claim(
        self, portal_id: int, patient_id: str, account_id: int, *, now: datetime
    ) -> int | None:
        """The account takes over a person's record (issue 10 item 1): the link gets the
        account and the account gets the person, so every grant and flag made for the
        person stays with the patient. One conditional UPDATE: of two concurrent claims
        one wins; None when the record is not (or no longer) a person's without account.
        Returns the person's id."""
        link = self._s.scalar(
            select(m.PortalLink).where(
                m.PortalLink.portal_id == portal_id,
                m.PortalLink.patient_id == patient_id,
                m.PortalLink.account_id.is_(None),
                m.PortalLink.person_id.is_not(None),
            )
        )
        if link is None:
            return None
        person_id = link.person_id
        result = self._s.execute(
            update(m.PortalLink)
            .where(m.PortalLink.id == link.id, m.PortalLink.account_id.is_(None))
            .values(account_id=account_id)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(person_id=person_id, updated_at=now)
        )
        self._s.flush()
        return person_id

    def accounts_of_person(self, person_id: int) -> list[int]:
        """Accounts whose person this is (one, by the one-person-one-account rule)."""
        return list(self._s.scalars(select(m.Account.id).where(m.Account.person_id == person_id)))
