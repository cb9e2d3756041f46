"""Sign out everywhere reaches the portals: the demo portal, signed out by the provider.

Headless Chromium, the provider under gunicorn (its own outbox worker sends the logout
token), and the demo portal of ``idp demo`` (idp/demo.py) on its own loopback host
with its back-channel logout endpoint registered. After "Sign out everywhere" on the
provider's account page, the provider's page names the demo portal as signed out
only once the portal confirmed, and the portal itself shows the patient signed out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idp.demo import create_demo_portal
from tests.live import LiveAccount, LiveProvider

from .conftest import chromium
from .portal import PortalServer, reserve_server, serve

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def demo_portal(live: LiveProvider) -> Iterator[PortalServer]:
    server = reserve_server("127.0.0.2")
    base = f"http://127.0.0.2:{server.port}"
    practice = live.add_portal("Demo Family Practice")
    client = live.add_client(
        name="Demo Patient Portal",
        redirect_uris=[f"{base}/callback"],
        post_logout_redirect_uris=[f"{base}/signed-out"],
        scope="openid profile email",
        grant_types=["authorization_code", "refresh_token"],
        public=True,
        first_party=True,
        portal_id=practice,
        backchannel_logout_uri=f"{base}/backchannel-logout",
    )
    app = create_demo_portal(issuer=live.issuer, client_id=client.client_id, portal_url=base)
    portal = serve("demo", server, app)
    try:
        yield portal
    finally:
        portal.stop()


def test_sign_out_everywhere_signs_the_patient_out_of_the_demo_portal(
    live: LiveProvider, demo_portal: PortalServer
) -> None:
    patient: LiveAccount = live.add_account(first_name="Dana", last_name="Rivera")
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            # Signed in at the demo portal through the provider.
            page.goto(demo_portal.url + "/")
            page.click("#signin")
            page.locator("input[name=password]").wait_for()
            page.fill("input[name=username]", patient.username)
            page.fill("input[name=password]", patient.password)
            page.locator("form button[type=submit]").click()
            page.wait_for_url(demo_portal.url + "/")
            assert page.locator("#welcome").is_visible()

            # "Sign out everywhere" on the provider's account page.
            page.goto(live.url + "/account/sessions")
            page.get_by_role("button", name="Sign out everywhere").click()
            page.wait_for_url("**/logout/status/**")
            confirmed = page.locator("#portals-confirmed")
            confirmed.wait_for()  # the page reloads itself until the portal answers
            assert "Demo Patient Portal" in confirmed.inner_text()
            assert page.locator("#portals-pending").count() == 0

            # The portal's own session is gone: it says why and offers to sign in.
            page.goto(demo_portal.url + "/")
            assert page.locator("#ended-by-provider").is_visible()
            assert page.locator("#signin").is_visible()
            assert page.locator("#welcome").count() == 0
        finally:
            context.close()
