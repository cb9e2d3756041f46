"""Invitation tests: a practice's system calls the JSON API, the patient reads real mail.

Mail goes over SMTP to aiosmtpd on loopback (``tests/notify/conftest.py``); the
notifier is built without the background worker's wake-up, so tests deliver with
``dispatcher.send_due()`` and read what the server received. Time comes from a
:class:`MovableClock`. Runs on both storage configurations (SQLite + in-process,
PostgreSQL + Redis), as chosen by ``IDP_TEST_DATABASE_URL`` / ``IDP_TEST_REDIS_URL``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import build_services
from idp.records import ClientRecord, PortalRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql import models
from idp.store.sql.database import Database
from idp.store.sql.portal_links import PortalLinkRecord
from tests.conftest import Factory
from tests.helpers import MovableClock, basic, bearer, csrf_token, strip_csrf
from tests.notify.conftest import SmtpServer

PASSWORD = "purple elephants dance at midnight"
PATIENT = {
    "patient_id": "MRN-0042",
    "first_name": "Grace",
    "last_name": "Hopper",
    "dob": "1990-05-17",
    "zip": "02139",
    "gender": "female",
    "email": "grace@example.test",
}
DOB = date(1990, 5, 17)
QUESTIONS = {
    "question_1": "first_concert",
    "answer_1": "The Rolling Stones",
    "question_2": "childhood_friend",
    "answer_2": "Margaret",
    "question_3": "first_job_street",
    "answer_3": "Elm Street",
}
NEW_ACCOUNT = {"username": "ghopper", "password": PASSWORD, "accept_terms": "yes", **QUESTIONS}
LINK_RE = re.compile(r"https?://\S+/activate\?code=([A-Za-z0-9_-]+)")
FLOW_RE = re.compile(r'name="flow" value="([^"]*)"')
SWITCH_RE = re.compile(r'(<a href=")[^"]*(" lang="(?:en|es)" hreflang=)')
MESSAGE_RE = re.compile(r'data-message-id="([^"]+)"')
REASON_RE = re.compile(r'data-reason="([^"]+)"')


@pytest.fixture
def services(
    settings: Settings,
    clean_database: Database,
    ephemeral: EphemeralStore,
    clock: MovableClock,
    smtp: SmtpServer,
) -> Iterator[Services]:
    settings = settings.with_overrides(
        smtp=replace(settings.smtp, host=smtp.host, port=smtp.port, security="none")
    )
    svc = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    yield svc
    svc.outbox_worker.stop()


# --- reading pages -----------------------------------------------------------------------------


def flow_id(page: TestResponse) -> str:
    match = FLOW_RE.search(page.text)
    assert match, page.text[:1000]
    return match.group(1)


def message_ids(page: TestResponse) -> list[str]:
    return MESSAGE_RE.findall(page.text)


def reasons(page: TestResponse) -> list[str]:
    return REASON_RE.findall(page.text)


def normalised(response: TestResponse) -> tuple[int, tuple[tuple[str, str], ...], str]:
    """A whole response minus what differs per request: cookies, CSRF token, flow id, and
    the language switch's links (this very address, code included, with ``lang=``)."""
    headers = tuple(
        sorted(
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("set-cookie", "content-length", "x-request-id")
        )
    )
    body = FLOW_RE.sub('name="flow" value="…"', strip_csrf(response.text))
    body = SWITCH_RE.sub(r"\1…\2", body)
    return response.status_code, headers, body


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def html_of(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


# --- the practice, the patient and their mailbox ---------------------------------------------


class Invites:
    def __init__(self, app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> None:
        self.app = app
        self.services = services
        self.smtp = smtp
        self.factory = factory
        self.client: FlaskClient = app.test_client()
        self._read = 0

    # --- practices and their systems ---

    def practice(self, slug: str = "northside", name: str = "Northside Pediatrics") -> PortalRecord:
        with self.services.db.transaction() as uow:
            return uow.portals.add(slug=slug, name=name, now=self.services.clock())

    def system(
        self, portal: PortalRecord | None, scope: str = "openid portal:invitations"
    ) -> ClientRecord:
        """A practice's back-office system: a confidential client with client_credentials."""
        return self.factory.client(
            name="EHR connector",
            scope=scope,
            grant_types=["client_credentials"],
            portal_id=portal.id if portal else None,
        )

    def token(self, system: ClientRecord, scope: str = "portal:invitations") -> str:
        secret = self.factory.secrets[system.client_id]
        response = self.client.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": scope},
            headers=basic(system.client_id, secret),
        )
        assert response.status_code == 200, response.text
        return str(response.get_json()["access_token"])

    def create(self, token: str, path: str = "/api/invitations", **changes: Any) -> TestResponse:
        body = {**PATIENT, **changes}
        return self.client.post(
            path, json={k: v for k, v in body.items() if v is not None}, headers=bearer(token)
        )

    def invite(self, token: str, **changes: Any) -> dict[str, Any]:
        response = self.create(token, **changes)
        assert response.status_code == 201, response.text
        return response.get_json()  # type: ignore[no-any-return]

    # --- mail ---

    def mail(self) -> list[EmailMessage]:
        self.services.dispatcher.send_due()
        new = self.smtp.mailbox.messages[self._read :]
        self._read = len(self.smtp.mailbox.messages)
        return new

    def code_from(self, mail: EmailMessage) -> str:
        match = LINK_RE.search(text_of(mail))
        assert match, text_of(mail)
        return match.group(1)

    def only_code(self) -> str:
        mails = self.mail()
        assert len(mails) == 1, [m["Subject"] for m in mails]
        return self.code_from(mails[0])

    # --- the patient's browser ---

    def open(self, code: str, client: FlaskClient | None = None) -> TestResponse:
        """Follow the emailed link (the path and query of ``{issuer}/activate?code=…``)."""
        return (client or self.client).get(f"/activate?code={code}")

    def verify(
        self,
        page: TestResponse,
        dob: str = PATIENT["dob"],
        zip: str = PATIENT["zip"],
        client: FlaskClient | None = None,
    ) -> TestResponse:
        return (client or self.client).post(
            "/activate",
            data={
                "csrf_token": csrf_token(page.text),
                "flow": flow_id(page),
                "dob": dob,
                "zip": zip,
            },
        )

    def verified(self, code: str, **kw: Any) -> TestResponse:
        """Open the link and pass date of birth and zip: the "choose" page."""
        page = self.verify(self.open(code), **kw)
        assert page.status_code == 200, page.text[:1500]
        return page

    def sign_in(self, page: TestResponse, username: str, password: str = PASSWORD) -> TestResponse:
        return self.client.post(
            "/activate/signin",
            data={
                "csrf_token": csrf_token(page.text),
                "flow": flow_id(page),
                "username": username,
                "password": password,
            },
        )

    def create_account(self, page: TestResponse, **changes: str) -> TestResponse:
        data = {**NEW_ACCOUNT, **changes}
        return self.client.post(
            "/activate/account",
            data={"csrf_token": csrf_token(page.text), "flow": flow_id(page), **data},
        )

    def resend(self, client: FlaskClient | None = None, **fields: str) -> TestResponse:
        client = client or self.client
        page = client.get("/activate/resend")
        assert page.status_code == 200, page.text
        data = {"email": PATIENT["email"], "dob": PATIENT["dob"], "zip": "", **fields}
        return client.post("/activate/resend", data={"csrf_token": csrf_token(page.text), **data})

    # --- what the database holds ---

    def links(self, account_id: int, portal: PortalRecord) -> PortalLinkRecord | None:
        with self.services.db.transaction() as uow:
            return uow.portal_links.active_for(account_id, portal.id)

    def invitation(self, invitation_id: int) -> Any:
        with self.services.db.transaction() as uow:
            return uow.invitations.by_id(invitation_id)

    def count(self, model: Any) -> int:
        with self.services.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def audit(self) -> list[Any]:
        with self.services.db.transaction() as uow:
            return uow.audit.tail(500)

    def audit_types(self) -> list[str]:
        return [e.type for e in self.audit()]


@pytest.fixture
def invites(app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> Invites:
    return Invites(app, services, smtp, factory)


@pytest.fixture
def portal(invites: Invites) -> PortalRecord:
    return invites.practice()


@pytest.fixture
def token(invites: Invites, portal: PortalRecord) -> str:
    return invites.token(invites.system(portal))


TABLES = {
    "invitations": models.Invitation,
    "accounts": models.Account,
    "persons": models.Person,
    "portal_links": models.PortalLink,
    "outbox": models.OutboxMessage,
}


def domain_rows(invites: Invites) -> dict[str, int]:
    return {name: invites.count(model) for name, model in TABLES.items()}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
