"""Whoever is typing cannot tell exact, close and no match apart (issue 5).

Security invariant 4; NIST SP 800-63A-4 §3.1.2.1 item 4 ("no data washing") and ASVS
6.3.8 (standards.md rows 17 and 21). The same input is typed against different
databases; compared are status, every header but Set-Cookie and Content-Length, and
the body with the CSRF token and flow ids blanked: step 2's reply, the reply to
"text me a code", to a wrong code, and to a right code for a number not on a record.

Nor afterwards: what each branch leaves behind (no account, the chosen user ID
reserved) answers the same to signing in with the chosen user ID and password, and
to a new sign-up choosing that user ID.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import update
from werkzeug.test import TestResponse

from idp.flows.login import address_key
from idp.flows.registration import (
    SIGNUP_IDENTITY_LIMIT,
    SIGNUP_IDENTITY_SCOPE,
    SMS_NUMBER_SCOPE,
    THROTTLE_WINDOW,
)
from idp.services import Services
from idp.store.sql import models
from idp.store.sql.repositories import username_key

from ..helpers import message_ids
from ..signup.conftest import (
    CHECK_EMAIL_IDS,
    CREDENTIALS,
    DEMOGRAPHICS,
    PASSWORD,
    QUESTIONS,
    forget_reservation,
    pending_registrations,
    reasons,
    user_id_reserved,
)
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


def _close_all(services: Services, username: str = CREDENTIALS["username"]) -> None:
    """A clean slate: closed accounts are never candidates; texting quotas start again;
    the previous attempt's user-ID reservation has run out."""
    with services.db.session() as session:
        session.execute(update(models.Account).values(status="closed"))
    services.throttle.reset(SMS_NUMBER_SCOPE, OTHER_PHONE)
    forget_reservation(services, username)


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
        assert uow.accounts.by_username("ghopper") is None  # created only by the link
        statuses = [e.status for e in uow.enrollments.list(status=None)]
    # "none" (last) waits for its link; the other phone waits with it.
    [waiting] = pending_registrations(services)
    assert waiting.username == "ghopper"
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
    assert not user_id_reserved(services, "one-more")  # a throttled sign-up holds nothing
    # Someone else, typing the same address, is not throttled: the same page.
    normal = signup.sign_up(
        {"first_name": "Ada", "last_name": "Lovelace", "email": "another@example.test"},
        username="ada-l",
    )
    assert [p.username for p in pending_registrations(services, "another@example.test")] == [
        "ada-l"
    ]
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
    signup.sign_up({"email": "late@example.test"}, username="late")
    assert pending_registrations(services, "late@example.test") == []
    # Another person is not held back.
    signup.sign_up({"first_name": "Ada", "email": "ada@example.test"}, username="ada")
    assert len(pending_registrations(services, "ada@example.test")) == 1
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


# --- what each branch leaves behind -------------------------------------------------------

ATTACKER = "mallory@example.test"
CHOSEN = "mallory.id"
# The attacker types a stranger's details with their own address and a fresh user ID.
TYPED: dict[str, dict[str, str]] = {
    "exact": {"first_name": "Grace", "last_name": "Hopper", "dob": "1990-05-17",
              "zip": "02139", "gender": "female"},
    "close": {"first_name": "Ada", "last_name": "Lovelace", "dob": "1985-12-10",
              "zip": "02138", "gender": "female"},
    "none": {"first_name": "Katherine", "last_name": "Johnson", "dob": "1918-08-26",
             "zip": "23666", "gender": "female"},
}  # fmt: skip
ON_FILE: dict[str, Callable[[Services], Any]] = {
    # The FAQ's exact match includes the email: the record holds the typed address.
    "exact": lambda s: patient(s, "grace.existing", email=ATTACKER),
    # One ZIP digit off the record, everything else equal.
    "close": lambda s: patient(s, "ada.existing", email=ATTACKER, first_name="Ada",
                               last_name="Lovelace", dob=date(1985, 12, 10)),
    "none": lambda s: None,
}  # fmt: skip
# Someone else, later, wanting the same user ID.
LATER = {"first_name": "Zed", "last_name": "Other", "dob": "1970-01-01", "zip": "94110",
         "gender": "male", "email": "zed@example.test"}  # fmt: skip


def _fresh(services: Services) -> None:
    """Each trial as if on its own day: records closed, reservation, lock and quotas gone."""
    _close_all(services, CHOSEN)
    services.attempts.unlock(username_key(CHOSEN))
    assert services.login.addresses is not None
    services.login.addresses.unlock(address_key("127.0.0.1"))


def _afterwards(signup: MatchingActions) -> tuple[Any, Any]:
    """Sign in with the chosen user ID and password; then someone else chooses it."""
    login = signup.login(CHOSEN, PASSWORD)
    later = signup.sign_up(LATER, username=CHOSEN)
    return login, later


def test_no_branch_leaves_anything_to_sign_in_to_or_tell_apart(
    signup: MatchingActions, services: Services
) -> None:
    # Baseline: a user ID nobody chose.
    _fresh(services)
    unknown_login = signup.login(CHOSEN, PASSWORD)
    assert unknown_login.status_code == 401
    assert message_ids(unknown_login.text) == ["invalid_credentials"]

    after: dict[str, tuple[Any, Any]] = {}
    for branch in ("exact", "close", "none"):
        _fresh(services)
        ON_FILE[branch](services)
        before = rows(services)["accounts"]
        done = signup.sign_up({**TYPED[branch], "email": ATTACKER}, username=CHOSEN)
        assert message_ids(done.text) == CHECK_EMAIL_IDS, branch
        # The branch really was taken, and left no account behind.
        [*_, step2] = [e for e in audit_events(services) if e.details["step"] == "credentials"]
        assert step2.details["match"] == branch
        assert rows(services)["accounts"] == before
        assert user_id_reserved(services, CHOSEN)
        after[branch] = _afterwards(signup)
        signup.deliver()
    # Only the no-match sign-up waits for a link, and only in the store.
    assert [p.username for p in pending_registrations(services, ATTACKER)] == [CHOSEN]

    # Baseline: a user ID a real account holds.
    _fresh(services)
    patient(services, CHOSEN, email="owner@example.test", first_name="Olga", index=False)
    real_taken = signup.sign_up(LATER, username=CHOSEN)
    assert real_taken.status_code == 400 and reasons(real_taken.text) == ["username_taken"]

    for branch, (login, later) in after.items():
        # (a) Signing in: exactly what an unknown user ID gets.
        assert comparable(login) == comparable(unknown_login), branch
        # (b) Choosing the user ID again: exactly what a real account's user ID gets.
        assert comparable(later) == comparable(real_taken), branch


@pytest.mark.parametrize("branch", ["exact", "close", "none"])
def test_when_the_reservation_ends_every_branch_frees_the_user_id(
    signup: MatchingActions, services: Services, branch: str
) -> None:
    ON_FILE[branch](services)
    signup.sign_up({**TYPED[branch], "email": ATTACKER}, username=CHOSEN)
    signup.deliver()
    forget_reservation(services, CHOSEN)  # verify_link_ttl later
    later = signup.sign_up(LATER, username=CHOSEN)
    assert message_ids(later.text) == CHECK_EMAIL_IDS
