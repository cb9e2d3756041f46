"""Two-step verification from the account page, in headless Chromium (issue 9).

A real browser runs static/passkey.js against a virtual authenticator that Chromium
itself provides (Chrome DevTools Protocol ``WebAuthn.addVirtualAuthenticator``
through Playwright's CDP session): the passkey is made by Chromium's own WebAuthn
stack and verified by the provider, nothing is simulated on our side. Then an
authenticator app is added with a code computed by pyotp from the secret the page
shows (``data-totp-secret``), as a phone app would.

The issuer is ``http://localhost:PORT``: WebAuthn refuses an IP address as relying
party ID, and localhost is a secure context over plain http.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.live import LiveAccount, LiveProvider, live_provider

from .conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def provider() -> Iterator[LiveProvider]:
    with live_provider(host_name="localhost") as live:
        yield live


def sign_in(page: Page, provider: LiveProvider, patient: LiveAccount) -> None:
    page.goto(provider.url + "/login")
    page.fill("input[name=username]", patient.username)
    page.fill("input[name=password]", patient.password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def virtual_authenticator(page: Page) -> tuple[Any, str]:
    """A platform authenticator that holds resident keys and verifies the user."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_add_a_passkey_then_an_authenticator_app(provider: LiveProvider) -> None:
    patient = provider.add_account(first_name="Grace", last_name="Hopper")
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            cdp, authenticator_id = virtual_authenticator(page)
            sign_in(page, provider, patient)

            # 1. A passkey, the first factor: the recovery codes are shown once.
            page.goto(provider.url + "/account/two-step")
            expect(page.locator("[data-mfa-status=off]")).to_be_visible()
            page.get_by_role("link", name="Add a passkey").click()
            page.get_by_label("A name for this passkey").fill("Work laptop")
            page.get_by_label("Your current password").fill(patient.password)
            page.get_by_role("button", name="Add a passkey").click()
            expect(page.locator("[data-message-id=account_mfa_passkey_added]")).to_be_visible()
            assert page.locator("[data-recovery-code]").count() == 10

            stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
            [credential] = stored["credentials"]
            assert credential["isResidentCredential"] is True
            assert credential["rpId"] == "localhost"

            page.get_by_role("link", name="back to two-step verification").click()
            passkey = page.locator("[data-factor-kind=webauthn]")
            expect(passkey).to_have_count(1)
            expect(passkey.locator("[data-factor-label]")).to_have_text("Work laptop")

            # 2. An authenticator app, with a code computed from the secret on the page.
            page.get_by_role("link", name="Add an authenticator app").click()
            expect(page.locator("figure.qr svg")).to_be_visible()
            secret = page.locator("[data-totp-secret]").get_attribute("data-totp-secret")
            assert secret
            page.locator("input[name=code]").fill(pyotp.TOTP(secret).now())
            page.get_by_label("Your current password").fill(patient.password)
            page.get_by_role("button", name="Turn on").click()
            expect(page.locator("[data-message-id=account_mfa_app_added]")).to_be_visible()
            expect(page.locator("[data-factor-kind=totp]")).to_have_count(1)
            expect(page.locator("[data-factor-kind=webauthn]")).to_have_count(1)
            expect(page.locator("[data-recovery-codes-left]")).to_have_attribute(
                "data-recovery-codes-left", "10"
            )
        finally:
            context.close()


def test_cancelled_ceremony_adds_nothing(provider: LiveProvider) -> None:
    """The patient cancels the browser's passkey dialog: the page says so, posts nothing.

    The dialog is browser chrome that no page can click, so its "Cancel" is played by
    rejecting ``create()`` the way Chromium does then (NotAllowedError).
    """
    patient = provider.add_account()
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            page.add_init_script(
                "navigator.credentials.create = () => Promise.reject("
                "new DOMException('The operation either timed out or was not allowed.',"
                " 'NotAllowedError'));"
            )
            sign_in(page, provider, patient)
            page.goto(provider.url + "/account/two-step/passkey")
            page.get_by_label("Your current password").fill(patient.password)
            page.get_by_role("button", name="Add a passkey").click()
            expect(page.locator("#passkey-cancelled")).to_be_visible()
            expect(page.get_by_role("button", name="Add a passkey")).to_be_enabled()
            page.goto(provider.url + "/account/two-step")
            expect(page.locator("[data-mfa-status=off]")).to_be_visible()
        finally:
            context.close()
