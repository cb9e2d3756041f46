"""Where you are signed in: every live session, sign out one, sign out everywhere."""

from __future__ import annotations

import re

from ..conftest import Factory
from ..helpers import message_ids
from .conftest import Browser, events


def session_keys(html: str) -> list[str]:
    return re.findall(r'<li data-session="([0-9a-f]{64})"', html)


def current_key(html: str) -> str:
    match = re.search(r'<li data-session="([0-9a-f]{64})" data-current="yes"', html)
    assert match
    return match.group(1)


def test_lists_both_devices_and_marks_this_one(browser: Browser, phone: Browser) -> None:
    html = browser.get("/account/sessions").text
    assert len(session_keys(html)) == 2
    assert html.count('data-marker="this-device"') == 1
    assert "Firefox on Linux" in html and "Safari on iPhone" in html
    assert "198.51.100.7" in html and "203.0.113.44" in html
    # The phone sees the same two, with itself marked.
    other = phone.get("/account/sessions").text
    assert set(session_keys(other)) == set(session_keys(html))
    assert current_key(other) != current_key(html)
    # Only the other device has a sign-out button.
    assert html.count('name="session"') == 1


def test_sign_out_one_device(browser: Browser, phone: Browser, services, alice) -> None:
    html = browser.get("/account/sessions").text
    mine = current_key(html)
    [theirs] = [k for k in session_keys(html) if k != mine]
    response = browser.submit(
        "/account/sessions/end", {"session": theirs}, page="/account/sessions"
    )
    assert response.status_code == 303 and response.headers["Location"] == "/account/sessions"
    page = browser.get("/account/sessions").text
    assert message_ids(page) == ["account_session_ended"]
    assert session_keys(page) == [mine]
    assert not phone.signed_in()
    assert browser.signed_in()
    [event] = [e for e in events(services) if e.type == "logout"]
    assert event.subject == alice.subject and event.session_id == theirs[:16]
    assert event.details == {
        "initiated_by": "account_page",
        "scope": "one_session",
        "token_families_revoked": 0,
    }


def test_signing_out_this_device_from_the_list_signs_out_here(
    browser: Browser, phone: Browser
) -> None:
    mine = current_key(phone.get("/account/sessions").text)
    response = phone.submit("/account/sessions/end", {"session": mine}, page="/account/sessions")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not phone.signed_in()
    assert browser.signed_in()


def test_unknown_or_foreign_session_is_refused(
    browser: Browser, app, factory: Factory, services
) -> None:
    factory.account(username="bob")
    bob = Browser(app.test_client(), factory, user_agent="curl/8", ip="192.0.2.8")
    bob.sign_in("bob")
    bobs = current_key(bob.get("/account/sessions").text)
    before = len(events(services))
    for key in (bobs, "0" * 64):
        response = browser.submit(
            "/account/sessions/end", {"session": key}, page="/account/sessions"
        )
        assert response.status_code == 404
        assert message_ids(response.text) == ["account_session_not_found"]
    assert bob.signed_in()
    assert len(events(services)) == before


def test_sign_out_everywhere_ends_every_session_and_app(
    browser: Browser, phone: Browser, factory: Factory, services, alice
) -> None:
    rp = factory.client()
    tokens = phone.oidc.tokens(rp)
    response = browser.submit("/account/sessions/end-all", {}, page="/account/sessions")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    [cleared] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_session=")]
    assert cleared.startswith("idp_session=;") and "Max-Age=0" in cleared
    assert not browser.signed_in()
    assert not phone.signed_in()
    assert phone.oidc.refresh(rp, tokens["refresh_token"]).status_code == 400
    assert phone.oidc.userinfo(tokens["access_token"]).status_code == 401
    [event] = [e for e in events(services) if e.type == "logout"]
    assert event.details["scope"] == "everywhere"
    assert event.details["token_families_revoked"] == 1
    # Signing in again afterwards works.
    browser.sign_in()
    assert browser.signed_in()
