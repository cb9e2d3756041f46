"""Patients a practice enrols without an account, and their confidential categories.

A young child is a Person with the practice's record (its MRN) but no Account
(DESIGN.md; issue 10 item 1): staff (``idp patients add``) or the practice's own system
(client credentials, ``portal:patients``, its own portal only) create them, and parents
then get proxy access (:mod:`idp.flows.proxy_grants`).

Confidential flags (issue 10 item 4; 45 CFR 164.502(g)(3)): the practice marks data
categories of a patient confidential; every representative's access loses them, whatever
the level. The whole set is replaced at once, with the practice's reason code, audited.

Every input is text from outside: refused with a :class:`ProxyRefusal` (a 4xx and a
stable code) before anything is written, or inside the transaction, which then rolls back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from idp.clock import Clock
from idp.policies.matching import normalise_gender, normalise_zip
from idp.policies.proxy import Category
from idp.records import AuditEntry, PortalRecord, RequestMeta
from idp.store.durable import Database
from idp.store.links import DuplicateLinkError
from idp.store.patients import PatientRecord

if TYPE_CHECKING:
    from idp.services import Services

MAX_PATIENT_ID = 64
MAX_NAME = 100
EARLIEST_DOB = date(1900, 1, 1)
GENDER_NAMES = {"F": "female", "M": "male", "X": "other"}
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP = re.compile(r"[0-9]{5}(-?[0-9]{4})?")
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
# Control characters (NUL among them), unpaired surrogates, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class ProxyRefusal(Exception):
    """Bad input or a refused change: a stable ``code``, an HTTP ``status`` and the field.

    Raised inside the flow's transaction, it rolls everything back (invariant 8).
    """

    def __init__(self, code: str, status: int, field: str) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.field = field


def _clean(raw: str) -> bool:
    return not any(unicodedata.category(c) in _BAD_CATEGORIES for c in raw)


def check_patient_id(raw: str) -> str:
    """The practice's MRN as tokens will carry it: 1-64 printable characters, no spaces."""
    value = raw.strip()
    if not value or len(value) > MAX_PATIENT_ID:
        raise ProxyRefusal("patient_id_invalid", 400, "patient_id")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ProxyRefusal("patient_id_invalid", 400, "patient_id")
    return value


def check_text(raw: str, name: str, limit: int) -> str:
    """A name, reference or reason: one line of printable text, spaces folded."""
    if not _clean(raw):
        raise ProxyRefusal(f"{name}_invalid", 400, name)
    value = " ".join(unicodedata.normalize("NFC", raw).split())
    if not value or len(value) > limit:
        raise ProxyRefusal(f"{name}_invalid", 400, name)
    return value


def check_birth_date(raw: str, *, today: date) -> date:
    text = raw.strip()
    try:
        dob = date.fromisoformat(text) if _DOB.fullmatch(text) else None
    except ValueError:  # 2023-02-30
        dob = None
    if dob is None or dob < EARLIEST_DOB or dob > today:
        raise ProxyRefusal("dob_invalid", 400, "dob")
    return dob


def check_categories(raw: Iterable[str]) -> frozenset[str]:
    values = set()
    for item in raw:
        try:
            values.add(Category(item).value)
        except ValueError:
            raise ProxyRefusal("category_invalid", 400, "categories") from None
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class PatientInput:
    """What a practice sends, as text (the API and the CLI parse to this)."""

    patient_id: str
    first_name: str
    last_name: str
    dob: str
    zip: str
    gender: str = ""


class PatientFlow:
    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    def from_services(cls, services: Services) -> PatientFlow:
        return cls(db=services.db, clock=services.clock)

    def add(
        self, portal: PortalRecord, form: PatientInput, *, actor: str, meta: RequestMeta
    ) -> PatientRecord:
        """A person without an account and their record at ``portal``."""
        now = self._clock()
        patient_id = check_patient_id(form.patient_id)
        first = check_text(form.first_name, "first_name", MAX_NAME)
        last = check_text(form.last_name, "last_name", MAX_NAME)
        dob = check_birth_date(form.dob, today=now.date())
        zip_text = form.zip.strip()
        if not _ZIP.fullmatch(zip_text):
            raise ProxyRefusal("zip_invalid", 400, "zip")
        gender = None
        if form.gender.strip():
            code = normalise_gender(re.sub(r"[^a-z]", "", form.gender.casefold()))
            if code is None or not _clean(form.gender):
                raise ProxyRefusal("gender_invalid", 400, "gender")
            gender = GENDER_NAMES[code]
        with self._db.transaction() as uow:
            try:
                patient = uow.patients.add(
                    portal,
                    patient_id,
                    first_name=first,
                    last_name=last,
                    dob=dob,
                    zip=normalise_zip(zip_text) or zip_text[:5],
                    gender=gender,
                    now=now,
                )
            except DuplicateLinkError:
                raise ProxyRefusal("patient_id_taken", 409, "patient_id") from None
            assert patient.person is not None
            uow.audit.record(
                AuditEntry(
                    type="patient_added",
                    outcome="success",
                    actor=actor,
                    subject=f"person:{patient.person.id}",
                    client_id=actor.removeprefix("client:")
                    if actor.startswith("client:")
                    else None,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    # The MRN and the demographics stay in their rows, out of the trail.
                    details={"portal": portal.slug},
                ),
                now=now,
            )
            return patient

    def set_confidential(
        self,
        portal: PortalRecord,
        patient_id: str,
        categories: Iterable[str],
        *,
        reason: str,
        actor: str,
        meta: RequestMeta,
    ) -> frozenset[str]:
        """Make the patient's confidential categories exactly ``categories``."""
        patient_id = check_patient_id(patient_id)
        wanted = check_categories(categories)
        if not _REASON_CODE.fullmatch(reason):
            raise ProxyRefusal("reason_invalid", 400, "reason")
        now = self._clock()
        with self._db.transaction() as uow:
            patient = uow.patients.find(portal, patient_id)
            if patient is None or patient.person is None:
                raise ProxyRefusal("unknown_patient", 404, "patient_id")
            added, removed = uow.confidential_flags.replace(
                portal.id, patient.person.id, wanted, reason=reason, actor=actor, now=now
            )
            if added or removed:
                uow.audit.record(
                    AuditEntry(
                        type="confidential_flags_changed",
                        outcome="success",
                        actor=actor,
                        subject=patient.account_subject or f"person:{patient.person.id}",
                        client_id=actor.removeprefix("client:")
                        if actor.startswith("client:")
                        else None,
                        ip=meta.ip,
                        user_agent=meta.user_agent,
                        details={
                            "portal": portal.slug,
                            "added": sorted(added),
                            "removed": sorted(removed),
                            "reason": reason,
                        },
                    ),
                    now=now,
                )
            return wanted

    def confidential(self, portal: PortalRecord, patient_id: str) -> frozenset[str]:
        patient_id = check_patient_id(patient_id)
        with self._db.transaction() as uow:
            patient = uow.patients.find(portal, patient_id)
            if patient is None or patient.person is None:
                raise ProxyRefusal("unknown_patient", 404, "patient_id")
            return frozenset(
                f.category for f in uow.confidential_flags.of(portal.id, patient.person.id)
            )
