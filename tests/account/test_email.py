"""Changing the email address: a single-use link to the new address, notices to the
old one, and the address changes only when the link is used."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ..conftest import PASSWORD, Factory
from ..helpers import MovableClock, csrf_token, message_ids
from .conftest import Browser, Mail, account, body, events, link_in, snapshot

NEW = "alice.new@example.org"


def request_change(browser: Browser, address: str = NEW, password: str = PASSWORD):
    return browser.submit("/account/email", {"new_email": address, "current_password": password})


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def confirm(browser: Browser, link: str):
    page = browser.get(path_of(link))
    assert page.status_code == 200, page.text[:300]
    token = urlsplit(link).query.removeprefix("token=")
    return browser.client.post(
        "/account/email/confirm", data={"csrf_token": csrf_token(page.text), "token": token}
    )


def test_link_to_new_address_notice_to_old_then_confirm(
    browser: Browser, mail: Mail, services, alice
) -> None:
    response = request_change(browser)
    assert response.status_code == 303
    assert message_ids(browser.get("/account/email").text) == ["account_email_link_sent"]
    # Nothing changes until the link is used.
    assert account(services, alice.id).email == "alice@example.test"

    delivered = mail.deliver()
    [verify] = mail.to(delivered, NEW)
    [warning] = mail.to(delivered, "alice@example.test")
    assert "confirm your new email" in str(verify["Subject"])
    link = link_in(verify)
    assert link.startswith(services.settings.issuer + "/account/email/confirm?token=")
    assert "asked to change" in str(warning["Subject"])
    assert "a***@example.org" in body(warning) and NEW not in body(warning)
    assert "token=" not in body(warning)

    # The link opens a page with a button (a mail scanner's GET changes nothing).
    page = browser.get(path_of(link))
    assert page.status_code == 200 and NEW in page.text
    assert account(services, alice.id).email == "alice@example.test"
    done = confirm(browser, link)
    assert done.status_code == 303 and done.headers["Location"] == "/account"

    overview = browser.get("/account")
    assert message_ids(overview.text)[0] == "account_email_changed"
    changed = account(services, alice.id)
    assert changed.email == NEW and changed.email_verified
    assert 'data-verified="yes"' in overview.text

    [notice] = mail.deliver()
    assert notice["To"] == "alice@example.test"
    assert "was changed" in str(notice["Subject"])

    # Single use.
    again = browser.get(path_of(link))
    assert again.status_code == 400 and message_ids(again.text) == ["account_email_link_invalid"]

    types = [e.type for e in events(services, alice.subject)]
    assert types[-2:] == ["email_change_requested", "email_changed"]
    assert all(NEW not in repr(e.details) for e in events(services))


def test_a_second_request_kills_the_first_link(browser: Browser, mail: Mail, services, alice):
    request_change(browser, "first@example.org")
    first = link_in(mail.to(mail.deliver(), "first@example.org")[0])
    request_change(browser, "second@example.org")
    second = link_in(mail.to(mail.deliver(), "second@example.org")[0])

    dead = browser.get(path_of(first))
    assert dead.status_code == 400 and message_ids(dead.text) == ["account_email_link_invalid"]
    assert confirm(browser, second).status_code == 303
    assert account(services, alice.id).email == "second@example.org"


@pytest.mark.settings(accounts__verify_link_ttl=300)
def test_expired_link_is_refused(
    browser: Browser, mail: Mail, services, alice, clock: MovableClock
) -> None:
    request_change(browser)
    link = link_in(mail.to(mail.deliver(), NEW)[0])
    assert "5 minutes" not in link
    page = browser.get(path_of(link))
    assert page.status_code == 200
    clock.advance(301)
    assert browser.get(path_of(link)).status_code == 400
    token = urlsplit(link).query.removeprefix("token=")
    late = browser.client.post(
        "/account/email/confirm", data={"csrf_token": csrf_token(page.text), "token": token}
    )
    assert late.status_code == 400
    assert message_ids(late.text) == ["account_email_link_invalid"]
    assert account(services, alice.id).email == "alice@example.test"
    assert mail.deliver() == []


def test_wrong_password_sends_nothing(browser: Browser, mail: Mail, services) -> None:
    before = snapshot(services)["counts"]
    response = request_change(browser, password="not it")
    assert response.status_code == 401
    assert message_ids(response.text) == ["account_wrong_password"]
    assert mail.deliver() == []
    after = snapshot(services)["counts"]
    assert after["action_tokens"] == before["action_tokens"]
    assert after["outbox_messages"] == before["outbox_messages"]


@pytest.mark.parametrize(
    ("address", "message_id"),
    [
        ("not-an-email", "account_email_invalid"),
        ("Alice <a@example.org>", "account_email_invalid"),
        ("a@example.org, b@example.org", "account_email_invalid"),
        ("ALICE@example.test", "account_email_same"),
    ],
)
def test_bad_addresses_are_refused(
    browser: Browser, services, address: str, message_id: str
) -> None:
    before = snapshot(services)
    response = request_change(browser, address)
    assert response.status_code == 400
    assert message_ids(response.text) == [message_id]
    assert snapshot(services) == before


def test_another_accounts_link_is_refused_and_left_usable(
    browser: Browser, mail: Mail, services, app, factory: Factory, alice
) -> None:
    request_change(browser)
    link = link_in(mail.to(mail.deliver(), NEW)[0])
    factory.account(username="bob")
    bob = Browser(app.test_client(), factory, user_agent="curl/8", ip="192.0.2.8")
    bob.sign_in("bob")
    assert bob.get(path_of(link)).status_code == 400
    assert confirm(browser, link).status_code == 303
    assert account(services, alice.id).email == NEW


def test_a_signed_out_browser_opening_the_link_is_asked_to_sign_in(
    browser: Browser, anonymous: Browser, mail: Mail
) -> None:
    request_change(browser)
    link = link_in(mail.to(mail.deliver(), NEW)[0])
    response = anonymous.get(path_of(link))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_links_use_the_issuer_not_the_host_header(browser: Browser, mail: Mail, services):
    # A browser talking to us under a forged Host name, with its cookies.
    for name in ("idp_session", "idp_csrf"):
        cookie = browser.client.get_cookie(name)
        assert cookie is not None
        browser.client.set_cookie(name, cookie.value, domain="evil.example")
    page = browser.get("/account/email", base_url="http://evil.example")
    assert page.status_code == 200
    response = browser.client.post(
        "/account/email",
        base_url="http://evil.example",
        data={"csrf_token": csrf_token(page.text), "new_email": NEW, "current_password": PASSWORD},
    )
    assert response.status_code == 303
    link = link_in(mail.to(mail.deliver(), NEW)[0])
    assert link.startswith(services.settings.issuer + "/")
    assert "evil.example" not in link


def test_unverified_old_address_gets_no_notice(app, factory: Factory, mail: Mail, services) -> None:
    factory.account(username="carol", email="carol@example.test", email_verified=False)
    carol = Browser(app.test_client(), factory, user_agent="curl/8", ip="192.0.2.9")
    carol.sign_in("carol")
    request_change(carol, "carol@example.org")
    delivered = mail.deliver()
    assert [m["To"] for m in delivered] == ["carol@example.org"]
