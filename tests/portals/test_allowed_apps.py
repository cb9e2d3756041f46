"""My portals lists every portal and app the patient allowed, linked to a record or not,
and withdrawing that permission ends what the app holds (issue 14, item 7)."""

from __future__ import annotations

import re

from idp.records import AccountRecord
from idp.services import Services

from ..account.conftest import Browser
from ..conftest import Factory
from ..helpers import message_ids
from .conftest import Practice, events


def allowed(html: str) -> dict[str, str]:
    return dict(re.findall(r'<li data-client="([^"]+)">(.*?)</form>', html, re.S))


def test_lists_consented_portals_with_and_without_a_record_link(
    browser: Browser, factory: Factory, north: Practice
) -> None:
    app_only = factory.client(name="Step Counter App")  # no practice, no record link
    browser.oidc.tokens(north.client)
    browser.oidc.tokens(app_only)
    page = browser.get("/account/portals").text
    listed = allowed(page)
    assert set(listed) == {north.client.client_id, app_only.client_id}
    assert "Step Counter App" in listed[app_only.client_id]
    assert north.portal.name in listed[north.client.client_id]
    assert "None" not in page


def test_withdrawing_ends_the_apps_tokens_and_its_next_sign_in_asks_again(
    browser: Browser, factory: Factory, services: Services, alice: AccountRecord
) -> None:
    app = factory.client(name="Step Counter App")
    tokens = browser.oidc.tokens(app)
    response = browser.submit(
        "/account/portals/withdraw", {"client": app.client_id}, page="/account/portals"
    )
    assert response.status_code == 303
    page = browser.get("/account/portals").text
    assert message_ids(page)[0] == "consent_withdrawn"
    assert app.client_id not in allowed(page)
    assert browser.oidc.refresh(app, tokens["refresh_token"]).status_code == 400
    [event] = events(services, "consent_withdrawn")
    assert event.details == {"client": app.client_id, "token_families_revoked": 1}
    # Signing in to the app again shows the consent page again.
    req = browser.oidc.request(app)
    again = browser.oidc.follow_to_redirect(browser.oidc.authorize(req), consent=False)
    assert again.headers["Location"].startswith("/consent")


def test_only_the_patients_own_consents_can_be_withdrawn(
    browser: Browser, factory: Factory, services: Services
) -> None:
    mine = factory.client(name="Mine")
    browser.oidc.tokens(mine)
    never = factory.client(name="Never allowed")
    for client_id, status in (
        (never.client_id, 404),
        ("no-such-client", 404),
        ("", 400),
        ("x" * 200, 400),
    ):
        response = browser.submit(
            "/account/portals/withdraw", {"client": client_id}, page="/account/portals"
        )
        assert response.status_code == status, (client_id, response.status_code)
    assert events(services, "consent_withdrawn") == []
    assert mine.client_id in allowed(browser.get("/account/portals").text)
    # Without the CSRF token nothing happens either.
    refused = browser.submit(
        "/account/portals/withdraw", {"client": mine.client_id}, page="/account/portals", csrf=False
    )
    assert refused.status_code == 400
    assert mine.client_id in allowed(browser.get("/account/portals").text)


def test_the_account_page_never_shows_none(app, factory: Factory) -> None:
    """An office-made account with no email, no phone and no last name on file."""
    from ..account.conftest import FIREFOX
    from ..conftest import PASSWORD

    factory.account("bare", email=None, email_verified=False, last_name="")
    bare = Browser(app.test_client(), factory, user_agent=FIREFOX, ip="198.51.100.9")
    bare.sign_in("bare", PASSWORD)
    for path in ("/account", "/account/profile", "/account/portals", "/account/sessions"):
        page = bare.get(path).text
        assert ">None<" not in page and "None " not in page and " None" not in page, path
