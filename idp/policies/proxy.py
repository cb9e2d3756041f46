"""Proxy access: what a representative may see of a patient's record, on a given day.

Pure: the flow fetches the grant and both birth dates, resolves the practice's time
zone (``zoneinfo`` reads files, so that lookup stays with the caller) and passes the
moment ``at`` of the token being issued. Every age is computed from the birth date at
that moment, on the calendar of the practice's time zone, so access changes on the
birthday itself without a nightly job (standards.md §3 note (b)).

The levels are the columns of standards.md §3 (proxy-access matrix):

    child (under teen_age)        FULL          parent or legal guardian, granted by staff
    teen (teen_age..majority)     TEEN_LIMITED  automatically from the teen birthday
                                  TEEN_FULL     teen co-signed and staff approved
    adult (majority and over)     ADULT         the adult patient's own grant (expires
                                                after adult_grant_months unless renewed)
                                                or a guardianship / POA document on file
                                                (which lasts until the grant ends)
    anything else                 NONE

A representative under ``representative_min_age`` is refused (the portal FAQs: "A PCR
must be at least 18 years old"). Categories flagged confidential for the patient are
removed at every level: a parent is not the personal representative for care the minor
consented to alone (45 CFR 164.502(g)(3), standards.md row 33).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum


class Relationship(StrEnum):
    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    HEALTHCARE_POA = "healthcare_poa"  # health-care proxy or power of attorney
    CONSERVATOR = "conservator"
    OTHER = "other"


class GrantKind(StrEnum):
    STAFF = "staff"  # made by staff for a minor, on the practice's signed form
    PATIENT = "patient"  # made by the adult patient online (invitation or renewal)


class GrantStatus(StrEnum):
    PENDING_COSIGNATURE = "pending_cosignature"
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ProxyLevel(StrEnum):
    FULL = "full"
    TEEN_LIMITED = "teen_limited"
    TEEN_FULL = "teen_full"
    ADULT = "adult"
    NONE = "none"


class Category(StrEnum):
    """The data categories of standards.md §3 (rows of the proxy-access matrix)."""

    APPOINTMENTS = "appointments"  # scheduling, requests, cancellations
    MESSAGES = "messages"  # messages to and from the care team
    RESULTS = "results"  # lab and imaging results
    MEDICATIONS = "medications"  # medication list and refill requests
    IMMUNIZATIONS = "immunizations"
    ALLERGIES = "allergies"
    VISITS = "visits"  # visit details and clinical notes
    BILLING = "billing"
    DEMOGRAPHICS = "demographics"  # profile: contact details, demographics
    DOCUMENTS = "documents"  # letters, forms and other shared documents


ALL_CATEGORIES = frozenset(Category)

# The limited-teen column: scheduling, messages to the care team, immunizations,
# allergies; no results, medications, visit details or notes (KP, CHOC, Hurley, Hopkins).
TEEN_LIMITED_CATEGORIES = frozenset(
    {Category.APPOINTMENTS, Category.MESSAGES, Category.IMMUNIZATIONS, Category.ALLERGIES}
)

LEVEL_CATEGORIES: dict[ProxyLevel, frozenset[Category]] = {
    ProxyLevel.FULL: ALL_CATEGORIES,
    ProxyLevel.TEEN_LIMITED: TEEN_LIMITED_CATEGORIES,
    ProxyLevel.TEEN_FULL: ALL_CATEGORIES,
    ProxyLevel.ADULT: ALL_CATEGORIES,
    ProxyLevel.NONE: frozenset(),
}

# A minor's representative is a parent or guardian (the portal FAQs: "Accounts for
# patients under the age of 18 must be associated with the account of a parent or
# guardian"); other relationships need the adult patient's own grant or a document.
_MINOR_RELATIONSHIPS = frozenset({Relationship.PARENT, Relationship.LEGAL_GUARDIAN})


@dataclass(frozen=True, slots=True)
class ProxyRules:
    """One practice's ages and periods (standards.md §2, last row)."""

    # From this birthday a parent's access is limited (state law: 12, 13 or 14).
    teen_age: int = 13
    # At this birthday a minor's grant ends (configurable age of majority).
    majority_age: int = 18
    # An adult-to-adult grant lapses after this many months unless renewed
    # (Cincinnati Children's: renew every 18 months).
    adult_grant_months: int = 18
    # The portal FAQs: "A PCR must be at least 18 years old".
    representative_min_age: int = 18
    # The practice's calendar: birthdays and expiry dates begin at its local midnight.
    time_zone: tzinfo = UTC

    def __post_init__(self) -> None:
        if not 0 < self.teen_age < self.majority_age <= 25:
            raise ValueError("need 0 < teen_age < majority_age <= 25")
        if not 1 <= self.adult_grant_months <= 120:
            raise ValueError("adult_grant_months must be between 1 and 120")
        if not 0 < self.representative_min_age <= 25:
            raise ValueError("representative_min_age must be between 1 and 25")


