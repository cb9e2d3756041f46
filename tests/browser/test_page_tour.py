"""Every patient page the journeys do not reach, at 320 px, with its error state where it
has one: each is audited by the suite's hook (tests/browser/audit.py: axe-core with no
violation, no sideways scroll, 44 px targets), so this test fails naming any page that
a phone or a screen reader cannot use (issue 14, item 6)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live import LiveProvider

from .audit import PageAudit
from .conftest import chromium
from .console import TIMEOUT_MS, password_step

pytestmark = [pytest.mark.browser, pytest.mark.live]

ANONYMOUS = [
    "/login",
    "/signup",
    "/signup/resend",
    "/forgot-user-id",
    "/forgot-password",
    "/activate",
    "/activate/resend",
    "/terms",
    "/reset/password?token=not-a-real-token",  # the invalid-link state
]
SIGNED_IN = [
    "/account",
    "/account/profile",
    "/account/password",
    "/account/email",
    "/account/questions",
    "/account/sessions",
    "/account/activity",
    "/account/two-step",
    "/account/two-step/app",
    "/account/two-step/passkey",
    "/account/proxy",
    "/account/portals",
    "/account/close",
]


def test_every_page_and_its_error_state_is_usable_on_a_phone(
    live: LiveProvider, page_audit: PageAudit
) -> None:
    patient = live.add_account(first_name="Ada", last_name="Lovelace")
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            for path in ANONYMOUS:
                page.goto(live.url + path)
            # Error states: the summary of a refused form.
            page.goto(live.url + "/signup")
            page.get_by_role("button", name="Continue").click()
            expect(page.locator(".error-summary")).to_be_visible()
            page.goto(live.url + "/forgot-user-id")
            page.fill("input[name=email]", "not an address")
            # Past the browser's own check of type=email, to the server's refusal.
            page.locator("form").evaluate("form => { form.noValidate = true; }")
            page.locator("form button[type=submit]").click()
            expect(page.locator(".error-summary")).to_be_visible()
            page.goto(live.url + "/login")
            page.fill("input[name=username]", patient.username)
            page.fill("input[name=password]", "not the password")
            page.locator("form button[type=submit]").click()
            expect(page.locator(".error-summary")).to_be_visible()

            page.goto(live.url + "/login")
            password_step(page, patient)
            page.wait_for_load_state()
            for path in SIGNED_IN:
                page.goto(live.url + path)
            page.goto(live.url + "/account/profile")
            page.fill("input[name=phone]", "12")
            page.locator("form").last.evaluate("form => { form.noValidate = true; }")
            page.fill("input[name=current_password]", patient.password)
            page.get_by_role("button", name="Save phone number").click()
            expect(page.locator(".error-summary")).to_be_visible()
        finally:
            context.close()
    # The hook ran on every page (its findings fail this test at teardown).
    assert len(page_audit.audited) >= len(ANONYMOUS) + len(SIGNED_IN) + 4, page_audit.audited
