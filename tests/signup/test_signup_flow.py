"""Sign-up from the first page to the first sign-in, with mail over real SMTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.flows.signup_links import send_verification_link
from idp.services import Services
from idp.store.sql import models
from idp.store.sql.repositories import NewPerson

from ..conftest import PASSWORD as FACTORY_PASSWORD
from ..conftest import Factory
from ..helpers import MovableClock, OIDCActions, audit_types, csrf_token, message_ids, query
from .conftest import (
    CHECK_EMAIL_IDS,
    DEMOGRAPHICS,
    PASSWORD,
    SignupActions,
    domain_rows,
    forget_reservation,
    pending_registrations,
    reasons,
    user_id_reserved,
)

NOTHING = {"accounts": 0, "persons": 0, "security_answers": 0, "action_tokens": 0}
SOMEONE_ELSE = {
    "first_name": "Katherine",
    "last_name": "Johnson",
    "dob": "1918-08-26",
    "zip": "23666",
    "gender": "female",
    "email": "katherine@example.test",
}


def test_sign_up_verify_then_sign_in(signup: SignupActions, services: Services) -> None:
    first = signup.start()
    assert first.status_code == 200
    assert 'name="username"' in first.text and 'autocomplete="new-password"' in first.text

    done = signup.account(signup.flow_id(first))
    assert done.status_code == 200
    assert message_ids(done.text) == CHECK_EMAIL_IDS

    # Before the link is used no account exists: a pending registration waits for it
    # (hashes only), and the chosen user ID is reserved.
    assert {k: v for k, v in domain_rows(services).items() if k != "outbox"} == NOTHING
    [pending] = pending_registrations(services)
    assert pending.username == "ghopper" and pending.email == DEMOGRAPHICS["email"]
    assert pending.password_hash.startswith("$argon2id$") and len(pending.answers) == 3
    assert all(a["answer_hash"].startswith("$argon2id$") for a in pending.answers)
    assert PASSWORD not in pending.to_json() and "Margaret" not in pending.to_json()
    assert user_id_reserved(services, "GHOPPER")
    # Nothing to sign in to: the same answer as for any unknown user ID.
    refused = signup.login()
    assert refused.status_code == 401
    assert message_ids(refused.text) == ["invalid_credentials"]
    assert 'href="/signup/resend"' not in refused.text

    [mail] = signup.deliver()
    assert mail["To"] == DEMOGRAPHICS["email"]
    assert "confirm your email address" in mail["Subject"]
    assert "Grace" not in mail.as_string()  # nothing the requester typed goes to the inbox
    link = signup.link(mail)
    assert link.startswith(services.settings.issuer + "/signup/verify?token=")
    token = link.split("token=", 1)[1]
    # Stored by the link's SHA-256 only.
    assert token not in repr(services.ephemeral.get("signup_pending:" + token))

    # Opening the link (as a mail scanner would) changes nothing.
    for _ in range(2):
        page = signup.open_link(link)
        assert page.status_code == 200 and message_ids(page.text) == ["signup_verify_prompt"]
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper") is None
    assert len(pending_registrations(services)) == 1

    ready = signup.confirm(link)
    assert ready.status_code == 200
    assert message_ids(ready.text) == ["signup_verified"]
    assert 'href="/login"' in ready.text
    # The account now exists, active, with the email verified; the reservation is gone.
    assert pending_registrations(services) == []
    assert not user_id_reserved(services, "ghopper")
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("GHOPPER")
        assert account is not None and account.status == "active" and account.email_verified
        assert account.username == "ghopper" and account.email == DEMOGRAPHICS["email"]
        assert account.person is not None and account.person.dob.isoformat() == "1990-05-17"
        assert account.person.first_name == "Grace" and account.person.zip == "02139"
        assert len(uow.security_answers.for_account(account.id)) == 3

    signed_in = signup.login("GHopper", PASSWORD)
    assert signed_in.status_code == 303, signed_in.text[:500]
    with services.db.session() as session:
        accepted = session.scalar(
            select(models.Account.terms_accepted_at).where(models.Account.id == account.id)
        )
    assert accepted is not None
    types = audit_types(services)
    assert types.count("signup") == 3  # demographics, credentials, verify


def test_the_audit_never_holds_what_was_typed(signup: SignupActions, services: Services) -> None:
    signup.sign_up()
    signup.confirm(signup.link(signup.deliver()[0]))
    with services.db.transaction() as uow:
        events = [e for e in uow.audit.tail(50) if e.type == "signup"]
    assert [e.details["step"] for e in events] == ["demographics", "credentials", "verify"]
    dump = repr([(e.details, e.actor, e.subject) for e in events])
    for typed in (*DEMOGRAPHICS.values(), "Rolling", "Margaret", PASSWORD, "ghopper"):
        assert typed not in dump


def test_nothing_to_sign_in_to_until_the_link_is_opened(
    signup: SignupActions, client: FlaskClient, factory: Factory
) -> None:
    signup.sign_up()
    factory.account("known")  # an active account, for comparison
    replies = []
    for username, password in (
        ("ghopper", PASSWORD),  # the chosen user ID and password: no account yet
        ("ghopper", "not the password at all"),
        ("known", "not the password at all"),
        ("nobody", PASSWORD),
    ):
        response = signup.login(username, password)
        replies.append((response.status_code, message_ids(response.text)))
    assert replies == [(401, ["invalid_credentials"])] * 4
    # Failures on a reserved user ID count toward the lock like any other (unknown) one.
    for _ in range(3):
        last = signup.login("ghopper", "still not the password")
    assert message_ids(last.text) == ["account_locked"]
    assert message_ids(signup.login("ghopper", PASSWORD).text) == ["account_locked"]


def test_link_works_once(signup: SignupActions, app, services: Services) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    token = link.split("token=", 1)[1]
    page = signup.open_link(link)
    csrf = csrf_token(page.text)
    assert (
        signup.client.post("/signup/verify", data={"token": token, "csrf_token": csrf}).status_code
        == 200
    )
    # The button pressed twice in the same browser: the success again, one account.
    twice = signup.client.post("/signup/verify", data={"token": token, "csrf_token": csrf})
    assert twice.status_code == 200
    assert message_ids(twice.text) == ["signup_verified"]
    assert domain_rows(services)["accounts"] == 1
    # Anyone else with the link finds it used.
    other = app.test_client()
    other_page = other.get(link.split(services.settings.issuer, 1)[1])
    assert other_page.status_code == 400
    again = other.post(
        "/signup/verify", data={"token": token, "csrf_token": csrf_token(other.get("/login").text)}
    )
    assert again.status_code == 400
    assert message_ids(again.text) == ["signup_link_invalid"]
    assert 'href="/signup/resend"' in again.text
    reopened = signup.open_link(link)
    assert reopened.status_code == 400 and message_ids(reopened.text) == ["signup_link_invalid"]


def test_sign_up_from_a_portal_leads_back_to_it(
    signup: SignupActions, factory: Factory, services: Services
) -> None:
    """Issue 14 item 7: the login page's "Create an account" keeps the portal's request,
    and the end of sign-up offers to sign in and go back to that portal."""
    rp = factory.client(name="Riverside portal", first_party=True)
    oidc = OIDCActions(signup.client, factory)
    req = oidc.request(rp)
    location = oidc.authorize(req).headers["Location"]
    login_page = signup.client.get(location).text
    interaction = query(location)["i"]
    assert f'href="/signup?i={interaction}"' in login_page
    assert signup.client.get(f"/signup?i={interaction}").status_code == 200
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    done = signup.confirm(link)
    assert message_ids(done.text) == ["signup_verified"]
    continue_url = re.search(r'id="continue-to-portal" href="([^"]+)"', done.text)
    assert continue_url and "Riverside portal" in done.text
    assert continue_url.group(1) == f"/login?i={interaction}"
    signed_in = oidc.login(continue_url.group(1), username="ghopper", password=PASSWORD)
    finished = oidc.follow_to_redirect(signed_in)
    callback = query(finished.headers["Location"])
    assert "code" in callback and callback["state"] == req.state


def test_sign_up_without_a_portal_offers_plain_sign_in(signup: SignupActions) -> None:
    signup.client.get("/signup?i=not-a-live-interaction")
    signup.sign_up()
    done = signup.confirm(signup.link(signup.deliver()[0]))
    assert "continue-to-portal" not in done.text
    assert 'href="/login"' in done.text


def test_expired_link_is_refused_and_the_details_are_gone(
    signup: SignupActions, services: Services, clock: MovableClock
) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    clock.advance(services.settings.accounts.verify_link_ttl + 1)
    expired = signup.open_link(link)
    assert expired.status_code == 400 and message_ids(expired.text) == ["signup_link_invalid"]
    token = link.split("token=", 1)[1]
    csrf = signup._csrf("/signup/resend")
    posted = signup.client.post("/signup/verify", data={"token": token, "csrf_token": csrf})
    assert posted.status_code == 400 and message_ids(posted.text) == ["signup_link_invalid"]
    assert domain_rows(services)["accounts"] == 0

    # The would-be account expired with its link: resend has nothing left to renew.
    sent = signup.resend(DEMOGRAPHICS["email"])
    assert sent.status_code == 200 and message_ids(sent.text) == ["signup_resend_sent"]
    assert signup.deliver() == []
    assert pending_registrations(services) == []
    # Signing up again works (the user ID's reservation ran out with the link).
    forget_reservation(services, "ghopper")
    assert message_ids(signup.sign_up().text) == CHECK_EMAIL_IDS
    assert message_ids(signup.confirm(signup.link(signup.deliver()[0])).text) == ["signup_verified"]
    assert signup.login().status_code == 303


def test_a_new_link_lives_its_full_time(
    signup: SignupActions, services: Services, clock: MovableClock
) -> None:
    signup.sign_up()
    signup.deliver()
    ttl = services.settings.accounts.verify_link_ttl
    clock.advance(ttl - 60)
    signup.resend(DEMOGRAPHICS["email"])
    [mail] = signup.deliver()
    clock.advance(120)  # past the first link's end, within the new one's
    assert message_ids(signup.confirm(signup.link(mail)).text) == ["signup_verified"]


def test_resend_kills_the_old_link(signup: SignupActions) -> None:
    signup.sign_up()
    old = signup.link(signup.deliver()[0])
    signup.resend(DEMOGRAPHICS["email"].upper())  # addresses match case-insensitively
    [mail] = signup.deliver()
    new = signup.link(mail)
    assert new != old
    assert signup.open_link(old).status_code == 400
    assert message_ids(signup.confirm(new).text) == ["signup_verified"]


def test_resend_for_an_active_account_sends_nothing(signup: SignupActions) -> None:
    signup.sign_up()
    signup.confirm(signup.link(signup.deliver()[0]))
    reply = signup.resend(DEMOGRAPHICS["email"])
    assert message_ids(reply.text) == ["signup_resend_sent"]
    assert signup.deliver() == []


def test_unknown_or_malformed_tokens_get_the_neutral_page(signup: SignupActions) -> None:
    for suffix in ("", "?token=", "?token=short", "?token=" + "A" * 43, "?token=" + "%" * 300):
        page = signup.client.get("/signup/verify" + suffix)
        assert page.status_code == 400, suffix
        assert message_ids(page.text) == ["signup_link_invalid"]


def test_taken_user_id_is_reported_case_insensitively(
    signup: SignupActions, factory: Factory, services: Services
) -> None:
    factory.account("GHopper", email="someone.else@example.test")
    before = domain_rows(services)
    response = signup.sign_up(username="ghopper")
    assert response.status_code == 400
    assert reasons(response.text) == ["username_taken"]
    # The flow goes on: another user ID completes it (the account waits for the link).
    retry = signup.account(signup.flow_id(response), username="grace.hopper")
    assert message_ids(retry.text) == CHECK_EMAIL_IDS
    assert domain_rows(services)["accounts"] == before["accounts"]
    assert [p.username for p in pending_registrations(services)] == ["grace.hopper"]


def test_the_user_id_is_reserved_until_the_link_creates_the_account(
    signup: SignupActions, services: Services
) -> None:
    signup.sign_up()
    # Someone else, choosing the same user ID (in any case), hears "taken".
    taken = signup.sign_up(SOMEONE_ELSE, username="GHOPPER")
    assert taken.status_code == 400 and reasons(taken.text) == ["username_taken"]
    # The reservation is the only thing held: no account, and the other sign-up goes on.
    retry = signup.account(signup.flow_id(taken), username="kjohnson")
    assert message_ids(retry.text) == CHECK_EMAIL_IDS
    assert domain_rows(services)["accounts"] == 0
    mine = signup.link(signup.deliver()[0])
    assert message_ids(signup.confirm(mine).text) == ["signup_verified"]
    # Now a real account holds it: still "taken", the same way.
    again = signup.sign_up(SOMEONE_ELSE | {"email": "k2@example.test"}, username="ghopper")
    assert reasons(again.text) == ["username_taken"]


def test_a_user_id_taken_after_its_reservation_ran_out_asks_for_another(
    signup: SignupActions, services: Services, factory: Factory
) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    forget_reservation(services, "ghopper")
    factory.account("GHOPPER", email="rival@example.test")  # e.g. made by the office
    before = domain_rows(services)

    chooser = signup.confirm(link)
    assert chooser.status_code == 200
    assert message_ids(chooser.text) == ["signup_choose_user_id"]
    assert domain_rows(services) == before  # nothing half-written
    assert signup.open_link(link).status_code == 400  # the link itself is used
    flow_id = signup.flow_id(chooser)

    def choose(username: str):  # type: ignore[no-untyped-def]
        return signup.client.post(
            "/signup/verify/user-id",
            data={"f": flow_id, "username": username, "csrf_token": csrf_token(chooser.text)},
        )

    still_taken = choose("ghopper")
    assert still_taken.status_code == 400 and reasons(still_taken.text) == ["username_taken"]
    malformed = choose("no spaces please")
    assert malformed.status_code == 400 and reasons(malformed.text) == ["username_invalid"]
    assert domain_rows(services) == before
    done = choose("grace.h")
    assert done.status_code == 200 and message_ids(done.text) == ["signup_verified"]
    assert signup.login("grace.h", PASSWORD).status_code == 303
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("grace.h")
    assert account is not None and account.email == DEMOGRAPHICS["email"] and account.email_verified
    # Used once: the page cannot create a second account.
    assert choose("grace.h2").status_code == 400
    assert domain_rows(services)["accounts"] == before["accounts"] + 1


def test_a_user_id_reserved_by_another_sign_up_meanwhile_asks_for_another(
    signup: SignupActions, services: Services
) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    forget_reservation(services, "ghopper")
    signup.sign_up(SOMEONE_ELSE, username="ghopper")  # reserves it now
    chooser = signup.confirm(link)
    assert message_ids(chooser.text) == ["signup_choose_user_id"]
    assert domain_rows(services)["accounts"] == 0


def test_a_link_opened_after_its_reservation_ran_out_reserves_again(
    signup: SignupActions, services: Services
) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    forget_reservation(services, "ghopper")
    assert message_ids(signup.confirm(link).text) == ["signup_verified"]
    assert signup.login().status_code == 303
    assert not user_id_reserved(services, "ghopper")


def test_a_pending_account_made_elsewhere_still_verifies_and_resends(
    signup: SignupActions, services: Services
) -> None:
    """Accounts left "pending" (staff approval, sign-ups before this change) keep working."""
    now = datetime.now(UTC)
    with services.db.transaction() as uow:
        account = uow.accounts.add(
            username="old.pending",
            password_hash=services.hashing.hash(PASSWORD),
            email="old@example.test",
            now=now,
            status="pending",
            person=NewPerson(first_name="Old", last_name="Pending"),
        )
        send_verification_link(
            uow,
            services.notifier,
            account_id=account.id,
            email="old@example.test",
            issuer=services.settings.issuer,
            ttl=3600,
            now=now,
        )
    old = signup.link(signup.deliver()[0])
    refused = signup.login("old.pending", PASSWORD)
    assert refused.status_code == 403 and message_ids(refused.text) == ["email_not_verified"]
    signup.resend("old@example.test")
    [mail] = signup.deliver()
    assert signup.open_link(old).status_code == 400  # the new link killed the old one
    assert message_ids(signup.confirm(signup.link(mail)).text) == ["signup_verified"]
    assert signup.login("old.pending", PASSWORD).status_code == 303


def test_taken_user_id_is_reported_with_every_other_reason(
    signup: SignupActions, factory: Factory
) -> None:
    factory.account("ghopper", email="someone.else@example.test")
    response = signup.sign_up(password="short", accept_terms=None)
    assert reasons(response.text) == ["username_taken", "too_short", "terms_not_accepted"]


def test_email_in_use_creates_nothing_and_tells_the_owner(
    signup: SignupActions, factory: Factory, services: Services
) -> None:
    factory.account("owner", email="Grace@Example.test", password=FACTORY_PASSWORD)
    before = domain_rows(services)
    response = signup.sign_up()
    assert response.status_code == 200
    assert message_ids(response.text) == CHECK_EMAIL_IDS
    after = domain_rows(services)
    assert {k: after[k] - before[k] for k in after} == {
        "accounts": 0,
        "persons": 0,
        "security_answers": 0,
        "action_tokens": 0,
        "outbox": 1,
    }
    [notice] = signup.deliver()
    assert notice["To"] == "Grace@Example.test"  # the owner's stored address
    assert "someone tried to sign up" in notice["Subject"]
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "/signup/verify" not in text and "Grace" not in text and "ghopper" not in text
    assert services.settings.issuer + "/login" in text
    # The owner still signs in as before.
    assert signup.login("owner", FACTORY_PASSWORD).status_code == 303


def test_a_second_sign_up_with_a_pending_address_points_to_resend(
    signup: SignupActions, services: Services
) -> None:
    signup.sign_up()
    signup.deliver()
    signup.sign_up(username="another-id")
    [notice] = signup.deliver()
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert services.settings.issuer + "/signup/resend" in text
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("another-id") is None


def test_flow_is_single_use(signup: SignupActions, services: Services) -> None:
    first = signup.start()
    flow_id = signup.flow_id(first)
    assert message_ids(signup.account(flow_id).text) == CHECK_EMAIL_IDS
    again = signup.account(flow_id, username="second-try")
    assert again.status_code == 400
    assert message_ids(again.text) == ["signup_flow_expired"]
    assert [p.username for p in pending_registrations(services)] == ["ghopper"]
    assert not user_id_reserved(services, "second-try")


def test_login_page_links_to_sign_up(client: FlaskClient) -> None:
    page = client.get("/login")
    assert 'href="/signup"' in page.text and "Create an account" in page.text
    start = client.get("/signup")
    assert start.status_code == 200
    for token in ("given-name", "family-name", "bday", "postal-code", "email"):
        assert f'autocomplete="{token}"' in start.text
    assert 'name="csrf_token"' in start.text


def test_get_of_step_two_goes_back_to_step_one(client: FlaskClient) -> None:
    response = client.get("/signup/account")
    assert response.status_code == 303 and response.headers["Location"].endswith("/signup")


def test_terms_page(client: FlaskClient) -> None:
    page = client.get("/terms")
    assert page.status_code == 200 and "Terms of use" in page.text
