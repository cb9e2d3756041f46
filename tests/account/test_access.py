"""Every account page needs sign-in; every page has one heading, the nav and CSRF tokens."""

from __future__ import annotations

import re

import pytest

from .conftest import Browser, snapshot

PAGES = [
    "/account",
    "/account/profile",
    "/account/password",
    "/account/email",
    "/account/questions",
    "/account/sessions",
    "/account/activity",
    "/account/close",
]
POSTS = [
    "/account/profile",
    "/account/password",
    "/account/email",
    "/account/email/confirm",
    "/account/questions",
    "/account/sessions/end",
    "/account/sessions/end-all",
    "/account/close",
]


@pytest.mark.parametrize("path", [*PAGES, "/account/email/confirm?token=" + "a" * 43])
def test_signed_out_browser_is_sent_to_the_login_page(anonymous: Browser, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", POSTS)
def test_signed_out_post_changes_nothing(anonymous: Browser, services, alice, path: str) -> None:
    before = snapshot(services)
    page = anonymous.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = anonymous.client.post(
        path, data={"csrf_token": token.group(1), "current_password": "x", "confirmation": "CLOSE"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert snapshot(services) == before


def test_a_session_ended_elsewhere_no_longer_opens_the_pages(browser: Browser, services) -> None:
    cookie = browser.client.get_cookie("idp_session")
    assert cookie is not None
    services.sessions.end(cookie.value)
    assert browser.get("/account").status_code == 302


@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_one_heading_the_nav_and_csrf_tokens(browser: Browser, path: str) -> None:
    response = browser.get(path)
    assert response.status_code == 200, response.text[:300]
    html = response.text
    assert html.count("<h1") == 1
    assert '<nav aria-label="My account"' in html
    assert html.count('aria-current="page"') == 1
    forms = re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S)
    assert forms
    for form in forms:
        assert 'method="post"' in form
        assert 'name="csrf_token"' in form
    assert "<script" not in html  # works without JavaScript
    # Every input has a label (the hidden ones aside).
    for input_id in re.findall(r'<input id="([^"]+)"', html):
        assert f'for="{input_id}"' in html, input_id
    assert response.headers["Cache-Control"] == "no-store"


def test_home_page_links_to_my_account_when_signed_in(browser: Browser) -> None:
    assert 'href="/account"' in browser.get("/").text


@pytest.mark.settings(accounts__security_questions=0)
def test_questions_section_is_absent_when_questions_are_off(browser: Browser) -> None:
    assert browser.get("/account/questions").status_code == 404
    assert "/account/questions" not in browser.get("/account").text