# Presets are data: a practice picks the teen age its state's law sets.
PROXY_PRESETS: dict[str, ProxyRules] = {
    "teen-13": ProxyRules(),
    "teen-12": ProxyRules(teen_age=12),  # California, Michigan, North Carolina customers
    "teen-14": ProxyRules(teen_age=14),  # Hurley
}


@dataclass(frozen=True, slots=True)
class ProxyFacts:
    """One grant (representative -> patient) as the flow read it from storage."""

    patient_birth_date: date
    representative_birth_date: date
    relationship: Relationship
    grant_kind: GrantKind
    grant_status: GrantStatus
    # Teen full access needs both: the teen's signature and a staff member's approval.
    teen_cosigned_full: bool = False
    staff_approved_full: bool = False
    # A guardianship or power-of-attorney document kept by the practice.
    legal_document_on_file: bool = False
    # The adult patient's own grant (or its latest renewal), a local date.
    adult_grant_started_on: date | None = None
    # An end set on the grant itself (by staff or either side); access stops that day.
    grant_ends_on: date | None = None
    # Categories flagged confidential for this patient (164.502(g)(3)).
    confidential: frozenset[Category] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ProxyDecision:
    allowed: bool
    level: ProxyLevel
    categories: frozenset[Category]
    reasons: tuple[str, ...]  # stable codes for audit and pages
    ends_at: datetime | None  # when this access stops, as things stand (UTC)
    next_transition_at: datetime | None  # the next moment the access changes (UTC)


class TransitionKind(StrEnum):
    REPRESENTATIVE_ADULT = "representative_adult"
    TEEN_AGE = "teen_age"
    MAJORITY = "majority"
    ADULT_GRANT_START = "adult_grant_start"
    ADULT_GRANT_EXPIRY = "adult_grant_expiry"
    GRANT_END = "grant_end"


@dataclass(frozen=True, slots=True)
class ProxyTransition:
    at: datetime  # the practice's local midnight, in UTC
    kind: TransitionKind
    level_before: ProxyLevel
    level_after: ProxyLevel
    categories_after: frozenset[Category]


def nth_birthday(birth: date, years: int) -> date:
    """The date someone born on ``birth`` turns ``years``.

    Born on 29 February, a person turns a year older on 1 March of a common year: the
    full year has then run. This is the statutory rule where one is written down, e.g.
    Maryland General Provisions §1-303(b): "An individual born on February 29 attains a
    specified age on March 1 of any year that is not a leap year."
    """
    year = birth.year + years
    if year > MAXYEAR:
        return date.max
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def age_on(birth: date, day: date) -> int:
    """Completed years on the local date ``day`` (negative before birth)."""
    years = day.year - birth.year
    return years if day >= nth_birthday(birth, years) else years - 1


