"""Refresh tokens issued without ``offline_access`` end with the session that issued them.

Back-Channel Logout §2.7: when the provider's session ends, so should the refresh
tokens a portal got for it, unless the patient granted ``offline_access`` (access
while they are away). Each test holds one token of each kind from the same session.
"""

from __future__ import annotations

import re

from ..conftest import Factory
from ..helpers import AuthRequest
from .conftest import Browser, events


def both_kinds(browser: Browser, factory: Factory) -> tuple[object, dict, dict]:
    rp = factory.client(name="Portal")
    online = browser.oidc.tokens(rp)
    offline = browser.oidc.tokens(
        rp,
        AuthRequest(
            client_id=rp.client_id,
            redirect_uri=rp.redirect_uris[0],
            scope="openid profile offline_access",
        ),
    )
    assert online["refresh_token"] and offline["refresh_token"]
    return rp, online, offline


def refreshes(browser: Browser, rp: object, token: str) -> int:
    return browser.oidc.refresh(rp, token).status_code


def test_signing_out_at_the_provider_ends_the_sessions_online_tokens_only(
    services, factory: Factory, browser: Browser
) -> None:
    rp, online, offline = both_kinds(browser, factory)
    response = browser.client.get("/logout", query_string={"id_token_hint": online["id_token"]})
    assert response.status_code == 200
    assert refreshes(browser, rp, online["refresh_token"]) == 400
    # Its access token went with it; the offline family is untouched.
    assert browser.oidc.introspect(rp, online["access_token"]).get_json() == {"active": False}
    assert refreshes(browser, rp, offline["refresh_token"]) == 200
    assert browser.oidc.introspect(rp, offline["access_token"]).get_json()["active"] is True
    [logout] = [e for e in events(services) if e.type == "logout"]
    assert logout.details["token_families_revoked"] == 1


def test_a_rotated_online_token_still_ends_with_its_session(
    factory: Factory, browser: Browser
) -> None:
    rp, online, _ = both_kinds(browser, factory)
    rotated = browser.oidc.refresh(rp, online["refresh_token"])
    assert rotated.status_code == 200
    browser.client.get("/logout", query_string={"id_token_hint": online["id_token"]})
    assert refreshes(browser, rp, rotated.get_json()["refresh_token"]) == 400


def test_ending_another_device_from_the_account_page_ends_only_that_devices_tokens(
    factory: Factory, browser: Browser, phone: Browser
) -> None:
    rp = factory.client(name="Portal")
    mine = browser.oidc.tokens(rp)
    theirs = phone.oidc.tokens(rp)
    html = phone.get("/account/sessions").text
    current = re.search(r'<li data-session="([0-9a-f]{64})" data-current="yes"', html)
    assert current
    response = browser.submit(
        "/account/sessions/end", {"session": current.group(1)}, page="/account/sessions"
    )
    assert response.status_code == 303
    assert refreshes(phone, rp, theirs["refresh_token"]) == 400
    assert refreshes(browser, rp, mine["refresh_token"]) == 200
