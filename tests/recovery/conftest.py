"""Recovery fixtures: the provider mailing a real SMTP server (aiosmtpd) on loopback.

Messages are queued in the flows' transactions and sent by the dispatcher over
SMTP; tests call :meth:`Recovery.mail` (which runs ``dispatcher.send_due()``) and
read what the server received, then follow the links in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.app import build_services
from idp.flows.credentials import hash_questions
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from tests.conftest import Factory
from tests.helpers import MovableClock, csrf_token, strip_csrf
from tests.integration.conftest import _key_ring
from tests.notify.conftest import SmtpServer

NEW_PASSWORD = "a fresh and unguessable passphrase"
DOB = date(1980, 4, 30)
ANSWER = "Blue Oyster Cult"
FLOW_RE = re.compile(r'name="flow" value="[^"]*"')
LINK_RE = re.compile(r"https?://\S+/reset/(?:confirm|password)\?token=[A-Za-z0-9_-]+")


@pytest.fixture
def services(
    settings: Settings,
    clean_database: Database,
    ephemeral: EphemeralStore,
    clock: MovableClock,
    smtp: SmtpServer,
) -> Iterator[Services]:
    """The provider with mail going to ``smtp`` and time from ``clock``.

    The notifier is built without the background worker's wake-up, so nothing is
    sent behind the test's back: tests send with ``dispatcher.send_due()``.
    """
    settings = settings.with_overrides(
        smtp=replace(settings.smtp, host=smtp.host, port=smtp.port, security="none")
    )
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    services.keys = _key_ring(settings)
    yield services
    services.outbox_worker.stop()


def normalised(response: TestResponse) -> tuple[int, tuple[tuple[str, str], ...], str]:
    """A whole response minus what differs per request: cookies, CSRF token, flow id."""
    headers = tuple(
        sorted(
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("set-cookie", "content-length", "x-request-id")
        )
    )
    body = FLOW_RE.sub('name="flow" value="…"', strip_csrf(response.text))
    return response.status_code, headers, body


def flow_id(html: str) -> str:
    match = re.search(r'name="flow" value="([^"]+)"', html)
    assert match, "page has no flow id"
    return match.group(1)


def local(url: str) -> str:
    """An absolute link from an email as a path for the test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


class Recovery:
    """Drive the recovery pages as a patient's browser does, and read the mail it causes."""

    def __init__(self, app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> None:
        self.app = app
        self.services = services
        self.smtp = smtp
        self.factory = factory
        self.client = app.test_client()
        self._read = 0

    # --- data ---

    def patient(
        self,
        username: str = "alice",
        *,
        questions: list[tuple[str, str]] | None = None,
        **kw: Any,
    ) -> AccountRecord:
        """An account with a DOB and security questions (default: one, answered ANSWER)."""
        kw.setdefault("dob", DOB)
        account = self.factory.account(username, **kw)
        self.set_questions(account, questions or [("first_concert", ANSWER)])
        return account

    def set_questions(self, account: AccountRecord, questions: list[tuple[str, str]]) -> None:
        choices = [QuestionChoice(question_id=q, answer=a) for q, a in questions]
        with self.services.db.transaction() as uow:
            uow.security_answers.replace(
                account.id,
                hash_questions(choices, self.services.hashing),
                now=self.services.clock(),
            )

    def account(self, username: str) -> AccountRecord:
        with self.services.db.transaction() as uow:
            record = uow.accounts.by_username(username)
        assert record is not None
        return record

    # --- mail ---

    def mail(self) -> list[EmailMessage]:
        """Send what is due over SMTP; the messages the server received since last asked.

        A temporary SMTP failure (the test server starved of CPU on a loaded CI
        machine) puts a message back with a backoff; deliver it now rather than flake.
        """
        report = self.services.dispatcher.send_due()
        for _ in range(3):
            if not report.retried:
                break
            later = self.services.clock() + timedelta(hours=2)
            report = self.services.dispatcher.send_due(now=later)
        messages = self.smtp.mailbox.messages[self._read :]
        self._read = len(self.smtp.mailbox.messages)
        return messages

    def link(self, mail: EmailMessage) -> str:
        match = LINK_RE.search(text_of(mail))
        assert match, text_of(mail)
        return local(match.group(0))

    # --- pages ---

    def post(
        self, path: str, data: dict[str, str], client: FlaskClient | None = None
    ) -> TestResponse:
        client = client or self.client
        page = client.get(path)
        assert page.status_code == 200, page.text
        return client.post(path, data={"csrf_token": csrf_token(page.text), **data})

    def step(
        self,
        path: str,
        previous: TestResponse,
        data: dict[str, str],
        client: FlaskClient | None = None,
    ) -> TestResponse:
        """Submit the next step of a flow from the page ``previous`` showed."""
        client = client or self.client
        return client.post(
            path,
            data={"csrf_token": csrf_token(previous.text), "flow": flow_id(previous.text), **data},
        )

    def forgot_id(
        self,
        email: str,
        dob: str | None = None,
        answer: str | None = None,
        client: FlaskClient | None = None,
    ) -> list[TestResponse]:
        """The pages "forgot user ID" answers with, until the arguments run out or a
        page is not a next step (an error or a limit)."""
        pages = [self.post("/forgot-user-id", {"email": email}, client)]
        for name, value in (("dob", dob), ("answer", answer)):
            if value is None or 'name="flow"' not in pages[-1].text:
                break
            pages.append(self.step("/forgot-user-id", pages[-1], {name: value}, client))
        return pages

    def forgot_password(
        self,
        username: str,
        answer: str | None = None,
        password: str = NEW_PASSWORD,
        client: FlaskClient | None = None,
        confirm: str | None = None,
    ) -> list[TestResponse]:
        pages = [self.post("/forgot-password", {"username": username}, client)]
        if answer is not None and 'name="flow"' in pages[-1].text:
            pages.append(
                self.step(
                    "/forgot-password",
                    pages[-1],
                    {
                        "answer": answer,
                        "password": password,
                        "password_confirm": password if confirm is None else confirm,
                    },
                    client,
                )
            )
        return pages

    def open_link(self, path: str) -> TestResponse:
        """GET a link from an email (what a mail scanner also does)."""
        return self.client.get(path)

    def confirm(self, path: str) -> TestResponse:
        page = self.open_link(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token, page.text
        return self.client.post(
            "/reset/confirm", data={"csrf_token": csrf_token(page.text), "token": token.group(1)}
        )

    def choose(
        self, path: str, password: str = NEW_PASSWORD, confirm: str | None = None
    ) -> TestResponse:
        page = self.open_link(path)
        assert page.status_code == 200, page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token, page.text
        return self.client.post(
            "/reset/password",
            data={
                "csrf_token": csrf_token(page.text),
                "token": token.group(1),
                "password": password,
                "password_confirm": password if confirm is None else confirm,
            },
        )

    def sign_in(
        self, username: str, password: str, client: FlaskClient | None = None
    ) -> TestResponse:
        return self.post("/login", {"username": username, "password": password}, client)


@pytest.fixture
def recovery(app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> Recovery:
    return Recovery(app, services, smtp, factory)
