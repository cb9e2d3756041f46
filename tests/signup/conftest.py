"""Sign-up tests: the provider through Flask's test client, mail through a real SMTP server.

The SMTP server is aiosmtpd on loopback (``tests/notify/conftest.py``); the provider
sends to it with its real :class:`~idp.notify.SmtpEmailSender`. Tests deliver by
calling ``dispatcher.send_due()`` after a request instead of waiting for the
background worker, which is therefore never woken here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import build_services
from idp.flows.signup_links import (
    PHONE_PREFIX,
    PendingRegistration,
    PendingRegistrations,
    reservation_key,
)
from idp.services import Services
from idp.settings import Settings, SmtpSettings
from idp.store.interfaces import EphemeralStore
from idp.store.sql import models
from idp.store.sql.database import Database
from tests.notify.conftest import SmtpServer, smtp_server  # noqa: F401 - the SMTP fixture

from ..helpers import MovableClock, csrf_token, strip_csrf

SENDER = "Patient Sign-in <no-reply@idp.test>"
PASSWORD = "purple elephants dance at midnight"
DEMOGRAPHICS = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "dob": "1990-05-17",
    "zip": "02139",
    "gender": "female",
    "email": "grace@example.test",
}
QUESTIONS = {
    "question_1": "first_concert",
    "answer_1": "The Rolling Stones",
    "question_2": "childhood_friend",
    "answer_2": "Margaret",
    "question_3": "first_job_street",
    "answer_3": "Elm Street",
}
CREDENTIALS = {"username": "ghopper", "password": PASSWORD, "accept_terms": "yes", **QUESTIONS}
REASON_RE = re.compile(r'data-reason="([^"]+)"')
FLOW_RE = re.compile(r'name="f" value="([^"]+)"')
LINK_RE = re.compile(r"https?://[^\s\"<>]+/signup/verify\?token=[A-Za-z0-9_-]+")
# The check-email page: its message and, since issue 5, the "verify by phone" offer.
CHECK_EMAIL_IDS = ["signup_check_email", "signup_phone_offer"]


@pytest.fixture
def services(
    settings: Settings,
    clean_database: Database,
    ephemeral: EphemeralStore,
    smtp_server: SmtpServer,  # noqa: F811 - the fixture imported above
    clock: MovableClock,
) -> Iterator[Services]:
    """The provider's services, mailing through the test SMTP server, on a movable clock."""
    settings = dataclasses.replace(
        settings,
        smtp=SmtpSettings(
            host=smtp_server.host, port=smtp_server.port, security="none", sender=SENDER
        ),
    )
    svc = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    # Same renderer, no wake-up: messages wait in the outbox until a test sends them.
    yield svc
    svc.outbox_worker.stop()


TABLES = {
    "accounts": models.Account,
    "persons": models.Person,
    "security_answers": models.SecurityAnswer,
    "action_tokens": models.ActionToken,
    "outbox": models.OutboxMessage,
}


def domain_rows(services: Services) -> dict[str, int]:
    """Rows of every table sign-up may write, audit events aside."""
    with services.db.session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in TABLES.items()
        }


def pending_registrations(
    services: Services, email: str = DEMOGRAPHICS["email"]
) -> list[PendingRegistration]:
    """Sign-ups at ``email`` waiting for their link (no account exists for them yet)."""
    pending = PendingRegistrations(
        services.ephemeral, secret=services.settings.secret_key, clock=services.clock
    )
    return pending.at(email)


def proven_phone(services: Services, email: str = DEMOGRAPHICS["email"]) -> str | None:
    """The phone proven for the sign-up waiting at ``email``, kept until the link is used."""
    [registration] = pending_registrations(services, email)
    return services.ephemeral.get(PHONE_PREFIX + registration.rid)


def user_id_reserved(services: Services, username: str) -> bool:
    return services.ephemeral.get(reservation_key(username)) is not None


def forget_reservation(services: Services, username: str) -> None:
    """As if the user ID's reservation had run out (store TTLs ignore the test clock)."""
    services.ephemeral.delete(reservation_key(username))


def reasons(html: str) -> list[str]:
    """The refusal codes a page lists (the ``reasons`` macro marks them)."""
    return REASON_RE.findall(html)


def comparable(response: TestResponse) -> tuple[int, list[tuple[str, str]], str]:
    """The whole response minus what differs per request anyway (cookie, CSRF token, and
    since issue 5 the phone step's random flow id on the check-email page)."""
    headers = sorted(
        (k, v)
        for k, v in response.headers.items()
        if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")
    )
    body = FLOW_RE.sub('name="f" value=""', strip_csrf(response.text))
    return response.status_code, headers, body


class SignupActions:
    """A patient's browser on the sign-up pages, and their mailbox."""

    def __init__(self, client: FlaskClient, services: Services, smtp: SmtpServer) -> None:
        self.client = client
        self.services = services
        self.smtp = smtp
        self._read = 0

    def _csrf(self, path: str = "/signup") -> str:
        return csrf_token(self.client.get(path).text)

    def start(self, **changes: str | None) -> TestResponse:
        data: dict[str, Any] = {**DEMOGRAPHICS, **changes}
        data = {k: v for k, v in data.items() if v is not None}
        return self.client.post("/signup", data={**data, "csrf_token": self._csrf()})

    def flow_id(self, response: TestResponse) -> str:
        match = FLOW_RE.search(response.text)
        assert match, response.text[:800]
        return match.group(1)

    def account(self, flow_id: str | None, **changes: str | None) -> TestResponse:
        data: dict[str, Any] = {**CREDENTIALS, **changes}
        if flow_id is not None:
            data["f"] = flow_id
        data = {k: v for k, v in data.items() if v is not None}
        return self.client.post("/signup/account", data={**data, "csrf_token": self._csrf()})

    def sign_up(self, demographics: dict[str, str] | None = None, **changes: str) -> TestResponse:
        first = self.start(**(demographics or {}))
        assert first.status_code == 200, first.text[:800]
        return self.account(self.flow_id(first), **changes)

    def deliver(self) -> list[EmailMessage]:
        """Send what the outbox holds over SMTP; the messages that arrived since last time."""
        self.services.dispatcher.send_due()
        new = self.smtp.mailbox.messages[self._read :]
        self._read = len(self.smtp.mailbox.messages)
        return new

    def link(self, message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        match = LINK_RE.search(body.get_content())
        assert match, body.get_content()
        return match.group(0)

    def open_link(self, link: str) -> TestResponse:
        parts = urlsplit(link)
        return self.client.get(f"{parts.path}?{parts.query}")

    def confirm(self, link: str) -> TestResponse:
        token = link.split("token=", 1)[1]
        page = self.open_link(link)
        assert page.status_code == 200, page.text[:800]
        return self.client.post(
            "/signup/verify", data={"token": token, "csrf_token": csrf_token(page.text)}
        )

    def resend(self, email: str) -> TestResponse:
        csrf = self._csrf("/signup/resend")
        return self.client.post("/signup/resend", data={"email": email, "csrf_token": csrf})

    def login(self, username: str = "ghopper", password: str = PASSWORD) -> TestResponse:
        csrf = self._csrf("/login")
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": csrf}
        )


@pytest.fixture
def signup(
    client: FlaskClient,
    services: Services,
    smtp_server: SmtpServer,  # noqa: F811
) -> SignupActions:
    return SignupActions(client, services, smtp_server)
