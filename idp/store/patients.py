"""Patients of a practice (a person and their record there), as flows see them.

``idp.store.sql.patients.PatientRepository`` implements :class:`PatientStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from idp.records import PersonRecord, PortalRecord
from idp.store.links import ACTIVE


@dataclass(frozen=True, slots=True)
class PatientRecord:
    portal: PortalRecord
    patient_id: str  # the practice's MRN
    link_status: str
    person: PersonRecord | None  # None: an account made without demographics
    account_id: int | None = None
    account_subject: str | None = None
    account_email: str | None = None
    account_phone: str | None = None

    @property
    def is_active(self) -> bool:
        return self.link_status == ACTIVE


class PatientStore(Protocol):
    """Persons with a record at a practice, with or without an account."""

    def claim(
        self, portal_id: int, patient_id: str, account_id: int, *, now: datetime
    ) -> int | None:
        """The account takes over a person's record; None when it is not one to claim."""

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
        """A person without an account and their record at the practice (one transaction)."""

    def find(self, portal: PortalRecord, patient_id: str) -> PatientRecord | None:
        """The patient holding this MRN at the practice, whatever the link's status."""

    def of_person(self, portal: PortalRecord, person_id: int) -> PatientRecord | None:
        """The person's record at the practice: their own link, or their account's."""

    def person(self, person_id: int) -> PersonRecord | None: ...

    def portal(self, portal_id: int) -> PortalRecord: ...

    def accounts_of_person(self, person_id: int) -> list[int]:
        """Accounts whose person this is (one, by the one-person-one-account rule)."""
