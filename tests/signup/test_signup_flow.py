"""Sign-up from the first page to the first sign-in, with mail over real SMTP."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from idp.services import Services
from idp.store.sql import models

from ..conftest import PASSWORD as FACTORY_PASSWORD
from ..conftest import Factory
from ..helpers import MovableClock, audit_types, csrf_token, message_ids
from .conftest import CHECK_EMAIL_IDS, DEMOGRAPHICS, PASSWORD, SignupActions, domain_rows, reasons


def test_sign_up_verify_then_sign_in(signup: SignupActions, services: Services) -> None:
    first = signup.start()
    assert first.status_code == 200
    assert 'name="username"' in first.text and 'autocomplete="new-password"' in first.text

    done = signup.account(signup.flow_id(first))
    assert done.status_code == 200
    assert message_ids(done.text) == CHECK_EMAIL_IDS

    # Before the link is used the account exists but cannot sign in.
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("GHOPPER")
        assert account is not None and account.status == "pending"
        assert not account.email_verified
        assert account.person is not None and account.person.dob.isoformat() == "1990-05-17"
        assert len(uow.security_answers.for_account(account.id)) == 3
    refused = signup.login()
    assert refused.status_code == 403
    assert message_ids(refused.text) == ["email_not_verified"]
    assert 'href="/signup/resend"' in refused.text

    [mail] = signup.deliver()
    assert mail["To"] == DEMOGRAPHICS["email"]
    assert "confirm your email address" in mail["Subject"]
    assert "Grace" not in mail.as_string()  # nothing the requester typed goes to the inbox
    link = signup.link(mail)
    assert link.startswith(services.settings.issuer + "/signup/verify?token=")

    # Opening the link (as a mail scanner would) changes nothing.
    for _ in range(2):
        page = signup.open_link(link)
        assert page.status_code == 200 and message_ids(page.text) == ["signup_verify_prompt"]
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper").status == "pending"  # type: ignore[union-attr]

    ready = signup.confirm(link)
    assert ready.status_code == 200
    assert message_ids(ready.text) == ["signup_verified"]
    assert 'href="/login"' in ready.text

    signed_in = signup.login("GHopper", PASSWORD)
    assert signed_in.status_code == 303, signed_in.text[:500]
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None and account.status == "active" and account.email_verified
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


def test_wrong_password_for_a_pending_account_is_an_ordinary_failure(
    signup: SignupActions, client: FlaskClient, factory: Factory
) -> None:
    signup.sign_up()
    factory.account("known")  # an active account, for comparison
    replies = []
    for username in ("ghopper", "known", "nobody"):
        response = signup.login(username, "not the password at all")
        replies.append((response.status_code, message_ids(response.text)))
    assert replies == [(401, ["invalid_credentials"])] * 3
    # Failures on a pending account count toward the lock like any other.
    for _ in range(4):
        last = signup.login("ghopper", "still not the password")
    assert message_ids(last.text) == ["account_locked"]
    assert message_ids(signup.login("ghopper", PASSWORD).text) == ["account_locked"]


def test_link_works_once(signup: SignupActions) -> None:
    signup.sign_up()
    link = signup.link(signup.deliver()[0])
    token = link.split("token=", 1)[1]
    page = signup.open_link(link)
    csrf = csrf_token(page.text)
    assert (
        signup.client.post("/signup/verify", data={"token": token, "csrf_token": csrf}).status_code
        == 200
    )
    again = signup.client.post("/signup/verify", data={"token": token, "csrf_token": csrf})
    assert again.status_code == 400
    assert message_ids(again.text) == ["signup_link_invalid"]
    assert 'href="/signup/resend"' in again.text
    reopened = signup.open_link(link)
    assert reopened.status_code == 400 and message_ids(reopened.text) == ["signup_link_invalid"]


def test_expired_link_is_refused_and_a_new_one_works(
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

    sent = signup.resend(DEMOGRAPHICS["email"])
    assert sent.status_code == 200 and message_ids(sent.text) == ["signup_resend_sent"]
    assert message_ids(signup.confirm(signup.link(signup.deliver()[0])).text) == ["signup_verified"]
    assert signup.login().status_code == 303


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
    for query in ("", "?token=", "?token=short", "?token=" + "A" * 43, "?token=" + "%" * 300):
        page = signup.client.get("/signup/verify" + query)
        assert page.status_code == 400, query
        assert message_ids(page.text) == ["signup_link_invalid"]


def test_taken_user_id_is_reported_case_insensitively(
    signup: SignupActions, factory: Factory, services: Services
) -> None:
    factory.account("GHopper", email="someone.else@example.test")
    before = domain_rows(services)
    response = signup.sign_up(username="ghopper")
    assert response.status_code == 400
    assert reasons(response.text) == ["username_taken"]
    # The flow goes on: another user ID completes it.
    retry = signup.account(signup.flow_id(response), username="grace.hopper")
    assert message_ids(retry.text) == CHECK_EMAIL_IDS
    assert domain_rows(services)["accounts"] == before["accounts"] + 1


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
    assert domain_rows(services)["accounts"] == 1


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