def months_after(start: date, months: int) -> date:
    """The same day ``months`` later; a day the month lacks (31 August + 18 months)
    rolls to the 1st of the next month, as leap-day birthdays do, so the whole period
    always runs."""
    years, month0 = divmod(start.month - 1 + months, 12)
    year = start.year + years
    if year > MAXYEAR:
        return date.max
    try:
        return date(year, month0 + 1, start.day)
    except ValueError:  # the 1st of the month after
        return date(year + (month0 + 1) // 12, (month0 + 1) % 12 + 1, 1)


def local_date(at: datetime, rules: ProxyRules) -> date:
    """The practice's calendar date at ``at`` (2030-05-01T03:00Z is 30 April in Los Angeles)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be an aware datetime")
    return at.astimezone(rules.time_zone).date()


def local_midnight(day: date, rules: ProxyRules) -> datetime:
    """The first instant of ``day`` on the practice's calendar, in UTC.

    In a time zone whose clocks jump forward at midnight, zoneinfo reads the missing
    00:00 with the earlier offset, which is exactly the instant the day begins.
    """
    return datetime.combine(day, time(0), tzinfo=rules.time_zone).astimezone(UTC)


def _assess(facts: ProxyFacts, rules: ProxyRules, day: date) -> tuple[ProxyLevel, list[str]]:
    """The level on the local date ``day`` and the reason codes that led to it."""
    refusals = []
    if facts.grant_status is not GrantStatus.ACTIVE:
        refusals.append(f"grant_{facts.grant_status.value}")
    if facts.grant_ends_on is not None and day >= facts.grant_ends_on:
        refusals.append("grant_ended")
    if age_on(facts.representative_birth_date, day) < rules.representative_min_age:
        refusals.append("representative_under_age")
    if facts.patient_birth_date > day:
        refusals.append("patient_birth_date_in_future")
    if refusals:
        return ProxyLevel.NONE, refusals

    patient_age = age_on(facts.patient_birth_date, day)
    if patient_age >= rules.majority_age:
        if facts.legal_document_on_file:
            return ProxyLevel.ADULT, ["legal_document_on_file"]
        started = facts.adult_grant_started_on
        majority = nth_birthday(facts.patient_birth_date, rules.majority_age)
        # Only a grant the patient made as an adult counts; a minor's consent does not.
        if started is None or started < majority or started > day:
            return ProxyLevel.NONE, ["majority_reached"]
        if day >= months_after(started, rules.adult_grant_months):
            return ProxyLevel.NONE, ["adult_grant_expired"]
        return ProxyLevel.ADULT, ["adult_grant"]

    if facts.grant_kind is GrantKind.PATIENT:
        return ProxyLevel.NONE, ["patient_grant_for_minor"]
    if facts.relationship not in _MINOR_RELATIONSHIPS:
        return ProxyLevel.NONE, ["relationship_not_for_minor"]
    if patient_age < rules.teen_age:
        return ProxyLevel.FULL, ["child"]
    if facts.teen_cosigned_full and facts.staff_approved_full:
        return ProxyLevel.TEEN_FULL, ["teen_full"]
    pending = "teen_not_cosigned" if not facts.teen_cosigned_full else "staff_not_approved"
    return ProxyLevel.TEEN_LIMITED, ["teen_limited", pending]


def _categories(facts: ProxyFacts, level: ProxyLevel) -> frozenset[Category]:
    return LEVEL_CATEGORIES[level] - facts.confidential


def next_transitions(
    facts: ProxyFacts, rules: ProxyRules, after: datetime
) -> tuple[ProxyTransition, ...]:
    """Every later moment at which this grant's access changes, earliest first.

    The candidates are the representative's coming of age, the patient's teen and
    majority birthdays, the adult grant's start and expiry and the grant's own end; one is
    kept only when the level or the categories differ from the day before, so the
    periodic notifier tells both sides exactly when something changes.
    """
    local_date(after, rules)  # refuse a naive datetime early
    birth, rep_birth = facts.patient_birth_date, facts.representative_birth_date
    rep_adult = nth_birthday(rep_birth, rules.representative_min_age)
    dated: list[tuple[date | None, TransitionKind]] = [
        (rep_adult, TransitionKind.REPRESENTATIVE_ADULT),
        (nth_birthday(birth, rules.teen_age), TransitionKind.TEEN_AGE),
        (nth_birthday(birth, rules.majority_age), TransitionKind.MAJORITY),
        (facts.grant_ends_on, TransitionKind.GRANT_END),
    ]
    if facts.adult_grant_started_on is not None:
        dated.append((facts.adult_grant_started_on, TransitionKind.ADULT_GRANT_START))
        expiry = months_after(facts.adult_grant_started_on, rules.adult_grant_months)
        dated.append((expiry, TransitionKind.ADULT_GRANT_EXPIRY))
    candidates: dict[date, TransitionKind] = {}
    for day, kind in dated:
        if day is not None and date.min < day < date.max:
            candidates.setdefault(day, kind)
    transitions = []
    for day in sorted(candidates):
        at = local_midnight(day, rules)
        if at <= after:
            continue
        before, _ = _assess(facts, rules, day - timedelta(days=1))
        level, _ = _assess(facts, rules, day)
        if (before, _categories(facts, before)) != (level, _categories(facts, level)):
            transitions.append(
                ProxyTransition(at, candidates[day], before, level, _categories(facts, level))
            )
    return tuple(transitions)


def check_proxy_access(facts: ProxyFacts, rules: ProxyRules, at: datetime) -> ProxyDecision:
    """What the representative may see of the patient's record at ``at``."""
    level, reasons = _assess(facts, rules, local_date(at, rules))
    categories = _categories(facts, level)
    if LEVEL_CATEGORIES[level] & facts.confidential:
        reasons.append("confidential_withheld")
    coming = next_transitions(facts, rules, at)
    ends = next((t.at for t in coming if t.level_after is ProxyLevel.NONE), None)
    return ProxyDecision(
        allowed=level is not ProxyLevel.NONE,
        level=level,
        categories=categories,
        reasons=tuple(reasons),
        ends_at=ends if level is not ProxyLevel.NONE else None,
        next_transition_at=coming[0].at if coming else None,
    )
