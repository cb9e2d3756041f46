"""The registration flow's pure rules and its seams, without the web layer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from idp.flows.registration import (
    CredentialsInput,
    Demographics,
    DemographicsInput,
    IdentityMatch,
    RegistrationFlow,
    SignupState,
    age_on,
    check_demographics,
    valid_for,
)
from idp.policies.security_questions import QuestionChoice
from idp.records import RequestMeta
from idp.services import Services

from ..helpers import audit_types
from .conftest import CREDENTIALS, DEMOGRAPHICS, PASSWORD
from .conftest import domain_rows as rows

META = RequestMeta(ip="192.0.2.7", user_agent="pytest")


@pytest.mark.parametrize(
    ("dob", "today", "age"),
    [
        (date(2000, 5, 17), date(2013, 5, 16), 12),
        (date(2000, 5, 17), date(2013, 5, 17), 13),
        (date(2000, 2, 29), date(2013, 2, 28), 12),
        (date(2000, 2, 29), date(2013, 3, 1), 13),
        (date(2000, 2, 29), date(2004, 2, 29), 4),
    ],
)
def test_age_counts_whole_years(dob: date, today: date, age: int) -> None:
    assert age_on(dob, today) == age


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400, "24 hours"), (3600, "1 hour"), (1800, "30 minutes"), (300, "5 minutes")],
)
def test_link_lifetime_in_words(seconds: int, text: str) -> None:
    assert valid_for(seconds) == text


def test_demographics_are_tidied() -> None:
    form = DemographicsInput(**{**DEMOGRAPHICS, "first_name": "  Grace   Brewster "})
    accepted, refusals = check_demographics(form, today=date(2026, 1, 1), min_age=13)
    assert refusals == []
    assert accepted == Demographics(
        first_name="Grace Brewster",
        last_name="Hopper",
        dob=date(1990, 5, 17),
        zip="02139",
        gender="female",
        email="grace@example.test",
    )


def _flow(services: Services, **kw: object) -> RegistrationFlow:
    return RegistrationFlow(
        db=services.db,
        ephemeral=services.ephemeral,
        hashing=services.hashing,
        credentials=services.credentials,
        throttle=services.throttle,
        notifier=services.notifier,
        clock=services.clock,
        accounts=services.settings.accounts,
        issuer=services.settings.issuer,
        **kw,  # type: ignore[arg-type]
    )


def _credentials(username: str = "ghopper") -> CredentialsInput:
    questions = [
        QuestionChoice(CREDENTIALS[f"question_{n}"], CREDENTIALS[f"answer_{n}"]) for n in (1, 2, 3)
    ]
    return CredentialsInput(
        username=username, password=PASSWORD, questions=questions, accept_terms=True
    )


def test_identity_matcher_sees_the_demographics_on_every_path(services: Services) -> None:
    seen: list[Demographics] = []

    def matcher(who: Demographics) -> IdentityMatch:
        seen.append(who)
        return IdentityMatch.NONE

    flow = _flow(services, match_existing=matcher)
    for username in ("ghopper", "ghopper2"):  # a new address, then the same one in use
        started = flow.start(DemographicsInput(**DEMOGRAPHICS), meta=META)
        assert started.flow_id is not None
        done = flow.submit_credentials(started.flow_id, _credentials(username), meta=META)
        assert done.state is SignupState.CHECK_EMAIL
    assert [w.email for w in seen] == ["grace@example.test"] * 2
    with services.db.transaction() as uow:
        details = [e.details for e in uow.audit.tail(10) if e.type == "signup"]
    assert [d.get("reason") for d in details if d["step"] == "credentials"] == [
        "pending",
        "email_in_use",
    ]
    assert all(d.get("match") == "none" for d in details if d["step"] == "credentials")


def test_user_id_taken_at_the_last_moment_is_reported_and_the_flow_kept(
    services: Services,
) -> None:
    """An account (made by staff, the office or the CLI, which hold no reservation) takes
    the user ID while the sign-up completes: it hears "taken", nothing half-written."""

    def rival_signs_up_first(who: Demographics) -> IdentityMatch:
        with services.db.transaction() as uow:
            uow.accounts.add(
                username="GHOPPER",
                password_hash="x",
                email="rival@example.test",
                now=datetime.now(UTC),
            )
        return IdentityMatch.NONE

    flow = _flow(services, match_existing=rival_signs_up_first)
    started = flow.start(DemographicsInput(**DEMOGRAPHICS), meta=META)
    assert started.flow_id is not None
    lost = flow.submit_credentials(started.flow_id, _credentials(), meta=META)
    assert lost.state is SignupState.CREDENTIALS
    assert [r.code for r in lost.refusals] == ["username_taken"]
    assert rows(services)["accounts"] == 1 and rows(services)["outbox"] == 0
    assert rows(services)["persons"] == 0 and rows(services)["security_answers"] == 0
    # The same flow goes on with another user ID.
    plain = _flow(services)
    done = plain.submit_credentials(started.flow_id, _credentials("grace.h"), meta=META)
    assert done.state is SignupState.CHECK_EMAIL
    # demographics, the refusal, pending
    assert audit_types(services).count("signup") == 3
    # The loser's reservation went with it: only the new user ID is held.
    assert not plain.links.reservations.held("ghopper")
    assert plain.links.reservations.held("grace.h")


def test_user_id_reserved_by_a_racing_sign_up_is_reported_and_the_flow_kept(
    services: Services,
) -> None:
    """Two sign-ups pass the "taken?" check together: the atomic reservation picks one."""
    flow = _flow(services)
    started = flow.start(DemographicsInput(**DEMOGRAPHICS), meta=META)
    assert started.flow_id is not None
    # The rival reserves right after this sign-up's check (which therefore saw nothing).
    flow.links.reservations.held = lambda username: False  # type: ignore[method-assign]
    assert flow.links.reservations.reserve("GHopper", "the-rival", ttl=60)
    lost = flow.submit_credentials(started.flow_id, _credentials(), meta=META)
    assert lost.state is SignupState.CREDENTIALS
    assert [r.code for r in lost.refusals] == ["username_taken"]
    assert flow.links.reservations.holder("ghopper") == "the-rival"  # untouched
    assert rows(services)["outbox"] == 0 and flow.links.pending.at(DEMOGRAPHICS["email"]) == []
    done = flow.submit_credentials(started.flow_id, _credentials("grace.h"), meta=META)
    assert done.state is SignupState.CHECK_EMAIL
    assert flow.links.reservations.holder("grace.h") is not None
