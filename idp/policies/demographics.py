"""Sign-up step 1, "about you": the pure checks on name, date of birth, zip, gender, email.

A policy (DESIGN.md "Layers"): data in, a decision with reasons out, no I/O. Every
reason a form is refused is reported at once, each as a :class:`Refusal` naming the
field and a stable code (the page shows the message ``signup_<code>``).

The email address is checked by a function the caller passes in (the flow gives
:func:`idp.notify.check_email_address`, the same check every mail goes through);
a policy must not import the notify package, which pulls in the SQL outbox.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from .matching import Demographics as MatchDemographics

GENDERS = ("female", "male", "other", "unknown")
MAX_NAME = 100
EARLIEST_DOB = date(1900, 1, 1)

_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")


def read_date(text: str) -> date | None:
    """A date as a date input sends it (YYYY-MM-DD) or as the pages' hint asks a patient
    to type it where the browser shows a plain text box (MM/DD/YYYY); None otherwise,
    including impossible dates such as 02/30/2023."""
    try:
        if _DOB.fullmatch(text):
            return date.fromisoformat(text)
        us = _US_DATE.fullmatch(text)
        if us:
            month, day, year = (int(part) for part in us.groups())
            return date(year, month, day)
    except ValueError:
        return None
    return None


_ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
# Control characters, unpaired surrogates, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Returns the address as it will be stored, or raises ValueError.
EmailCheck = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason a step was refused: the field it concerns and a stable code."""

    field: str
    code: str


@dataclass(frozen=True, slots=True)
class DemographicsInput:
    """Step 1 as typed (stripped by the view, cut just past each field's limit)."""

    first_name: str
    last_name: str
    dob: str
    zip: str
    gender: str
    email: str


@dataclass(frozen=True, slots=True)
class Demographics:
    first_name: str
    last_name: str
    dob: date
    zip: str
    gender: str
    email: str

    def for_matching(self) -> MatchDemographics:
        return MatchDemographics(
            first_name=self.first_name,
            last_name=self.last_name,
            dob=self.dob,
            zip=self.zip,
            gender=self.gender,
            email=self.email,
        )


def clean_text(value: str) -> str:
    """NFC, runs of white space made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def _check_name(field: str, raw: str) -> list[Refusal]:
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in raw):
        return [Refusal(field, f"{field}_invalid")]
    value = clean_text(raw)
    if not value:
        return [Refusal(field, f"{field}_required")]
    if len(value) > MAX_NAME:
        return [Refusal(field, f"{field}_too_long")]
    return []


def age_on(dob: date, today: date) -> int:
    """Whole years lived; someone born on 29 February turns a year older on 1 March."""
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def check_demographics(
    form: DemographicsInput, *, today: date, min_age: int, check_email: EmailCheck
) -> tuple[Demographics | None, list[Refusal]]:
    """Every reason step 1 is refused, at once; or the clean demographics."""
    refusals = _check_name("first_name", form.first_name) + _check_name("last_name", form.last_name)
    dob: date | None = None
    if not form.dob:
        refusals.append(Refusal("dob", "dob_required"))
    else:
        dob = read_date(form.dob)
        if dob is None:  # not a date, or 2023-02-30 and friends
            refusals.append(Refusal("dob", "dob_invalid"))
    if dob is not None:
        if dob > today:
            refusals.append(Refusal("dob", "dob_in_future"))
        elif dob < EARLIEST_DOB:
            refusals.append(Refusal("dob", "dob_invalid"))
        elif age_on(dob, today) < min_age:
            refusals.append(Refusal("dob", "dob_under_min_age"))
    if not _ZIP.fullmatch(form.zip):
        refusals.append(Refusal("zip", "zip_invalid"))
    if form.gender not in GENDERS:
        refusals.append(Refusal("gender", "gender_invalid"))
    email = ""
    try:
        email = check_email(form.email)
    except ValueError:
        refusals.append(Refusal("email", "email_invalid"))
    if refusals or dob is None:
        return None, refusals
    demographics = Demographics(
        first_name=clean_text(form.first_name),
        last_name=clean_text(form.last_name),
        dob=dob,
        zip=form.zip,
        gender=form.gender,
        email=email,
    )
    return demographics, []
