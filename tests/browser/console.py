"""Staff in headless Chromium: an account with a role that enrols an authenticator app
on its own two-step page and signs in with it, as the console requires."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pyotp
from playwright.sync_api import Page, expect

from tests.live import LiveAccount, LiveProvider

TIMEOUT_MS = 15_000


def make_staff(provider: LiveProvider, role: str, *portal_ids: int) -> LiveAccount:
    account = provider.add_account(first_name="Staff", last_name=role.capitalize())
    with provider.db.transaction() as uow:
        record = uow.accounts.by_username(account.username)
        uow.staff.put(
            record.id, role=role, portal_ids=list(portal_ids), by="test", now=datetime.now(UTC)
        )
    return account


def password_step(page: Page, account: LiveAccount) -> None:
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.locator("form button[type=submit]").click()


def staff_sign_in(page: Page, provider: LiveProvider, staff: LiveAccount, start: str) -> None:
    """Open ``start`` in the console: sign in, enrol an authenticator app where the
    console sends a staff account without one, sign in again with a code, and land
    back on ``start``."""
    page.goto(provider.url + start)
    page.wait_for_url("**/login")
    password_step(page, staff)
    page.wait_for_url("**/account/two-step")
    page.get_by_role("link", name="Add an authenticator app").click()
    secret = page.locator("[data-totp-secret]").get_attribute("data-totp-secret")
    assert secret
    totp = pyotp.TOTP(secret)
    page.locator("input[name=code]").fill(totp.now())
    page.get_by_label("Your current password").fill(staff.password)
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("[data-message-id=account_mfa_app_added]")).to_be_visible()
    # The session was signed in with the password alone: the console asks for the code.
    page.goto(provider.url + start)
    page.wait_for_url("**/login")
    password_step(page, staff)
    page.wait_for_url("**/login/second-factor")
    # The next time step (accepted within one step): the enrolment's code is spent.
    page.locator("input[name=code]").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(provider.url + start)
