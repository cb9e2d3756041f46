"""Self sign-up in headless Chromium: login page to first sign-in, through a real SMTP server.

The provider runs under gunicorn (tests/live.py) and mails through its real SMTP
sender to an aiosmtpd server this module starts on loopback; the test reads the
verification link from what that server received, as the patient would from
their inbox. The link (a POST from its page) creates the account; with Redis and two
workers, the pending registration is stored by one worker and used by whichever
answers.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import redis
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from idp.flows.registration import SIGNUP_EMAIL_SCOPE, SIGNUP_IP_SCOPE
from idp.store.redis import RedisEphemeralStore
from idp.store.throttle import Throttle
from tests.live import Backend, LiveProvider, live_provider
from tests.notify.conftest import Mailbox, SmtpServer, free_port
from tests.signup.conftest import LINK_RE

from .conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 10_000
PASSWORD = "purple elephants dance at midnight"


@pytest.fixture(scope="module")
def mail_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback for this module's provider (retried if the port goes)."""
    mailbox = Mailbox()
    for attempt in range(5):
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            if attempt == 4:
                raise
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def live_with_mail(mail_server: SmtpServer) -> Iterator[LiveProvider]:
    smtp = {
        "IDP_SMTP_HOST": mail_server.host,
        "IDP_SMTP_PORT": str(mail_server.port),
        "IDP_SMTP_SECURITY": "none",
    }
    with live_provider(extra_env=smtp) as provider:
        yield provider


def wait_for_mail(server: SmtpServer, to: str, *, timeout: float = 15.0) -> EmailMessage:
    """The provider sends from a background worker after its commit: poll the mailbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(server.mailbox.messages):
            if message["To"] == to:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no email to {to} within {timeout:.0f}s")


def fill_demographics(page: Page, email: str) -> None:
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Date of birth").fill("1990-05-17")
    page.get_by_label("Zip code").fill("02139")
    page.get_by_label("Gender").select_option("female")
    page.get_by_label("Email address").fill(email)


def fill_account(page: Page, username: str) -> None:
    page.get_by_label("User ID").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    answers = {
        "first_concert": "The Rolling Stones",
        "childhood_friend": "Margaret",
        "first_job_street": "Elm Street",
    }
    for n, (question, answer) in enumerate(answers.items(), start=1):
        page.locator(f"#question_{n}").select_option(question)
        page.locator(f"#answer_{n}").fill(answer)
    page.get_by_label("I have read and accept the terms of use").check()


def test_sign_up_verify_and_sign_in(live_with_mail: LiveProvider, mail_server: SmtpServer) -> None:
    live = live_with_mail
    username = f"grace-{secrets.token_hex(4)}"
    email = f"{username}@example.test"
    live.track_username(username)  # its sign-in counters are swept from a shared Redis

    try:
        with chromium() as browser:
            context = browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            try:
                page.goto(live.url + "/login")
                page.get_by_role("link", name="Create an account").click()
                expect(page.get_by_role("heading", name="Create an account")).to_be_visible()

                fill_demographics(page, email)
                page.get_by_role("button", name="Continue").click()
                expect(page.get_by_label("User ID")).to_be_visible()

                fill_account(page, username)
                page.get_by_role("button", name="Create account").click()
                expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

                # Not yet: no account exists until the emailed link is opened, so the
                # chosen user ID answers like any unknown one.
                page.goto(live.url + "/login")
                page.get_by_label("User ID").fill(username)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                expect(page.locator("[data-message-id=invalid_credentials]")).to_be_visible()

                mail = wait_for_mail(mail_server, email)
                body = mail.get_body(preferencelist=("plain",))
                assert body is not None
                match = LINK_RE.search(body.get_content())
                assert match, body.get_content()
                link = match.group(0)
                assert link.startswith(live.url + "/signup/verify?token=")

                page.goto(link)
                page.get_by_role("button", name="Confirm my email address").click()
                expect(page.get_by_role("heading", name="Your account is ready")).to_be_visible()
                page.get_by_role("link", name="Sign in").click()

                page.get_by_label("User ID").fill(username.upper())  # case-insensitive
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
                expect(page.get_by_role("heading", name="You are signed in")).to_be_visible()
            finally:
                context.close()
    finally:
        _forget_throttles(live.backend, email)


def _forget_throttles(backend: Backend, email: str) -> None:
    """Sign-up throttle counters outlive the server in a shared Redis: remove ours."""
    if not backend.redis_url:
        return
    client = redis.Redis.from_url(backend.redis_url, decode_responses=True)
    try:
        throttle = Throttle(RedisEphemeralStore(client))
        throttle.reset(SIGNUP_IP_SCOPE, "127.0.0.1")
        throttle.reset(SIGNUP_EMAIL_SCOPE, email)
    finally:
        client.close()
