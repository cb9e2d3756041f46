"""The console's queues in headless Chromium (issue 11 item 5): a practice's staff
member approves an enrollment from the queue, then invites a patient; axe-core finds
no violation on the queue pages, the portals and clients page (with a new secret on
show) or their error states."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect

from tests.live import LiveProvider, live_provider

from .audit import AXE, axe_violations
from .conftest import chromium
from .console import TIMEOUT_MS, make_staff, staff_sign_in

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def provider() -> Iterator[LiveProvider]:
    with live_provider() as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # Our CSP refuses inline scripts, and Playwright injects axe as one.
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def _axe(page: Page, found: dict[str, object], label: str) -> None:
    if not AXE.exists():
        message = "axe-core is missing: run `make axe` (npm ci --prefix tests/browser/axe)"
        if os.environ.get("IDP_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    violations = axe_violations(page)
    if violations:
        found[label] = violations


def _enrollment(provider: LiveProvider, portal_id: int, username: str) -> int:
    with provider.db.transaction() as uow:
        record = uow.enrollments.add(
            email=f"{username}@example.org",
            candidate_account_id=None,
            now=datetime.now(UTC),
            portal_id=portal_id,
            data={
                "username": username,
                "password_hash": PasswordHasher().hash("correct horse battery staple"),
                "answers": [],
                "demographics": {
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "dob": "1990-02-03",
                    "zip": "02138",
                    "gender": "female",
                },
                "terms_accepted_at": datetime.now(UTC).isoformat(),
                "match_reasons": ["same_dob", "similar_last_name"],
                "match_score": 7.5,
                "phone_verified": None,
            },
        )
    return record.id


def test_practice_staff_approve_an_enrollment_from_the_queue(
    provider: LiveProvider, page: Page
) -> None:
    north = provider.add_portal("Queue North", "queue-north")
    south = provider.add_portal("Queue South", "queue-south")
    mine = _enrollment(provider, north, "ghopper")
    theirs = _enrollment(provider, south, "gsouth")
    practice = make_staff(provider, "practice", north)
    staff_sign_in(page, provider, practice, "/admin/enrollments")
    found: dict[str, object] = {}
    items = page.locator("[data-enrollment]")
    expect(items).to_have_count(1)  # Queue South's sign-up is not theirs
    expect(items.first).to_contain_text("same dob")
    _axe(page, found, "enrollments with an item")
    page.get_by_label("Reason, such as how you confirmed identity (recorded)").fill(
        "Called the applicant back on the number on file"
    )
    page.get_by_role("button", name=f"Approve #{mine}").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Enrollment #{mine} approved")
    expect(page.locator("[data-enrollment]")).to_have_count(0)
    _axe(page, found, "enrollments after approval")
    with provider.db.transaction() as uow:
        decided, untouched = uow.enrollments.get(mine), uow.enrollments.get(theirs)
        account = uow.accounts.by_username("ghopper")
        [event] = [e for e in uow.audit.tail(200) if e.type == "enrollment_approved"]
    assert decided is not None and decided.status == "approved"
    assert untouched is not None and untouched.status == "pending"
    assert account is not None and account.status == "pending"
    assert event.actor == f"staff:{practice.username}"
    assert event.details["portal"] == "queue-north"
    assert event.details["reason"] == "Called the applicant back on the number on file"

    # The other queues of the same practice, with an invitation and a refused form.
    page.goto(provider.url + "/admin/invitations")
    page.get_by_label("Medical record number (MRN)").fill("MRN-42")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Byron")
    page.get_by_label("Birth date").fill("1990-02-30")  # no such day: refused
    page.get_by_label("Zip code").fill("02138")
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_role("button", name="Email the invitation").click()
    expect(page.locator("#form-error")).to_be_visible()
    _axe(page, found, "invitations with a refused form")
    page.get_by_label("Birth date").fill("1990-02-03")
    page.get_by_role("button", name="Email the invitation").click()
    expect(page.locator("[data-invitation]")).to_have_count(1)
    _axe(page, found, "invitations with an item")
    page.goto(provider.url + "/admin/proxy-grants")
    _axe(page, found, "proxy approvals")
    assert found == {}


def test_axe_finds_no_violation_on_the_admins_new_pages(provider: LiveProvider, page: Page):
    provider.add_portal("Axe Clinic", "axe-clinic")
    admin = make_staff(provider, "admin")
    staff_sign_in(page, provider, admin, "/admin/portals")
    found: dict[str, object] = {}
    _axe(page, found, "portals and clients")
    page.get_by_label("Name", exact=True).last.fill("Axe app")
    page.get_by_label("Redirect URIs, one a line", exact=True).fill("https://axe.example/cb")
    page.get_by_role("button", name="Add client").click()
    expect(page.locator("[data-client-secret]")).to_be_visible()
    _axe(page, found, "a new client's secret on show")
    page.get_by_label("Name", exact=True).last.fill("Evil app")
    page.get_by_label("Redirect URIs, one a line", exact=True).fill("http://evil.example/cb")
    page.get_by_role("button", name="Add client").click()
    expect(page.locator("#form-error")).to_contain_text("must use https")
    _axe(page, found, "a refused client")
    for path in (
        "/admin/enrollments",
        "/admin/invitations?portal=axe-clinic",
        "/admin/proxy-grants",
    ):
        page.goto(provider.url + path)
        _axe(page, found, path)
    assert found == {}
