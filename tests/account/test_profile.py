"""The overview and the phone number; names stay read-only (the practices match on them)."""

from __future__ import annotations

import re

import pytest

from ..conftest import PASSWORD
from ..helpers import form_values, message_ids
from .conftest import Browser, account, events, snapshot


def test_overview_shows_the_profile_and_links_every_section(browser: Browser) -> None:
    html = browser.get("/account").text
    assert re.search(r'data-field="name">Alice Smith<', html)
    assert re.search(r'data-field="username">alice<', html)
    assert "alice@example.test" in html and 'data-verified="yes"' in html
    assert "+16175550100" in html and 'data-verified="no"' in html
    for section in ("profile", "password", "email", "questions", "sessions", "activity", "close"):
        assert f'href="/account/{section}"' in html


def test_names_are_read_only_with_a_note(browser: Browser) -> None:
    html = browser.get("/account/profile").text
    assert "account_names_read_only" in message_ids(html)
    assert not re.search(r'name="(first_name|last_name|name)"', html)


def test_phone_is_normalised_and_saved_after_the_password(
    browser: Browser, services, alice
) -> None:
    response = browser.submit(
        "/account/profile", {"phone": "(617) 555-0123", "current_password": PASSWORD}
    )
    assert response.status_code == 303
    page = browser.get("/account/profile")
    assert message_ids(page.text)[0] == "account_phone_changed"
    assert 'data-field="phone">+16175550123<' in page.text
    record = account(services, alice.id)
    assert record.phone == "+16175550123" and not record.phone_verified
    [event] = [e for e in events(services) if e.type == "phone_changed"]
    assert event.outcome == "success" and event.subject == alice.subject
    assert "6175550123" not in repr(event)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12", "too_short"),
        ("call me maybe", "not_a_number"),
        ("617-555-0123 ext. 4", "has_extension"),
    ],
)
def test_invalid_phone_is_refused_with_its_reason(
    browser: Browser, services, raw: str, reason: str
) -> None:
    before = snapshot(services)
    response = browser.submit("/account/profile", {"phone": raw, "current_password": PASSWORD})
    assert response.status_code == 400
    assert "account_phone_invalid" in message_ids(response.text)
    assert f'data-reason="{reason}"' in response.text
    assert snapshot(services) == before


def test_phone_change_needs_the_current_password(browser: Browser, services, alice) -> None:
    response = browser.submit(
        "/account/profile", {"phone": "(617) 555-0123", "current_password": "guess"}
    )
    assert response.status_code == 401
    assert "account_wrong_password" in message_ids(response.text)
    assert account(services, alice.id).phone == "+16175550100"


def test_a_refused_phone_change_keeps_the_number_typed(browser: Browser, alice) -> None:
    """Issue 14, item 6: the number stays in the form; the password does not."""
    response = browser.submit(
        "/account/profile", {"phone": "(617) 555-0123", "current_password": "guess"}
    )
    assert response.status_code == 401
    kept = form_values(response.text)
    assert kept["phone"] == "(617) 555-0123" and kept["current_password"] == ""
    assert 'value="guess"' not in response.text
