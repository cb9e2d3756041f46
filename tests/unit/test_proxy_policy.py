"""Proxy access as tables: every birthday boundary, time zones, grants and scope cuts.

The rows follow issue 10 ("How it is verified") and standards.md §3.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.policies.proxy import (
    ALL_CATEGORIES,
    PROXY_PRESETS,
    TEEN_LIMITED_CATEGORIES,
    Category,
    GrantKind,
    GrantStatus,
    ProxyFacts,
    ProxyLevel,
    ProxyRules,
    Relationship,
    TransitionKind,
    age_on,
    check_proxy_access,
    local_date,
    local_midnight,
    months_after,
    next_transitions,
    nth_birthday,
)
from idp.policies.proxy_scopes import allowed_resource_types, cut_scopes

F, L, T, A, N = (
    ProxyLevel.FULL,
    ProxyLevel.TEEN_LIMITED,
    ProxyLevel.TEEN_FULL,
    ProxyLevel.ADULT,
    ProxyLevel.NONE,
)
LA = ZoneInfo("America/Los_Angeles")
PARENT_BORN = date(1985, 3, 2)


def facts(patient_born: date, **changes: object) -> ProxyFacts:
    """An active staff grant from an adult parent, with the given changes."""
    base = ProxyFacts(
        patient_birth_date=patient_born,
        representative_birth_date=PARENT_BORN,
        relationship=Relationship.PARENT,
        grant_kind=GrantKind.STAFF,
        grant_status=GrantStatus.ACTIVE,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def noon(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00+00:00")


# Patient born 2016-06-15: the day before and the day of the 12th, 13th, 14th and 18th
# birthdays, for each teen-age preset.
BOUNDARY_DAYS = [
    "2028-06-14",
    "2028-06-15",
    "2029-06-14",
    "2029-06-15",
    "2030-06-14",
    "2030-06-15",
    "2034-06-14",
    "2034-06-15",
]
BOUNDARY_LEVELS = {
    "teen-12": [F, L, L, L, L, L, L, N],
    "teen-13": [F, F, F, L, L, L, L, N],
    "teen-14": [F, F, F, F, F, L, L, N],
}


@pytest.mark.parametrize(
    ("preset", "day", "level"),
    [
        (preset, day, level)
        for preset, levels in BOUNDARY_LEVELS.items()
        for day, level in zip(BOUNDARY_DAYS, levels, strict=True)
    ],
)
def test_levels_change_on_the_birthday_itself(preset: str, day: str, level: ProxyLevel) -> None:
    decision = check_proxy_access(facts(date(2016, 6, 15)), PROXY_PRESETS[preset], noon(day))
    assert decision.level is level
    assert decision.allowed is (level is not N)


@pytest.mark.parametrize(
    ("preset", "day", "level"),
    [
        (preset, day, T if level is L else level)
        for preset, levels in BOUNDARY_LEVELS.items()
        for day, level in zip(BOUNDARY_DAYS, levels, strict=True)
    ],
)
def test_cosigned_and_approved_teen_gets_teen_full(
    preset: str, day: str, level: ProxyLevel
) -> None:
    cosigned = facts(date(2016, 6, 15), teen_cosigned_full=True, staff_approved_full=True)
    assert check_proxy_access(cosigned, PROXY_PRESETS[preset], noon(day)).level is level


@pytest.mark.parametrize(
    ("cosigned", "approved", "level", "reason"),
    [
        (False, False, L, "teen_not_cosigned"),
        (True, False, L, "staff_not_approved"),
        (False, True, L, "teen_not_cosigned"),
        (True, True, T, "teen_full"),
    ],
)
def test_teen_full_needs_the_teen_signature_and_staff_approval(
    cosigned: bool, approved: bool, level: ProxyLevel, reason: str
) -> None:
    teen = facts(date(2016, 6, 15), teen_cosigned_full=cosigned, staff_approved_full=approved)
    decision = check_proxy_access(teen, ProxyRules(), noon("2031-01-01"))
    assert decision.level is level
    assert reason in decision.reasons
    expected = ALL_CATEGORIES if level is T else TEEN_LIMITED_CATEGORIES
    assert decision.categories == expected


@pytest.mark.parametrize(
    ("born", "years", "birthday"),
    [
        (date(2016, 2, 29), 13, date(2029, 3, 1)),  # common year: 1 March
        (date(2016, 2, 29), 12, date(2028, 2, 29)),  # leap year: the day itself
        (date(2016, 2, 29), 18, date(2034, 3, 1)),
        (date(2016, 2, 28), 13, date(2029, 2, 28)),
        (date(2016, 3, 1), 13, date(2029, 3, 1)),
        (date(9990, 1, 1), 18, date.max),  # beyond the calendar: never
    ],
)
def test_nth_birthday(born: date, years: int, birthday: date) -> None:
    assert nth_birthday(born, years) == birthday


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (date(2016, 2, 29), date(2029, 2, 28), 12),
        (date(2016, 2, 29), date(2029, 3, 1), 13),
        (date(2016, 2, 29), date(2028, 2, 28), 11),
        (date(2016, 2, 29), date(2028, 2, 29), 12),
        (date(2016, 6, 15), date(2016, 6, 14), -1),
        (date(2016, 6, 15), date(2016, 6, 15), 0),
    ],
)
def test_age_on_leap_day_birthdays(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age


@pytest.mark.parametrize(
    ("preset", "day", "level"),
    [
        ("teen-13", "2029-02-28", F),  # 2029 has no 29 February
        ("teen-13", "2029-03-01", L),
        ("teen-12", "2028-02-28", F),  # 2028 has one
        ("teen-12", "2028-02-29", L),
        ("teen-13", "2034-02-28", L),
        ("teen-13", "2034-03-01", N),
    ],
)
def test_leap_day_patient(preset: str, day: str, level: ProxyLevel) -> None:
    leapling = facts(date(2016, 2, 29))
    assert check_proxy_access(leapling, PROXY_PRESETS[preset], noon(day)).level is level


@pytest.mark.parametrize(
    ("day", "allowed"), [("2026-02-28", False), ("2026-03-01", True), ("2028-02-29", True)]
)
def test_leap_day_representative_turns_18_on_1_march(day: str, allowed: bool) -> None:
    child = facts(date(2024, 1, 1), representative_birth_date=date(2008, 2, 29))
    assert check_proxy_access(child, ProxyRules(), noon(day)).allowed is allowed


@pytest.mark.parametrize(
    ("zone", "at", "level"),
    [
        ("America/Los_Angeles", "2030-05-01T03:00:00+00:00", F),  # still 30 April there
        ("America/Los_Angeles", "2030-05-01T06:59:59+00:00", F),
        ("America/Los_Angeles", "2030-05-01T07:00:00+00:00", L),  # local midnight (PDT)
        ("UTC", "2030-04-30T23:59:59+00:00", F),
        ("UTC", "2030-05-01T00:00:00+00:00", L),
        ("Asia/Tokyo", "2030-04-30T14:59:59+00:00", F),
        ("Asia/Tokyo", "2030-04-30T15:00:00+00:00", L),  # 1 May already in Tokyo
        ("America/Los_Angeles", "2030-04-30T20:00:00-07:00", F),  # offsets are respected
    ],
)
def test_birthday_follows_the_practice_calendar(zone: str, at: str, level: ProxyLevel) -> None:
    rules = ProxyRules(time_zone=ZoneInfo(zone))
    decision = check_proxy_access(facts(date(2017, 5, 1)), rules, datetime.fromisoformat(at))
    assert decision.level is level


def test_next_transition_is_the_practice_midnight_in_utc() -> None:
    rules = ProxyRules(time_zone=LA)
    decision = check_proxy_access(facts(date(2017, 5, 1)), rules, noon("2030-04-01"))
    assert decision.next_transition_at == datetime(2030, 5, 1, 7, tzinfo=UTC)
    assert decision.ends_at == datetime(2035, 5, 1, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/Havana", date(2030, 3, 10)),  # Cuba moves its clocks at midnight
        ("America/Santiago", date(2030, 9, 8)),
        ("America/Los_Angeles", date(2030, 3, 10)),
        ("America/Los_Angeles", date(2030, 11, 3)),
        ("Pacific/Kiritimati", date(2030, 1, 1)),
    ],
)
def test_local_midnight_is_the_first_instant_of_the_day(zone: str, day: date) -> None:
    rules = ProxyRules(time_zone=ZoneInfo(zone))
    start = local_midnight(day, rules)
    assert local_date(start, rules) == day
    assert local_date(start - timedelta(microseconds=1), rules) == day - timedelta(days=1)


def test_proxy_policy_imports_no_io_layer() -> None:
    """Pure: no storage, no web, and not even zoneinfo (its lookup reads files)."""
    code = (
        "import sys, idp.policies.proxy, idp.policies.proxy_scopes; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'redis', 'zoneinfo', 'smtplib', 'socket')"
        " or (m.startswith('idp.') and not m.startswith('idp.policies'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        check_proxy_access(facts(date(2020, 1, 1)), ProxyRules(), datetime(2030, 1, 1))


@pytest.mark.parametrize(
    ("day", "allowed", "reason"),
    [
        ("2030-09-09", False, "representative_under_age"),
        ("2030-09-10", True, "child"),
    ],
)
def test_representative_must_be_18(day: str, allowed: bool, reason: str) -> None:
    young_parent = facts(date(2029, 1, 1), representative_birth_date=date(2012, 9, 10))
    decision = check_proxy_access(young_parent, ProxyRules(), noon(day))
    assert decision.allowed is allowed
    assert reason in decision.reasons
    if not allowed:
        assert decision.categories == frozenset()
        assert decision.next_transition_at == datetime(2030, 9, 10, tzinfo=UTC)


ADULT_BORN = date(2000, 1, 1)
LEVEL_FACTS = {
    F: facts(date(2025, 1, 1)),
    L: facts(date(2016, 1, 1)),
    T: facts(date(2016, 1, 1), teen_cosigned_full=True, staff_approved_full=True),
    A: facts(ADULT_BORN, grant_kind=GrantKind.PATIENT, adult_grant_started_on=date(2030, 1, 1)),
}


@pytest.mark.parametrize("level", [F, L, T, A])
@pytest.mark.parametrize(
    "flagged",
    [
        frozenset({Category.RESULTS}),
        frozenset({Category.IMMUNIZATIONS, Category.MESSAGES}),
        frozenset({Category.MEDICATIONS, Category.VISITS, Category.DOCUMENTS}),
        ALL_CATEGORIES,
    ],
)
def test_confidential_flags_win_over_every_level(
    level: ProxyLevel, flagged: frozenset[Category]
) -> None:
    plain = check_proxy_access(LEVEL_FACTS[level], ProxyRules(), noon("2030-06-01"))
    decision = check_proxy_access(
        replace(LEVEL_FACTS[level], confidential=flagged), ProxyRules(), noon("2030-06-01")
    )
    assert plain.level is decision.level is level
    assert not decision.categories & flagged
    assert decision.categories == plain.categories - flagged
    assert ("confidential_withheld" in decision.reasons) is bool(plain.categories & flagged)


@pytest.mark.parametrize(
    ("started", "day", "level", "reason"),
    [
        (date(2030, 3, 15), "2031-09-14", A, "adult_grant"),
        (date(2030, 3, 15), "2031-09-15", N, "adult_grant_expired"),  # 18 months on
        (date(2031, 9, 10), "2031-09-15", A, "adult_grant"),  # renewed
        (date(2030, 8, 31), "2032-02-29", A, "adult_grant"),  # no 31 February:
        (date(2030, 8, 31), "2032-03-01", N, "adult_grant_expired"),  # the 1st after
        (date(2030, 7, 1), "2030-06-30", N, "majority_reached"),  # not started yet
    ],
)
def test_adult_grant_expires_after_18_months(
    started: date, day: str, level: ProxyLevel, reason: str
) -> None:
    adult = facts(ADULT_BORN, grant_kind=GrantKind.PATIENT, adult_grant_started_on=started)
    decision = check_proxy_access(adult, ProxyRules(), noon(day))
    assert decision.level is level
    assert reason in decision.reasons


def test_adult_grant_period_is_configurable() -> None:
    adult = facts(ADULT_BORN, grant_kind=GrantKind.PATIENT, adult_grant_started_on=date(2030, 1, 1))
    rules = ProxyRules(adult_grant_months=6)
    assert check_proxy_access(adult, rules, noon("2030-06-30")).allowed
    assert not check_proxy_access(adult, rules, noon("2030-07-01")).allowed
    decision = check_proxy_access(adult, rules, noon("2030-02-01"))
    assert decision.ends_at == decision.next_transition_at == datetime(2030, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2030, 3, 15), 18, date(2031, 9, 15)),
        (date(2030, 1, 31), 1, date(2030, 3, 1)),
        (date(2030, 8, 31), 18, date(2032, 3, 1)),
        (date(2030, 8, 29), 18, date(2032, 2, 29)),
        (date(2031, 8, 29), 18, date(2033, 3, 1)),
        (date(2030, 11, 30), 3, date(2031, 3, 2 - 1)),
        (date(2030, 7, 15), 12, date(2031, 7, 15)),
    ],
)
def test_months_after(start: date, months: int, end: date) -> None:
    assert months_after(start, months) == end


# Patient born 2012-06-15 turns 18 on 2030-06-15 under a parent's staff grant.
@pytest.mark.parametrize(
    ("changes", "day", "level", "reason"),
    [
        ({}, "2030-06-14", L, "teen_limited"),
        ({}, "2030-06-15", N, "majority_reached"),
        ({"legal_document_on_file": True}, "2030-06-15", A, "legal_document_on_file"),
        ({"legal_document_on_file": True}, "2040-01-01", A, "legal_document_on_file"),
        ({"adult_grant_started_on": date(2030, 6, 15)}, "2030-06-15", A, "adult_grant"),
        ({"adult_grant_started_on": date(2030, 6, 14)}, "2030-06-15", N, "majority_reached"),
        ({"adult_grant_started_on": date(2030, 7, 1)}, "2030-06-20", N, "majority_reached"),
        ({"adult_grant_started_on": date(2030, 7, 1)}, "2030-07-01", A, "adult_grant"),
    ],
)
def test_grant_ends_at_majority_unless_renewed_or_documented(
    changes: dict[str, object], day: str, level: ProxyLevel, reason: str
) -> None:
    decision = check_proxy_access(facts(date(2012, 6, 15), **changes), ProxyRules(), noon(day))
    assert decision.level is level
    assert reason in decision.reasons


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"grant_status": GrantStatus.PENDING_COSIGNATURE}, "grant_pending_cosignature"),
        ({"grant_status": GrantStatus.PENDING_APPROVAL}, "grant_pending_approval"),
        ({"grant_status": GrantStatus.REVOKED}, "grant_revoked"),
        ({"grant_status": GrantStatus.EXPIRED}, "grant_expired"),
        ({"grant_ends_on": date(2030, 6, 1)}, "grant_ended"),
        ({"patient_birth_date": date(2030, 6, 2)}, "patient_birth_date_in_future"),
        ({"grant_kind": GrantKind.PATIENT}, "patient_grant_for_minor"),
        ({"relationship": Relationship.OTHER}, "relationship_not_for_minor"),
        ({"relationship": Relationship.HEALTHCARE_POA}, "relationship_not_for_minor"),
        ({"relationship": Relationship.CONSERVATOR}, "relationship_not_for_minor"),
    ],
)
def test_refusals_name_their_reason(changes: dict[str, object], reason: str) -> None:
    decision = check_proxy_access(
        facts(date(2025, 1, 1), **changes), ProxyRules(), noon("2030-06-01")
    )
    assert not decision.allowed
    assert decision.level is N
    assert decision.categories == frozenset()
    assert reason in decision.reasons
    assert decision.ends_at is None


def test_grant_end_day_before_still_allowed() -> None:
    ending = facts(date(2025, 1, 1), grant_ends_on=date(2030, 6, 1))
    decision = check_proxy_access(ending, ProxyRules(), noon("2030-05-31"))
    assert decision.level is F
    assert decision.ends_at == datetime(2030, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("relationship", list(Relationship))
def test_any_relationship_with_a_document_for_an_adult(relationship: Relationship) -> None:
    adult = facts(ADULT_BORN, relationship=relationship, legal_document_on_file=True)
    decision = check_proxy_access(adult, ProxyRules(), noon("2030-06-01"))
    assert decision.level is A
    assert decision.ends_at is None


@pytest.mark.parametrize(
    "changes",
    [
        {"teen_age": 18},
        {"teen_age": 0},
        {"majority_age": 30},
        {"adult_grant_months": 0},
        {"representative_min_age": 0},
    ],
)
def test_nonsense_rules_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ProxyRules(**changes)  # type: ignore[arg-type]


def test_transitions_calendar_of_a_child() -> None:
    child = facts(date(2017, 5, 1), adult_grant_started_on=date(2035, 5, 20))
    rules = ProxyRules(time_zone=LA)
    calendar = next_transitions(child, rules, noon("2025-01-01"))
    assert [(t.at, t.kind, t.level_before, t.level_after) for t in calendar] == [
        (datetime(2030, 5, 1, 7, tzinfo=UTC), TransitionKind.TEEN_AGE, F, L),
        (datetime(2035, 5, 1, 7, tzinfo=UTC), TransitionKind.MAJORITY, L, N),
        (datetime(2035, 5, 20, 7, tzinfo=UTC), TransitionKind.ADULT_GRANT_START, N, A),
        (datetime(2036, 11, 20, 8, tzinfo=UTC), TransitionKind.ADULT_GRANT_EXPIRY, A, N),
    ]
    assert calendar[0].categories_after == TEEN_LIMITED_CATEGORIES
    # Strictly after: the teen birthday's own midnight is no longer "next".
    later = next_transitions(child, rules, datetime(2030, 5, 1, 7, tzinfo=UTC))
    assert [t.kind for t in later] == [
        TransitionKind.MAJORITY,
        TransitionKind.ADULT_GRANT_START,
        TransitionKind.ADULT_GRANT_EXPIRY,
    ]


def test_transitions_skip_birthdays_that_change_nothing() -> None:
    # Everything flagged confidential: the teen birthday changes the level, not categories;
    # a revoked grant has no transitions at all.
    revoked = facts(date(2017, 5, 1), grant_status=GrantStatus.REVOKED)
    assert next_transitions(revoked, ProxyRules(), noon("2025-01-01")) == ()
    documented = facts(date(2017, 5, 1), legal_document_on_file=True)
    kinds = [t.kind for t in next_transitions(documented, ProxyRules(), noon("2025-01-01"))]
    assert kinds == [TransitionKind.TEEN_AGE, TransitionKind.MAJORITY]


def test_representative_coming_of_age_is_a_transition() -> None:
    young_parent = facts(date(2029, 1, 1), representative_birth_date=date(2012, 9, 10))
    calendar = next_transitions(young_parent, ProxyRules(), noon("2030-01-01"))
    assert calendar[0].kind is TransitionKind.REPRESENTATIVE_ADULT
    assert (calendar[0].level_before, calendar[0].level_after) == (N, F)


SMART_REQUEST = [
    "openid",
    "fhirUser",
    "launch/patient",
    "offline_access",
    "patient/Observation.rs",
    "patient/MedicationRequest.rs",
    "patient/DocumentReference.rs",
    "patient/Encounter.rs",
    "patient/Immunization.rs",
    "patient/AllergyIntolerance.rs",
    "patient/Appointment.rs",
    "patient/Appointment.c",
    "patient/Communication.c",
    "patient/Communication.rs",
    "patient/Condition.rs",
]
NON_SMART = ["openid", "fhirUser", "launch/patient", "offline_access"]


@pytest.mark.parametrize(
    ("level", "flagged", "removed"),
    [
        (F, frozenset(), []),
        (T, frozenset(), []),
        (A, frozenset(), []),
        (
            L,
            frozenset(),
            [
                "patient/Observation.rs",
                "patient/MedicationRequest.rs",
                "patient/DocumentReference.rs",
                "patient/Encounter.rs",
                "patient/Condition.rs",
            ],
        ),
        (F, frozenset({Category.RESULTS}), ["patient/Observation.rs", "patient/Condition.rs"]),
        (
            T,
            frozenset({Category.DOCUMENTS}),
            ["patient/DocumentReference.rs", "patient/Condition.rs"],
        ),
        (L, frozenset({Category.IMMUNIZATIONS}), None),
    ],
)
def test_scopes_are_cut_to_the_level(
    level: ProxyLevel, flagged: frozenset[Category], removed: list[str] | None
) -> None:
    decision = check_proxy_access(
        replace(LEVEL_FACTS[level], confidential=flagged), ProxyRules(), noon("2030-06-01")
    )
    cut = cut_scopes(SMART_REQUEST, decision)
    if removed is None:  # limited teen with immunizations flagged too
        removed = [
            "patient/Observation.rs",
            "patient/MedicationRequest.rs",
            "patient/DocumentReference.rs",
            "patient/Encounter.rs",
            "patient/Immunization.rs",
            "patient/Condition.rs",
        ]
    assert list(cut.removed) == removed
    assert list(cut.granted) == [s for s in SMART_REQUEST if s not in removed]


def test_wildcard_expands_to_the_allowed_types_only() -> None:
    teen = check_proxy_access(LEVEL_FACTS[L], ProxyRules(), noon("2030-06-01"))
    cut = cut_scopes(["openid", "patient/*.rs", "user/*.read"], teen)
    assert cut.granted == (
        "openid",
        "patient/AllergyIntolerance.rs",
        "patient/Appointment.rs",
        "patient/Communication.rs",
        "patient/CommunicationRequest.rs",
        "patient/Immunization.rs",
        "user/AllergyIntolerance.read",
        "user/Appointment.read",
        "user/Communication.read",
        "user/CommunicationRequest.read",
        "user/Immunization.read",
    )
    assert cut.removed == ("patient/*.rs", "user/*.read")
    child = check_proxy_access(LEVEL_FACTS[F], ProxyRules(), noon("2030-06-01"))
    assert cut_scopes(["patient/*.rs"], child) == (("patient/*.rs",), ())


@pytest.mark.parametrize(
    ("scope", "kept_for_limited_teen"),
    [
        ("patient/Observation.read", False),  # SMART v1 .read is .rs
        ("patient/Immunization.read", True),
        ("patient/Observation.rs?category=laboratory", False),
        ("patient/Appointment.cruds", True),
        ("patient/Observation.sr", False),  # v2 permissions must be in order
        ("patient/Immunization.sr", False),
        ("patient/Immunization.", False),
        ("patient/immunization.rs", False),
        ("patient/Immunization.rs extra", False),
        ("system/Immunization.rs", True),
        ("launch/patient", True),
        ("openid", True),
        ("profile", True),
    ],
)
def test_scope_parsing_fails_closed(scope: str, kept_for_limited_teen: bool) -> None:
    teen = check_proxy_access(LEVEL_FACTS[L], ProxyRules(), noon("2030-06-01"))
    cut = cut_scopes([scope], teen)
    assert (scope in cut.granted) is kept_for_limited_teen
    assert (scope in cut.removed) is not kept_for_limited_teen


def test_no_access_keeps_only_non_smart_scopes() -> None:
    refused = check_proxy_access(
        facts(date(2025, 1, 1), grant_status=GrantStatus.REVOKED), ProxyRules(), noon("2030-06-01")
    )
    cut = cut_scopes(SMART_REQUEST + ["patient/*.rs", "openid", ""], refused)
    assert cut.granted == tuple(NON_SMART)
    assert "patient/*.rs" in cut.removed


def test_a_shared_resource_type_needs_every_category() -> None:
    assert "DocumentReference" not in allowed_resource_types(ALL_CATEGORIES - {Category.VISITS})
    assert "DocumentReference" not in allowed_resource_types(ALL_CATEGORIES - {Category.DOCUMENTS})
    assert "Encounter" in allowed_resource_types(ALL_CATEGORIES - {Category.DOCUMENTS})


_days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


@settings(max_examples=150, deadline=None, database=None)
@given(
    patient_born=st.dates(min_value=date(1995, 1, 1), max_value=date(2040, 12, 31)),
    cosigned=st.booleans(),
    approved=st.booleans(),
    document=st.booleans(),
    adult_grant=st.none() | _days,
    flagged=st.frozensets(st.sampled_from(list(Category))),
    zone=st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Tokyo", "America/Havana"]),
    preset=st.sampled_from(sorted(PROXY_PRESETS)),
    age_days=st.integers(min_value=0, max_value=40 * 366),
    gap=st.integers(min_value=1, max_value=30 * 366),
)
def test_access_never_widens_without_a_new_fact(
    patient_born: date,
    cosigned: bool,
    approved: bool,
    document: bool,
    adult_grant: date | None,
    flagged: frozenset[Category],
    zone: str,
    preset: str,
    age_days: int,
    gap: int,
) -> None:
    """Later dates only narrow access, except at the facts' own events: a guardianship
    document taking effect at majority, or an adult grant starting between the dates."""
    rules = replace(PROXY_PRESETS[preset], time_zone=ZoneInfo(zone))
    grant = facts(
        patient_born,
        representative_birth_date=date(1970, 1, 1),
        teen_cosigned_full=cosigned,
        staff_approved_full=approved,
        legal_document_on_file=document,
        adult_grant_started_on=adult_grant,
        confidential=flagged,
    )
    # From the patient's birth on: before it nothing is granted, and birth is an event.
    earlier = local_midnight(patient_born + timedelta(days=age_days), rules) + timedelta(hours=12)
    later = earlier + timedelta(days=gap)
    before = check_proxy_access(grant, rules, earlier)
    after = check_proxy_access(grant, rules, later)
    assert not before.categories & flagged
    assert not after.categories & flagged
    majority = local_midnight(nth_birthday(patient_born, rules.majority_age), rules)
    new_fact = (document and earlier < majority <= later) or (
        adult_grant is not None and earlier < local_midnight(adult_grant, rules) <= later
    )
    if not new_fact:
        assert after.categories <= before.categories
    # The transitions calendar misses nothing: no change before the next transition.
    if before.next_transition_at is None or before.next_transition_at > later:
        assert (after.level, after.categories) == (before.level, before.categories)


@pytest.mark.parametrize("preset", sorted(PROXY_PRESETS))
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {
            "teen_cosigned_full": True,
            "staff_approved_full": True,
            "confidential": frozenset({Category.RESULTS, Category.ALLERGIES}),
        },
    ],
)
def test_day_by_day_access_only_narrows_and_only_on_calendar_days(
    preset: str, changes: dict[str, object]
) -> None:
    """Every day from 11 to 19 (a leap-day birthday): access changes exactly on a day
    of the transitions calendar, and never widens."""
    rules = replace(PROXY_PRESETS[preset], time_zone=LA)
    born = date(2016, 2, 29)
    grant = facts(born, **changes)
    day = date(2027, 3, 1)
    calendar = {t.at for t in next_transitions(grant, rules, local_midnight(day, rules))}
    previous = check_proxy_access(grant, rules, local_midnight(day, rules))
    while day < date(2035, 3, 1):
        day += timedelta(days=1)
        current = check_proxy_access(grant, rules, local_midnight(day, rules))
        changed = (current.level, current.categories) != (previous.level, previous.categories)
        assert changed is (local_midnight(day, rules) in calendar), day
        assert current.categories <= previous.categories, day
        previous = current
