"""Forgot password the FAQ's way, in headless Chromium against a live provider.

Everything is real and on loopback: the provider under gunicorn (tests/live.py)
mails an SMTP server (aiosmtpd) started here, from its background dispatcher, and
the browser follows the link it finds in the message. The journey: login page →
"Forgot your password?" → user ID → security question and new password → the email
→ "Confirm my password" → sign in with the new password (the old one no longer works).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
import redis
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from idp.flows.credentials import hash_questions
from idp.flows.methods.password import PasswordHashing
from idp.policies.security_questions import QuestionChoice
from idp.store.throttle import Throttle
from tests.live import REDIS_PREFIX, LiveProvider, live_provider
from tests.notify.conftest import Mailbox, SmtpServer, _start_controller

from .conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 10_000
NEW_PASSWORD = "a fresh and unguessable passphrase"
ANSWER = "Blue Oyster Cult"
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/reset/confirm\?token=[A-Za-z0-9_-]+")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    controller = _start_controller(
        lambda port: Controller(mailbox, hostname="127.0.0.1", port=port)
    )
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def live(smtp: SmtpServer) -> Iterator[LiveProvider]:
    """A live provider whose mail goes to ``smtp`` (plain SMTP on loopback)."""
    extra = {
        "IDP_SMTP_HOST": smtp.host,
        "IDP_SMTP_PORT": str(smtp.port),
        "IDP_SMTP_SECURITY": "none",
        # Retry quickly should the first delivery race the server's start.
        "IDP_OUTBOX_POLL_INTERVAL": "1",
    }
    with live_provider(extra_env=extra) as provider:
        try:
            yield provider
        finally:
            _forget_client_throttles(provider)


def _forget_client_throttles(provider: LiveProvider) -> None:
    """Throttle keys hold only hashes (of 127.0.0.1, of user IDs), so the live server's
    own sweep cannot recognise them; left behind in a shared Redis, repeated runs within
    an hour would hit the per-address mail limit."""
    if not provider.backend.redis_url:
        return
    keys = [Throttle._key(scope, "127.0.0.1") for scope in ("recovery-step", "mail-ip")]
    keys += [Throttle._key("mail:forgot_password", name) for name in provider.usernames]
    client = redis.Redis.from_url(provider.backend.redis_url)
    try:
        client.delete(*(REDIS_PREFIX + key for key in keys))
    finally:
        client.close()


def _wait_for_mail(mailbox: Mailbox, count: int, timeout: float = 15.0) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mailbox.messages) >= count:
            return list(mailbox.messages)
        time.sleep(0.05)
    raise AssertionError(f"expected {count} messages, got {len(mailbox.messages)}")


def _sign_in(page: Page, username: str, password: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").click()


def test_forgot_password_with_question_then_confirm_by_email(
    live: LiveProvider, smtp: SmtpServer
) -> None:
    patient = live.add_account(first_name="Ada", last_name="Lovelace")
    hashing = PasswordHashing(live.password_hashing)
    with live.db.transaction() as uow:
        account = uow.accounts.by_username(patient.username)
        assert account is not None
        uow.security_answers.replace(
            account.id,
            hash_questions([QuestionChoice("first_concert", ANSWER)], hashing),
            now=datetime.now(UTC),
        )

    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            # 1. From the login page to "Forgot your password?".
            page.goto(live.url + "/login")
            page.get_by_role("link", name="Forgot your password?").click()
            expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()

            # 2. User ID, then the security question and a new password.
            page.get_by_label("User ID").fill(patient.username)
            page.get_by_role("button", name="Continue").click()
            page.get_by_label("What was the first concert you went to?").fill(ANSWER.lower())
            page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
            page.get_by_label("New password again").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
            expect(page.locator("[data-message-id=recovery_reset_sent]")).to_be_visible()

            # 3. The email, sent by the provider's dispatcher over real SMTP.
            [mail] = _wait_for_mail(smtp.mailbox, 1)
            assert mail["To"] == patient.email
            text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            link = LINK_RE.search(text)
            assert link, text

            # 4. Opening the link shows a button; only pressing it confirms.
            page.goto(link.group(0))
            page.get_by_role("button", name="Confirm my password").click()
            expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
            notice = _wait_for_mail(smtp.mailbox, 2)[1]
            assert notice["To"] == patient.email and "was reset" in str(notice["Subject"])

            # 5. The old password is refused, the new one signs in.
            page.get_by_role("link", name="Sign in").click()
            page.locator("input[name=password]").wait_for()
            _sign_in(page, patient.username, patient.password)
            expect(page.locator("[data-message-id=invalid_credentials]")).to_be_visible()
            _sign_in(page, patient.username, NEW_PASSWORD)
            page.wait_for_url(lambda url: "/login" not in url)
            assert any(c["name"] == "idp_session" for c in context.cookies())
        finally:
            context.close()
