"""Back-Channel Logout 1.0: every portal a session signed in to hears when it ends.

The receiving portal is a real HTTP server on loopback (tests/logout_receiver.py)
that checks each logout token as §2.6 tells a relying party to. Tokens leave from
the outbox after the change commits; these tests send the outbox themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idp.oidc.backchannel import LOGOUT_EVENT, BackchannelUriError, check_backchannel_uri
from idp.records import ClientRecord

from ..conftest import Factory
from ..helpers import csrf_token
from ..logout_receiver import LogoutReceiver, logout_receiver
from .conftest import Browser, events


@pytest.fixture
def receiver(services, browser: Browser) -> Iterator[LogoutReceiver]:
    with logout_receiver(
        issuer=services.settings.issuer,
        jwks=browser.oidc.jwks,
        clock=lambda: services.clock().timestamp(),
    ) as r:
        yield r


def portal(factory: Factory, receiver: LogoutReceiver, name: str) -> ClientRecord:
    rp = factory.client(name=name, backchannel_logout_uri=receiver.url)
    receiver.client_ids.add(rp.client_id)
    return rp


def deliver(services) -> None:
    services.dispatcher.send_due()


def test_provider_sign_out_sends_each_portal_a_valid_logout_token_with_the_id_tokens_sid(
    services, factory: Factory, browser: Browser, receiver: LogoutReceiver
) -> None:
    a, b = portal(factory, receiver, "Portal A"), portal(factory, receiver, "Portal B")
    quiet = factory.client(name="No back channel")
    id_a = browser.oidc.id_token(browser.oidc.tokens(a)["id_token"], a)
    id_b = browser.oidc.id_token(browser.oidc.tokens(b)["id_token"], b)
    browser.oidc.tokens(quiet)
    assert id_a.claims["sid"] == id_b.claims["sid"]  # one SSO session, one sid

    response = browser.client.get(
        "/logout",
        query_string={"id_token_hint": browser.oidc.tokens(a)["id_token"]},
    )
    assert response.status_code == 200
    # Nothing was sent before the commit, and the page claims no portal yet.
    assert receiver.received.valid == []
    assert "Portals that signed you out" not in response.text
    assert "Portal A" in response.text and "Portal B" in response.text  # pending

    deliver(services)
    tokens = receiver.wait_for(2)
    assert receiver.received.refused == []
    assert sorted(t["aud"] for t in tokens) == sorted([a.client_id, b.client_id])
    for claims, header in zip(tokens, receiver.received.headers, strict=True):
        assert header["typ"] == "logout+jwt"
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert claims["sid"] == id_a.claims["sid"]
        assert claims["sub"] == id_a.claims["sub"]
        assert "nonce" not in claims
    assert len({t["jti"] for t in tokens}) == 2

    notice = response.text.split("/logout/status/")[1].split("?")[0]
    status = browser.client.get(f"/logout/status/{notice}")
    assert status.status_code == 200
    confirmed = status.text.split('id="portals-confirmed"')[1].split("</ul>")[0]
    assert "Portal A" in confirmed and "Portal B" in confirmed
    assert 'id="portals-pending"' not in status.text
    assert "data-refresh-url" not in status.text and "Check again" not in status.text


def test_a_portal_that_is_down_is_retried_and_never_named_as_signed_out_until_it_answers(
    services, clock, factory: Factory, browser: Browser, receiver: LogoutReceiver
) -> None:
    a = portal(factory, receiver, "Portal A")
    browser.oidc.tokens(a)
    receiver.fail_next = 1
    response = browser.submit("/account/sessions/end-all", {}, page="/account/sessions")
    assert response.status_code == 303
    status_url = response.headers["Location"]
    assert status_url.startswith("/logout/status/")

    deliver(services)
    assert receiver.received.answered_503 == 1 and receiver.received.valid == []
    page = browser.client.get(status_url).text
    assert "Portals that signed you out" not in page
    assert "Portal A" in page.split('id="portals-pending"')[1]
    # Checked again by a script (no meta refresh: WCAG 2.2.1), or by a link without one.
    assert "data-refresh-url=" in page and "Check again" in page
    assert 'http-equiv="refresh"' not in page

    clock.advance(600)  # past the outbox's retry delay
    deliver(services)
    [claims] = receiver.wait_for(1)
    assert claims["aud"] == a.client_id
    page = browser.client.get(status_url).text
    assert "Portal A" in page.split('id="portals-confirmed"')[1]


def test_sign_out_everywhere_tells_the_portals_of_every_device(
    services, factory: Factory, browser: Browser, phone: Browser, receiver: LogoutReceiver
) -> None:
    a = portal(factory, receiver, "Portal A")
    laptop_sid = browser.oidc.id_token(browser.oidc.tokens(a)["id_token"], a).claims["sid"]
    phone_sid = phone.oidc.id_token(phone.oidc.tokens(a)["id_token"], a).claims["sid"]
    assert laptop_sid != phone_sid
    browser.submit("/account/sessions/end-all", {}, page="/account/sessions")
    deliver(services)
    tokens = receiver.wait_for(2)
    assert {t["sid"] for t in tokens} == {laptop_sid, phone_sid}


def test_changing_the_password_and_signing_out_others_tells_only_the_others_portals(
    services, factory: Factory, browser: Browser, phone: Browser, receiver: LogoutReceiver
) -> None:
    from ..conftest import PASSWORD

    a = portal(factory, receiver, "Portal A")
    browser.oidc.tokens(a)
    phone_sid = phone.oidc.id_token(phone.oidc.tokens(a)["id_token"], a).claims["sid"]
    response = browser.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "lantern violet harbour quietly",
            "new_password_repeat": "lantern violet harbour quietly",
            "sign_out_others": "yes",
        },
    )
    assert response.status_code == 303, response.text
    deliver(services)
    [claims] = receiver.wait_for(1)
    assert claims["sid"] == phone_sid


def test_a_portal_without_a_back_channel_uri_or_a_session_without_portals_sends_nothing(
    services, factory: Factory, browser: Browser, receiver: LogoutReceiver
) -> None:
    quiet = factory.client(name="No back channel")
    browser.oidc.tokens(quiet)
    response = browser.submit("/account/sessions/end-all", {}, page="/account/sessions")
    assert response.headers["Location"] == "/login"
    deliver(services)
    assert receiver.received.valid == [] and receiver.received.answered_503 == 0


def test_a_refused_token_is_not_retried(
    services, clock, factory: Factory, browser: Browser, receiver: LogoutReceiver
) -> None:
    a = portal(factory, receiver, "Portal A")
    browser.oidc.tokens(a)
    receiver.issuer = "https://someone-else.example"  # the portal now refuses every token
    browser.submit("/account/sessions/end-all", {}, page="/account/sessions")
    deliver(services)
    assert len(receiver.received.refused) == 1
    clock.advance(7200)
    deliver(services)
    assert len(receiver.received.refused) == 1  # 400 is final (§2.8)


def test_unknown_or_garbage_status_ids_are_a_plain_404(browser: Browser) -> None:
    for notice in ("nope", "x" * 80):
        assert browser.client.get(f"/logout/status/{notice}").status_code == 404
    assert browser.client.get("/logout/status/%00").status_code == 400


@pytest.mark.parametrize(
    "uri",
    [
        "http://portal.example/logout",  # http off loopback
        "https://portal.example/logout#frag",
        "ftp://portal.example/logout",
        "/relative/logout",
        "https://" + "a" * 2001 + ".example/",
    ],
)
def test_back_channel_uris_are_checked(uri: str) -> None:
    with pytest.raises(BackchannelUriError):
        check_backchannel_uri(uri)


def test_discovery_advertises_back_channel_logout_with_sessions(browser: Browser) -> None:
    meta = browser.client.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_the_logout_is_audited_once_and_the_page_never_claims_an_unconfirmed_portal(
    services, factory: Factory, browser: Browser, receiver: LogoutReceiver
) -> None:
    a = portal(factory, receiver, "Portal A")
    browser.oidc.tokens(a)
    page = browser.client.get("/logout")
    # No id_token_hint: the patient confirms first (RP-Initiated Logout §6).
    response = browser.client.post(
        "/logout", data={"decision": "logout", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200
    assert "Portals that signed you out" not in response.text
    assert [e.type for e in events(services)].count("logout") == 1
    deliver(services)
    assert len(receiver.wait_for(1)) == 1
