"""Unlinking a practice: password first (counted like every other), then the link,
the practice's consents and tokens end, audited; other practices and the SSO
session stay."""

from __future__ import annotations

import re

import pytest

from idp.records import AccountRecord
from idp.services import Services
from idp.store.attempts import trusted_key

from ..account.conftest import Browser, alert
from ..conftest import PASSWORD, Factory
from ..helpers import message_ids
from .conftest import SOUTH_MRN, Practice, events, link_status

pytestmark = pytest.mark.usefixtures("linked")


def unlink(browser: Browser, portal: str, *, password: str = PASSWORD, **extra: str):
    return browser.submit(
        "/account/portals/unlink",
        {"portal": portal, "current_password": password, **extra},
        page="/account/portals",
    )


def test_unlink_ends_that_practices_consent_and_tokens_only(
    browser: Browser, services: Services, alice: AccountRecord, north: Practice, south: Practice
) -> None:
    scope = "openid launch/patient offline_access"
    north_tokens = browser.oidc.tokens(
        north.client, browser.oidc.request(north.client, scope=scope)
    )
    south_tokens = browser.oidc.tokens(
        south.client, browser.oidc.request(south.client, scope=scope)
    )

    response = unlink(browser, "northside")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/portals"
    page = browser.get("/account/portals")
    assert "portal_unlinked" in message_ids(page.text)
    assert 'data-portal="northside"' not in page.text and 'data-portal="southbay"' in page.text
    assert link_status(services, alice, north) == "revoked"

    # Northside's refresh token and access token are dead...
    refreshed = browser.oidc.refresh(north.client, north_tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert browser.oidc.userinfo(north_tokens["access_token"]).status_code == 401
    # ...South Bay's are not, and still carry its own MRN.
    refreshed = browser.oidc.refresh(south.client, south_tokens["refresh_token"])
    assert refreshed.status_code == 200 and refreshed.get_json()["patient"] == SOUTH_MRN
    assert browser.oidc.userinfo(south_tokens["access_token"]).status_code == 200

    # The SSO session stays; Northside must ask for consent again, then gets no MRN.
    assert browser.signed_in()
    req = browser.oidc.request(north.client, scope=scope)
    location = browser.oidc.authorize(req).headers["Location"]
    assert location.startswith("/consent")
    with services.db.transaction() as uow:
        assert uow.consents.granted_scopes(alice.id, north.client.id) == frozenset()
        assert uow.consents.granted_scopes(alice.id, south.client.id)
    tokens = browser.oidc.tokens(north.client, req)
    assert "patient" not in tokens
    assert "patient_id" not in browser.oidc.id_token(tokens["id_token"], north.client).claims

    [event] = events(services, "portal_unlinked")
    assert event.outcome == "success"
    assert event.actor == event.subject == alice.subject
    assert event.ip == "198.51.100.7"
    assert event.details == {
        "portal": "northside",
        "consents_revoked": 1,
        "token_families_revoked": 1,
    }


def test_unlink_ends_tokens_of_every_client_of_the_practice(
    browser: Browser, services: Services, factory: Factory, north: Practice
) -> None:
    app_client = factory.client(
        name="Northside mobile app",
        portal_id=north.portal.id,
        redirect_uris=["http://127.0.0.1:9111/callback"],
    )
    first = browser.oidc.tokens(north.client)
    second = browser.oidc.tokens(app_client)
    assert unlink(browser, "northside").status_code == 303
    for rp, tokens in ((north.client, first), (app_client, second)):
        assert browser.oidc.refresh(rp, tokens["refresh_token"]).status_code == 400
    [event] = events(services, "portal_unlinked")
    assert event.details["consents_revoked"] == 2
    assert event.details["token_families_revoked"] == 2


def test_wrong_password_is_refused_counted_and_audited(
    browser: Browser, services: Services, alice: AccountRecord, north: Practice
) -> None:
    tokens = browser.oidc.tokens(north.client)
    response = unlink(browser, "northside", password="not my password")
    assert response.status_code == 401
    assert alert(response.text) == "account_wrong_password"
    # Counted as a failure of the owner's own device (the browser signed in before).
    assert services.attempts.total(trusted_key("alice")) == 1
    assert link_status(services, alice, north) == "active"
    assert browser.oidc.refresh(north.client, tokens["refresh_token"]).status_code == 200
    assert events(services, "portal_unlinked") == []
    [refusal] = events(services, "reauthentication")
    assert refusal.outcome == "failure"
    assert refusal.details == {"action": "unlink_portal", "reason": "invalid_credentials"}
    # The right password clears the count, as at sign-in.
    assert unlink(browser, "northside").status_code == 303
    assert services.attempts.total(trusted_key("alice")) == 0


def test_failures_here_and_at_sign_in_share_one_lockout(
    browser: Browser, services: Services, alice: AccountRecord, north: Practice
) -> None:
    limit = services.settings.lockout.max_failures
    for _ in range(limit):
        unlink(browser, "northside", password="wrong")
    response = unlink(browser, "northside")  # the right password, too late
    assert response.status_code == 401
    assert alert(response.text) == "account_locked"
    assert link_status(services, alice, north) == "active"
    assert [e.details["reason"] for e in events(services, "reauthentication")][-1] == "locked"


@pytest.mark.parametrize(
    ("portal", "password", "status", "message_id"),
    [
        ("northside", "", 400, "account_missing_fields"),
        ("", PASSWORD, 400, "account_missing_fields"),
        ("n" * 65, PASSWORD, 400, "account_field_too_long"),
        ("north\x07side", PASSWORD, 400, "account_control_characters"),
        ("north\x00side", PASSWORD, 400, "bad_request"),
        ("no-such-practice", PASSWORD, 404, "portal_not_linked"),
    ],
)
def test_bad_input_changes_nothing_and_counts_nothing(
    browser: Browser,
    services: Services,
    alice: AccountRecord,
    north: Practice,
    portal: str,
    password: str,
    status: int,
    message_id: str,
) -> None:
    response = unlink(browser, portal, password=password)
    assert response.status_code == status
    assert alert(response.text) == message_id
    assert services.attempts.total(trusted_key("alice")) == 0
    assert link_status(services, alice, north) == "active"
    assert events(services, "portal_unlinked") == []


def test_a_practice_linked_to_someone_else_cannot_be_unlinked(
    browser: Browser, services: Services, factory: Factory
) -> None:
    from .conftest import add_practice, link

    east = add_practice(factory, "eastside", "Eastside Clinic", 9103)
    bob = factory.account("bob")
    link(services, bob, east, "E-1")
    response = unlink(browser, "eastside")
    assert response.status_code == 404 and alert(response.text) == "portal_not_linked"
    assert link_status(services, bob, east) == "active"


def test_unlink_needs_the_csrf_token(
    browser: Browser, services: Services, alice: AccountRecord, north: Practice
) -> None:
    response = browser.client.post(
        "/account/portals/unlink", data={"portal": "northside", "current_password": PASSWORD}
    )
    assert response.status_code == 400
    assert link_status(services, alice, north) == "active"


def test_unlinking_twice_is_not_found_the_second_time(browser: Browser) -> None:
    assert unlink(browser, "northside").status_code == 303
    again = unlink(browser, "northside")
    assert again.status_code == 404 and alert(again.text) == "portal_not_linked"
    assert re.findall(r'data-portal="([^"]+)"', again.text) == ["southbay"]
