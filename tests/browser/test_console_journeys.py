"""The staff console in headless Chromium (issue 11, "How it is verified"):

- a support agent with an authenticator app signs in, finds a locked patient, unlocks
  with a reason, and the patient signs in;
- an auditor filters last week's failed sign-ins of one patient and exports them as CSV;
- axe-core (from npm, ``make axe``) reports no violation on any console page.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from idp.records import AuditEntry
from tests.live import LiveAccount, LiveProvider, live_provider

from .audit import AXE, AXE_MISSING, axe_violations
from .conftest import chromium
from .console import TIMEOUT_MS, make_staff, password_step, staff_sign_in

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
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def sign_in_attempt(browser: Browser, provider: LiveProvider, account: LiveAccount, password: str):
    """One sign-in from a browser the provider has never seen; the page it ends on."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(provider.url + "/login")
        password_step(page, replace(account, password=password))
        page.wait_for_load_state()
        return page.url, page.content()
    finally:
        context.close()


def test_support_unlocks_a_locked_patient_who_then_signs_in(
    provider: LiveProvider, browser: Browser, page: Page
) -> None:
    patient = provider.add_account(first_name="Ada", last_name="Lovelace")
    for _ in range(5):
        sign_in_attempt(browser, provider, patient, "not the password")
    url, html = sign_in_attempt(browser, provider, patient, patient.password)
    assert url.endswith("/login") and "account_locked" in html  # locked, even the owner

    support = make_staff(provider, "support")
    staff_sign_in(page, provider, support, "/admin/patients")
    page.get_by_label("User ID").fill(patient.username)
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name=patient.username).click()
    expect(page.locator("[data-locked-for]")).to_be_visible()
    page.get_by_label("Reason (recorded in the audit trail)").first.fill(
        "Caller confirmed name, birth date and address"
    )
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("status")).to_contain_text("Unlocked")
    expect(page.locator("[data-locked-for]")).to_have_count(0)

    url, _ = sign_in_attempt(browser, provider, patient, patient.password)
    assert not url.endswith("/login"), url
    with provider.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(200) if e.type == "account_unlocked"]
    assert event.actor == f"staff:{support.username}" and event.subject == patient.subject
    assert event.details["reason"] == "Caller confirmed name, birth date and address"


def test_auditor_filters_last_weeks_failed_sign_ins_of_one_patient_and_exports_csv(
    provider: LiveProvider, browser: Browser, page: Page
) -> None:
    patient = provider.add_account(first_name="Mary", last_name="Jackson")
    other = provider.add_account(first_name="Dorothy", last_name="Vaughan")
    now = datetime.now(UTC)
    with provider.db.transaction() as uow:
        for days, who, outcome in (
            (2, patient, "failure"),
            (5, patient, "failure"),
            (3, patient, "success"),
            (12, patient, "failure"),  # before last week
            (1, other, "failure"),  # someone else
        ):
            uow.audit.record(
                AuditEntry(
                    type="login",
                    outcome=outcome,
                    actor=who.subject,
                    subject=who.subject,
                    ip="198.51.100.23",
                    user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36",
                    details={"reason": "invalid_credentials" if outcome == "failure" else "ok"},
                ),
                now=now - timedelta(days=days),
            )
    auditor = make_staff(provider, "auditor")
    staff_sign_in(page, provider, auditor, "/admin/audit")
    page.get_by_label("From (UTC)").fill((now - timedelta(days=7)).date().isoformat())
    page.get_by_label("To (UTC, inclusive day)").fill(now.date().isoformat())
    page.get_by_label("Patient").fill(patient.username)
    page.get_by_label("Event type").fill("login")
    page.get_by_label("Outcome").select_option("failure")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Mary Jackson")
    expect(rows.first).to_contain_text("Chrome on Windows")

    page.get_by_label("CSV (spreadsheets)").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert [(r["user_id"], r["outcome"]) for r in exported] == [(patient.username, "failure")] * 2
    assert {r["name"] for r in exported} == {"Mary Jackson"}
    with provider.db.transaction() as uow:
        reads = [e for e in uow.audit.tail(200) if e.actor == f"staff:{auditor.username}"]
    assert [e.type for e in reads if e.type.startswith("audit_")][-2:] == [
        "audit_searched",
        "audit_exported",
    ]


def test_axe_finds_no_violation_on_any_console_page(
    provider: LiveProvider, browser: Browser
) -> None:
    if not AXE.exists():
        if os.environ.get("IDP_REQUIRE_BROWSER") == "1":
            pytest.fail(AXE_MISSING, pytrace=False)
        pytest.skip(AXE_MISSING)
    patient = provider.add_account(first_name="Katherine", last_name="Johnson")
    sign_in_attempt(browser, provider, patient, "a wrong password")
    admin = make_staff(provider, "admin")
    # Our CSP refuses inline scripts, and Playwright injects axe as one.
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    staff_sign_in(page, provider, admin, "/admin/")
    today = datetime.now(UTC).date()
    pages = [
        "/admin/",
        "/admin/audit",
        f"/admin/audit?user={patient.username}&outcome=failure",
        "/admin/audit?ip=not-an-address",  # the error state
        "/admin/overview",
        f"/admin/overview?from={today - timedelta(days=1)}&to={today}",
        "/admin/overview?bucket=minute",
        "/admin/patients",
        f"/admin/patients?user_id={patient.username}",
        "/admin/patients?last_name=Johnson",
        f"/admin/patients/view?user={patient.username}",
        "/admin/patients/view?user=nobody-at-all",  # the refusal page
    ]
    found = {}
    for path in pages:
        page.goto(provider.url + path)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    # The check can fail: the same injection finds a nameless button and input on a page.
    page.set_content('<html lang="en"><main><input type="text"><button></button></main></html>')
    control = {v["id"] for v in axe_violations(page)}
    context.close()
    assert found == {}
    assert {"button-name", "label"} <= control, control
