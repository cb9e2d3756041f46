"""One patient, two practices' portals, one sign-in: the SSO journey in headless Chromium.

Everything is real and on loopback: the provider under gunicorn (tests/live.py),
two portals as separate HTTP servers on their own hosts (127.0.0.2 and 127.0.0.3,
so each is a different site from the provider and SameSite=Lax really applies),
and Chromium clicking through the provider's pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Request

from tests.live import LiveAccount, LiveProvider

from .conftest import chromium
from .portal import PortalServer, create_portal, reserve_server, serve

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def portals(live: LiveProvider) -> Iterator[tuple[PortalServer, PortalServer]]:
    """Portal A (needs consent) and portal B (first-party), of two different practices."""
    started: list[PortalServer] = []
    try:
        for label, host, first_party in (("A", "127.0.0.2", False), ("B", "127.0.0.3", True)):
            server = reserve_server(host)
            base = f"http://{host}:{server.port}"
            practice = live.add_portal(f"Practice {label}")
            client = live.add_client(
                name=f"Portal {label}",
                redirect_uris=[f"{base}/callback"],
                post_logout_redirect_uris=[f"{base}/signed-out"],
                scope="openid profile email",
                grant_types=["authorization_code", "refresh_token"],
                first_party=first_party,
                portal_id=practice,
            )
            app = create_portal(label, base_url=base, issuer=live.issuer, client=client)
            started.append(serve(label, server, app))
        yield started[0], started[1]
    finally:
        for portal in started:
            portal.stop()


def navigations(page: Page) -> list[str]:
    """Every top-level document request from now on, redirect hops included."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            seen.append(request.url)

    page.on("request", record)
    return seen


def same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def test_sign_in_once_use_two_portals_then_log_out(
    live: LiveProvider, portals: tuple[PortalServer, PortalServer]
) -> None:
    portal_a, portal_b = portals
    patient: LiveAccount = live.add_account(first_name="Ada", last_name="Lovelace")

    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            seen = navigations(page)

            # 1. Portal A sends the patient to the provider's sign-in page.
            page.goto(portal_a.url + "/")
            page.locator("input[name=password]").wait_for()
            assert same_origin(page.url, live.url), page.url
            login_path = urlsplit(page.url).path
            page.fill("input[name=username]", patient.username)
            page.fill("input[name=password]", patient.password)
            submit = page.locator("form button[type=submit], form input[type=submit]")
            assert submit.count() == 1, "the login form has exactly one submit button"
            submit.click()

            # 2. Consent for portal A (a third party), then back at A, signed in.
            allow = page.locator("button[name=decision][value=allow]")
            allow.wait_for()
            assert same_origin(page.url, live.url), page.url
            allow.click()
            page.wait_for_url(portal_a.url + "/")
            assert page.locator("#sub").inner_text() == patient.subject
            assert page.locator("#name").inner_text() == patient.name

            # 3. Portal B: the provider session signs the patient in without any page.
            seen.clear()
            page.goto(portal_b.url + "/")
            page.wait_for_url(portal_b.url + "/")
            assert page.locator("#sub").inner_text() == patient.subject
            assert page.locator("#name").inner_text() == patient.name
            provider_hops = [u for u in seen if same_origin(u, live.url)]
            assert provider_hops, "B must have gone through the provider"
            assert not [u for u in provider_hops if urlsplit(u).path == login_path], seen

            # 4. RP-initiated logout from portal A ends the provider session.
            seen.clear()
            page.goto(portal_a.url + "/")
            page.click("#logout")
            page.wait_for_url(portal_a.url + "/signed-out*")
            assert page.locator("#signed-out").is_visible()
            end_session = [u for u in seen if same_origin(u, live.url)]
            assert end_session and "id_token_hint" in parse_qs(urlsplit(end_session[0]).query)

            # 5. Portal B's silent check now finds no provider session.
            seen.clear()
            page.goto(portal_b.url + "/silent")
            page.wait_for_url(portal_b.url + "/callback*")
            callback = parse_qs(urlsplit(page.url).query)
            assert callback.get("error") == ["login_required"], page.url
            assert callback.get("iss") == [live.issuer]
            assert page.locator("#error").inner_text() == "login_required"
            assert not [u for u in seen if urlsplit(u).path == login_path], seen
        finally:
            context.close()
