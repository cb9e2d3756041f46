"""Whoever is typing cannot tell exact, close and no match apart (issue 5).

Security invariant 4; NIST SP 800-63A-4 §3.1.2.1 item 4 ("no data washing") and ASVS
6.3.8 (standards.md rows 17 and 21). The same input is typed against different
databases; compared are status, every header but Set-Cookie and Content-Length, and
the body with the CSRF token and flow ids blanked: step 2's reply, the reply to
"text me a code", to a wrong code, and to a right code for a number not on a record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import update
from werkzeug.test import TestResponse

from idp.flows.registration import (
    SIGNUP_IDENTITY_LIMIT,
    SIGNUP_IDENTITY_SCOPE,
    SMS_NUMBER_SCOPE,
    THROTTLE_WINDOW,
)
from idp.services import Services
from idp.store.sql import models

from ..helpers import message_ids
from ..signup.conftest import CHECK_EMAIL_IDS, CREDENTIALS, DEMOGRAPHICS, PASSWORD, QUESTIONS
from .conftest import (
    OTHER_PHONE,
    MatchingActions,
    audit_events,
    comparable,
    patient,
    rows,
)

Journey = tuple[TestResponse, TestResponse, TestResponse, TestResponse]


def _journey(signup: MatchingActions) -> Journey:
    """Sign up, ask for a code, type a wrong one, then the right one (another phone)."""
    done = signup.sign_up()
    flow_id = signup.phone_step(done)
    sent = signup.send_code(flow_id, OTHER_PHONE)
    code = signup.code()
    wrong = signup.confirm_code(flow_id, f"{(int(code) + 1) % 10**6:06d}")
    right = signup.confirm_code(flow_id, code)
    return done, sent, wrong, right


def _close_all(services: Services) -> None:
    """A clean slate: closed accounts are never candidates; texting quotas start again."""
    with services.db.session() as session:
        session.execute(update(models.Account).values(status="closed"))
    services.throttle.reset(SMS_NUMBER_SCOPE, OTHER_PHONE)


def _exact(services: Services) -> None:
    patient(services, "grace.existing")


def _close(services: Services) -> None:
    patient(services, "grace.close", zip="02138")


def _exact_pending(services: Services) -> None:
    patient(services, "grace.pending", status="pending")


def _email_in_use(services: Services) -> None:
    patient(services, "ada", first_name="Ada", last_name="Lovelace", dob=date(1815, 12, 10))


def _nothing(services: Services) -> None:
    pass


SETUPS: dict[str, Callable[[Services], None]] = {
    "exact": _exact,
    "exact_pending": _exact_pending,
    "close": _close,
    "email_in_use": _email_in_use,
    "none": _nothing,
}


def test_every_branch_answers_alike(signup: MatchingActions, services: Services) -> None:
    journeys: dict[str, Journey] = {}
    for name, setup in SETUPS.items():
        _close_all(services)
        setup(services)
        journeys[name] = _journey(signup)
        signup.deliver()
    # What each branch did behind the same pages.
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper") is not None  # "none" made it, last
        statuses = [e.status for e in uow.enrollments.list(status=None)]
    assert statuses == ["pending"]  # "close" waits for staff, with the other phone noted
    matches = [e.details.get("match") for e in audit_events(services)]
    assert {"exact", "close", "none"} <= set(matches)

    reference = journeys["none"]
    assert message_ids(reference[0].text) == CHECK_EMAIL_IDS
    assert message_ids(reference[1].text) == ["signup_phone_code_sent"]
    assert reference[2].status_code == 400 and 'data-reason="code_invalid"' in reference[2].text
    assert message_ids(reference[3].text) == ["signup_phone_done"]
    for name, journey in journeys.items():
        for step, (got, want) in enumerate(zip(journey, reference, strict=True)):
            assert comparable(got) == comparable(want), (name, step)


@pytest.mark.parametrize("setup", ["exact", "close", "none"])
def test_throttled_identity_answers_like_any_sign_up(
    signup: MatchingActions, services: Services, setup: str
) -> None:
    SETUPS[setup](services)
    for n in range(SIGNUP_IDENTITY_LIMIT):
        signup.sign_up({"email": f"try{n}@example.test"}, username=f"try-{n}")
    signup.deliver()
    before = rows(services)
    throttled = signup.sign_up({"email": "another@example.test"}, username="one-more")
    assert rows(services) == before  # nothing created, nothing queued
    assert signup.deliver() == []
    [*_, event] = audit_events(services)
    # Someone else, typing the same address, is not throttled: the same page.
    normal = signup.sign_up(
        {"first_name": "Ada", "last_name": "Lovelace", "email": "another@example.test"},
        username="ada-l",
    )
    assert rows(services)["accounts"] == before["accounts"] + 1
    assert comparable(throttled) == comparable(normal)
    assert event.details == {"step": "credentials", "reason": "throttled_identity"}


def test_identity_throttle_is_keyed_by_an_hmac_of_name_and_birth_date(
    signup: MatchingActions, services: Services
) -> None:
    from idp.store.throttle import Throttle

    for n in range(SIGNUP_IDENTITY_LIMIT):
        # Spelled differently, normalised alike: one identity.
        first = "GRACE" if n % 2 else "grace"
        signup.sign_up({"first_name": first, "email": f"u{n}@example.test"}, username=f"user-{n}")
    # Neither the plain identity nor its bare hash is the throttle's subject.
    plain = Throttle(services.ephemeral)
    assert not plain.exceeded(SIGNUP_IDENTITY_SCOPE, "grace|hopper|1990-05-17", limit=1)
    before = rows(services)["accounts"]
    signup.sign_up({"email": "late@example.test"}, username="late")
    assert rows(services)["accounts"] == before
    # Another person is not held back.
    signup.sign_up({"first_name": "Ada", "email": "ada@example.test"}, username="ada")
    assert rows(services)["accounts"] == before + 1
    assert THROTTLE_WINDOW == 3600


def test_the_audit_holds_the_match_class_but_nothing_typed(
    signup: MatchingActions, services: Services
) -> None:
    for name in ("exact", "close", "none"):
        _close_all(services)
        SETUPS[name](services)
        _journey(signup)
    events = audit_events(services)
    classes = {e.details.get("match") for e in events if e.details["step"] != "demographics"}
    assert {"exact", "close", "none"} <= classes
    dump = repr([(e.details, e.actor, e.client_id) for e in events])
    typed = [
        *DEMOGRAPHICS.values(),
        "Grace",
        "Hopper",
        "1990",
        "02139",
        PASSWORD,
        *QUESTIONS.values(),
        CREDENTIALS["username"],
        OTHER_PHONE,
        OTHER_PHONE[2:],
    ]
    for value in typed:
        assert value.lower() not in dump.lower(), value
