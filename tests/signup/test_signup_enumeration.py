"""Sign-up and resend answer the same, to the byte, whoever the email belongs to.

Security invariant 4 (DESIGN.md); NIST SP 800-63A-4 §3.1.2.1 and ASVS 6.3.8
(standards.md rows 17 and 21). Compared: status, every header except Set-Cookie and
Content-Length, and the body with the CSRF token blanked.
"""

from __future__ import annotations

from sqlalchemy import update

from idp.flows.registration import (
    RESEND_EMAIL_LIMIT,
    RESEND_EMAIL_SCOPE,
    SIGNUP_EMAIL_LIMIT,
    SIGNUP_IP_LIMIT,
    SIGNUP_IP_SCOPE,
    THROTTLE_WINDOW,
)
from idp.services import Services
from idp.store.sql import models

from ..conftest import Factory
from ..helpers import audit_types, message_ids
from .conftest import (
    CHECK_EMAIL_IDS,
    DEMOGRAPHICS,
    SignupActions,
    comparable,
    domain_rows,
    forget_reservation,
    pending_registrations,
)


def test_new_email_and_email_in_use_get_the_same_response(
    signup: SignupActions, services: Services
) -> None:
    new = signup.sign_up(username="first-user")  # the address is new here
    in_use = signup.sign_up(username="second-user")  # now a pending registration holds it
    assert message_ids(new.text) == CHECK_EMAIL_IDS
    assert comparable(new) == comparable(in_use)
    assert [p.username for p in pending_registrations(services)] == ["first-user"]
    assert domain_rows(services)["accounts"] == 0
    link, notice = signup.deliver()
    assert "/signup/verify?token=" in link.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "someone tried to sign up" in notice["Subject"]


def test_email_of_an_active_account_gets_the_same_response_as_an_unknown_one(
    signup: SignupActions, factory: Factory
) -> None:
    factory.account("owner", email="grace@example.test")
    in_use = signup.sign_up(username="newcomer")
    # Same address, no account: only the database differs between the two (and the
    # first attempt's user-ID reservation has run out).
    with factory.services.db.session() as session:
        session.execute(update(models.Account).values(status="closed"))
    forget_reservation(factory.services, "newcomer")
    new = signup.sign_up(username="newcomer")
    assert comparable(in_use) == comparable(new)
    assert [p.username for p in pending_registrations(factory.services)] == ["newcomer"]


def test_resend_answers_alike_for_pending_unknown_and_active_addresses(
    signup: SignupActions, factory: Factory
) -> None:
    signup.sign_up()
    factory.account("active", email="active@example.test")
    signup.deliver()
    pending = signup.resend(DEMOGRAPHICS["email"])
    unknown = signup.resend("nobody@example.test")
    active = signup.resend("active@example.test")
    assert message_ids(pending.text) == ["signup_resend_sent"]
    assert comparable(pending) == comparable(unknown) == comparable(active)
    [mail] = signup.deliver()  # only the pending registration got a link
    assert mail["To"] == DEMOGRAPHICS["email"]


def test_resend_throttle_per_email_gives_the_same_reply(
    signup: SignupActions, services: Services
) -> None:
    signup.sign_up()
    signup.deliver()
    replies = [signup.resend(DEMOGRAPHICS["email"]) for _ in range(RESEND_EMAIL_LIMIT + 1)]
    assert len(signup.deliver()) == RESEND_EMAIL_LIMIT
    assert all(comparable(r) == comparable(replies[0]) for r in replies)
    with services.db.transaction() as uow:
        events = [e for e in uow.audit.tail(20) if e.type == "signup"]
    # Audited when asked (the throttled one) and when each link went out (the worker).
    throttled = [e for e in events if e.details == {"step": "resend", "reason": "throttled"}]
    assert len(throttled) == 1
    assert sum(e.details == {"step": "resend"} for e in events) == RESEND_EMAIL_LIMIT
    # Another address is not held back by this one's limit.
    services.throttle.reset(RESEND_EMAIL_SCOPE, DEMOGRAPHICS["email"])
    signup.resend(DEMOGRAPHICS["email"])
    assert len(signup.deliver()) == 1


def test_resend_throttle_per_address(signup: SignupActions) -> None:
    signup.sign_up()
    signup.deliver()
    for n in range(10):
        signup.resend(f"other{n}@example.test")
    throttled = signup.resend(DEMOGRAPHICS["email"])
    assert message_ids(throttled.text) == ["signup_resend_sent"]
    assert signup.deliver() == []


def test_resend_refuses_a_malformed_address(signup: SignupActions) -> None:
    response = signup.resend("not an address")
    assert response.status_code == 400
    assert 'data-reason="email_invalid"' in response.text


def test_sign_up_throttle_per_client_address_gives_the_same_reply(
    signup: SignupActions, services: Services
) -> None:
    normal = signup.sign_up(username="before-limit", email="first@example.test")
    for _ in range(SIGNUP_IP_LIMIT - 1):
        services.throttle.allow(
            SIGNUP_IP_SCOPE, "127.0.0.1", limit=SIGNUP_IP_LIMIT, window=THROTTLE_WINDOW
        )
    before = domain_rows(services)
    signup.deliver()
    throttled = signup.sign_up(username="after-limit", email="first@example.test")
    assert comparable(throttled) == comparable(normal)
    assert domain_rows(services) == before  # nothing created, nothing queued
    assert signup.deliver() == []
    assert audit_types(services)[-1] == "signup"


def test_throttled_sign_up_still_shows_typing_mistakes_but_never_a_taken_id(
    signup: SignupActions, services: Services, factory: Factory
) -> None:
    factory.account("taken", email="taken@example.test")
    for _ in range(SIGNUP_IP_LIMIT):
        services.throttle.allow(
            SIGNUP_IP_SCOPE, "127.0.0.1", limit=SIGNUP_IP_LIMIT, window=THROTTLE_WINDOW
        )
    response = signup.sign_up(username="taken", password="short")
    assert response.status_code == 400
    assert 'data-reason="username_taken"' not in response.text
    assert 'data-reason="too_short"' in response.text


def test_sign_up_throttle_per_email_gives_the_same_reply(
    signup: SignupActions, services: Services
) -> None:
    replies = [
        signup.sign_up(username=f"user-{n}", email="target@example.test")
        for n in range(SIGNUP_EMAIL_LIMIT + 1)
    ]
    assert all(comparable(r) == comparable(replies[0]) for r in replies)
    # One link, then notices to the pending owner, then nothing.
    assert len(signup.deliver()) == SIGNUP_EMAIL_LIMIT
