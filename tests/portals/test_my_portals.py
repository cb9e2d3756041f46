"""The "My portals" page: linked practices, masked MRNs, last sign-in per practice."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta

import pytest

from idp.records import AccountRecord
from idp.services import Services

from ..account.conftest import FIREFOX, Browser
from ..conftest import Factory
from ..helpers import MovableClock, message_ids
from .conftest import NORTH_MRN, SOUTH_MRN, Practice, add_practice, link


def practices(html: str) -> dict[str, str]:
    """Each listed practice's slug and the HTML of its entry."""
    return dict(re.findall(r'<li data-portal="([^"]+)">(.*?)</li>', html, re.S))


def field(entry: str, name: str) -> str:
    match = re.search(rf'<dd data-field="{name}">(.*?)</dd>', entry, re.S)
    assert match, entry
    return match.group(1).strip()


def last_signin(entry: str) -> datetime | None:
    match = re.search(r'<dd data-field="last_signin"><time datetime="([^"]+)"', entry)
    return datetime.fromisoformat(match.group(1)) if match else None


@pytest.mark.usefixtures("linked")
def test_lists_each_linked_practice_with_a_masked_patient_id(
    browser: Browser, north: Practice, south: Practice
) -> None:
    page = browser.get("/account/portals")
    assert page.status_code == 200
    listed = practices(page.text)
    assert list(listed) == ["northside", "southbay"]  # by practice name
    assert "Northside Pediatrics" in listed["northside"]
    assert field(listed["northside"], "patient_id") == "••••213"
    assert field(listed["southbay"], "patient_id") == "••••120"
    # The whole MRN is never on the page.
    assert NORTH_MRN not in page.text and SOUTH_MRN not in page.text
    for entry in listed.values():
        assert field(entry, "last_signin") == "Not yet"
        assert 'name="current_password"' in entry and 'name="csrf_token"' in entry
    assert "portals_unlink_explained" in message_ids(page.text)


def test_last_signin_updates_for_the_practice_signed_in_at(
    browser: Browser, clock: MovableClock, linked: None, north: Practice
) -> None:
    clock.advance(3600)
    browser.oidc.tokens(north.client)
    listed = practices(browser.get("/account/portals").text)
    at = last_signin(listed["northside"])
    assert at is not None and abs((at - clock()).total_seconds()) < 5
    assert field(listed["southbay"], "last_signin") == "Not yet"

    clock.advance(7200)
    browser.oidc.tokens(north.client)  # consent remembered: straight to a code
    later = last_signin(practices(browser.get("/account/portals").text)["northside"])
    assert later is not None and (later - at).total_seconds() >= 7200


def test_only_active_links_are_listed_and_invited_ones_wait(
    browser: Browser,
    services: Services,
    factory: Factory,
    alice: AccountRecord,
    north: Practice,
    south: Practice,
) -> None:
    link(services, alice, north, NORTH_MRN)
    link(services, alice, south, SOUTH_MRN, status="invited")
    east = add_practice(factory, "eastside", "Eastside Clinic", 9103)
    link(services, alice, east, "E-55")
    with services.db.transaction() as uow:
        uow.portal_links.revoke(alice.id, east.portal.id, services.clock())

    page = browser.get("/account/portals").text
    assert list(practices(page)) == ["northside"]
    assert re.findall(r'data-pending="([^"]+)"', page) == ["South Bay Family Medicine"]
    assert "Eastside Clinic" not in page


def invite(services: Services, practice: Practice, email: str, *, days: int = 14) -> None:
    """An invitation row as the invitations store keeps it (activation is tested there)."""
    now = services.clock()
    with services.db.transaction() as uow:
        uow.invitations.create(
            portal_id=practice.portal.id,
            patient_id=f"INV-{practice.portal.slug}-{email}",
            code_hash=secrets.token_hex(32),
            first_name="Alice",
            last_name="Smith",
            dob=date(1990, 5, 17),
            zip="02139",
            gender=None,
            email=email,
            created_by="staff:test",
            now=now,
            expires_at=now + timedelta(days=days),
        )


def test_invitations_to_the_verified_address_are_waiting(
    browser: Browser,
    services: Services,
    factory: Factory,
    alice: AccountRecord,
    north: Practice,
    south: Practice,
) -> None:
    link(services, alice, north, NORTH_MRN)
    east = add_practice(factory, "eastside", "Eastside Clinic", 9103)
    west = add_practice(factory, "westend", "West End Health", 9104)
    invite(services, south, "ALICE@example.test")  # hers, any case
    invite(services, north, "alice@example.test")  # already linked there: not waiting
    invite(services, east, "someone.else@example.test")
    invite(services, west, "alice@example.test", days=-1)  # expired

    page = browser.get("/account/portals").text
    assert re.findall(r'data-pending="([^"]+)"', page) == ["South Bay Family Medicine"]
    assert "portals_pending_explained" in message_ids(page)
    assert "INV-" not in page  # the invitation's record number is not shown


def test_invitations_are_not_shown_for_an_unverified_address(
    app, services: Services, factory: Factory, south: Practice
) -> None:
    factory.account("dana", email_verified=False)
    invite(services, south, "dana@example.test")
    dana = Browser(app.test_client(), factory, user_agent=FIREFOX, ip="198.51.100.8")
    dana.sign_in("dana")
    page = dana.get("/account/portals")
    assert page.status_code == 200
    assert "data-pending" not in page.text


def test_no_practice_yet(browser: Browser) -> None:
    page = browser.get("/account/portals")
    assert page.status_code == 200
    assert message_ids(page.text) == ["portals_none", "portals_allowed_none"]
    assert practices(page.text) == {}


def test_other_accounts_links_are_not_shown(
    browser: Browser, services: Services, factory: Factory, north: Practice
) -> None:
    bob = factory.account("bob")
    link(services, bob, north, "N-BOB")
    assert practices(browser.get("/account/portals").text) == {}


def test_needs_sign_in(app, services: Services, alice: AccountRecord, north: Practice) -> None:
    link(services, alice, north, NORTH_MRN)
    anonymous = app.test_client()
    page = anonymous.get("/account/portals")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    # A signed-out POST, even with a valid CSRF token, goes to sign-in and ends nothing.
    token = re.search(r'name="csrf_token" value="([^"]+)"', anonymous.get("/login").text)
    assert token
    response = anonymous.post(
        "/account/portals/unlink",
        data={"csrf_token": token.group(1), "portal": "northside", "current_password": "x"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with services.db.transaction() as uow:
        assert uow.portal_links.active_for(alice.id, north.portal.id) is not None


def test_the_account_nav_links_to_the_page(browser: Browser) -> None:
    for path in ("/account", "/account/portals"):
        html = browser.get(path).text
        assert 'href="/account/portals"' in html
    assert 'href="/account/portals" aria-current="page"' in browser.get("/account/portals").text
