"""Sign in at a portal with a passkey alone, in headless Chromium (issue 9, item 5).

The passkey is made on the account page by Chromium's own WebAuthn stack against a
virtual authenticator (Chrome DevTools Protocol ``WebAuthn.addVirtualAuthenticator``,
resident keys, user verification on), as in test_two_step_journey.py. Then the
patient signs out, a portal sends them to the provider, and static/passkey_login.js
asks Chromium for a discoverable credential: no user ID or password is typed. The
portal's redirect is caught (never fetched), its code exchanged at the token
endpoint, and the ID token checked against the provider's JWKS for ``amr``/``acr``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, Request, expect
from sqlalchemy import update

from idp.policies.assurance import ACR_MFA
from idp.store.sql import models
from tests.live import LiveAccount, LiveClient, LiveProvider, live_provider

from .conftest import chromium
from .test_two_step_journey import TIMEOUT_MS, sign_in, virtual_authenticator

pytestmark = [pytest.mark.browser, pytest.mark.live]

# The portal's callback: the browser's request to it is noted; nothing listens there.
REDIRECT_URI = "http://localhost:65534/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[LiveProvider]:
    with live_provider(host_name="localhost") as live:
        yield live


def get_json(url: str) -> Any:
    with requests.get(url, timeout=10) as response:
        assert response.status_code == 200, response.text
        return response.json()


def add_passkey(page: Page, provider: LiveProvider, patient: LiveAccount) -> None:
    page.goto(provider.url + "/account/two-step/passkey")
    page.get_by_label("A name for this passkey").fill("Laptop")
    page.get_by_label("Your current password").fill(patient.password)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("[data-message-id=account_mfa_passkey_added]")).to_be_visible()


def sign_out(page: Page, provider: LiveProvider) -> None:
    page.goto(provider.url + "/logout")
    page.locator("button[name=decision][value=logout]").click()
    page.wait_for_load_state()
    assert not [c for c in page.context.cookies() if c["name"] == "idp_session"]


def sign_count(cdp: Any, authenticator_id: str) -> int:
    """The counter the virtual authenticator keeps for its one (resident) credential."""
    found = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    [credential] = found["credentials"]
    assert credential["isResidentCredential"] is True
    return int(credential["signCount"])


class Portal:
    """What the portal does around the browser: the request, then the code exchange."""

    def __init__(self, provider: LiveProvider, client: LiveClient) -> None:
        self.metadata = get_json(provider.endpoint("/.well-known/openid-configuration"))
        self.client = client
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(16)
        self.state = secrets.token_urlsafe(16)
        self.callback: str | None = None

    def authorize_url(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.metadata['authorization_endpoint']}?{urlencode(params)}"

    def catch_callback(self, page: Page) -> None:
        """Note the browser's request to the callback (nothing listens there)."""

        def seen(request: Request) -> None:
            if request.url.startswith(REDIRECT_URI):
                self.callback = request.url

        page.on("request", seen)

    def wait_for_callback(self, page: Page) -> None:
        for _ in range(TIMEOUT_MS // 100):
            if self.callback is not None:
                return
            page.wait_for_timeout(100)
        raise AssertionError(f"the browser never came back to the portal: {page.url}")

    def id_token_claims(self) -> dict[str, Any]:
        assert self.callback is not None, "the browser never came back to the portal"
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.callback).query).items()}
        assert params.get("state") == self.state and "code" in params, params
        assert self.client.client_secret is not None
        with requests.post(
            self.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": self.verifier,
            },
            auth=(self.client.client_id, self.client.client_secret),
            timeout=10,
        ) as response:
            assert response.status_code == 200, response.text
            id_token = response.json()["id_token"]
        keys = KeySet.import_key_set(get_json(self.metadata["jwks_uri"]))
        token = jwt.decode(id_token, keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.metadata["issuer"]},
            aud={"essential": True, "value": self.client.client_id},
            nonce={"essential": True, "value": self.nonce},
        ).validate(token.claims)
        return dict(token.claims)


def test_sign_in_at_a_portal_with_a_passkey_alone(provider: LiveProvider) -> None:
    patient = provider.add_account(first_name="Grace", last_name="Hopper")
    rp = provider.add_client(redirect_uris=[REDIRECT_URI], first_party=True)
    strict = provider.add_client(
        name="Strict portal", redirect_uris=[REDIRECT_URI], first_party=True
    )
    with provider.db.transaction() as uow:
        uow.session.execute(
            update(models.Client)
            .where(models.Client.client_id == strict.client_id)
            .values(require_mfa=True)
        )
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            cdp, authenticator_id = virtual_authenticator(page)
            sign_in(page, provider, patient)
            add_passkey(page, provider, patient)
            registered = sign_count(cdp, authenticator_id)
            sign_out(page, provider)

            # 1. A portal sends the patient here. Conditional UI: the page's background
            #    request (mediation "conditional") is what the browser's autofill answers;
            #    Chromium's virtual authenticator answers it without a click.
            portal = Portal(provider, rp)
            portal.catch_callback(page)
            page.goto(portal.authorize_url())
            portal.wait_for_callback(page)
            claims = portal.id_token_claims()
            assert claims["sub"] == patient.subject
            assert claims["amr"] == ["hwk", "user", "mfa"]
            assert claims["acr"] == ACR_MFA

            # 2. A browser without conditional UI: the button, at a portal requiring MFA,
            #    which accepts the same (user-verified) passkey sign-in.
            sign_out(page, provider)
            page.add_init_script(
                "PublicKeyCredential.isConditionalMediationAvailable ="
                " () => Promise.resolve(false);"
            )
            strict_portal = Portal(provider, strict)
            strict_portal.catch_callback(page)
            page.goto(strict_portal.authorize_url())
            expect(page.locator("input[name=username]")).to_have_attribute(
                "autocomplete", "username webauthn"
            )
            page.get_by_role("button", name="Sign in with a passkey").click()
            strict_portal.wait_for_callback(page)
            strict_claims = strict_portal.id_token_claims()
            assert strict_claims["sub"] == patient.subject
            assert strict_claims["amr"] == ["hwk", "user", "mfa"]
            assert strict_claims["acr"] == ACR_MFA
            assert sign_count(cdp, authenticator_id) == registered + 2  # one per sign-in
        finally:
            context.close()


def test_without_javascript_the_password_form_still_signs_in(provider: LiveProvider) -> None:
    """Progressive enhancement: no script, no passkey button, the password path works."""
    patient = provider.add_account()
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            page.goto(provider.url + "/login")
            expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
            sign_in(page, provider, patient)
            assert [c for c in context.cookies() if c["name"] == "idp_session"]
        finally:
            context.close()
