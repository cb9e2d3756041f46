"""Proxy-access tests: practices enrol children, staff grant, both sides read real mail.

Mail goes over SMTP to aiosmtpd on loopback (``tests/notify/conftest.py``) and is read
back from there; time comes from a :class:`MovableClock`. Runs on both storage
configurations, as chosen by ``IDP_TEST_DATABASE_URL`` / ``IDP_TEST_REDIS_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import build_services
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.records import AccountRecord, ClientRecord, PortalRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql import models
from idp.store.sql.database import Database
from tests.conftest import Factory
from tests.helpers import MovableClock, basic, bearer
from tests.invitations.test_cli import run  # noqa: F401  (the CLI fixture, shared)
from tests.notify.conftest import SmtpServer


def years_ago(years: int) -> str:
    """A birth date making someone exactly ``years`` old today (1 January: no edge)."""
    return date(datetime.now(UTC).year - years, 1, 1).isoformat()


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


TABLES = {
    "persons": models.Person,
    "portal_links": models.PortalLink,
    "proxy_grants": models.ProxyGrant,
    "proxy_grant_events": models.ProxyGrantEvent,
    "confidential_flags": models.ConfidentialFlag,
    "outbox": models.OutboxMessage,
}
# Events of this feature (token issuance for the test's API callers is audited too).
AUDIT_TYPES = (
    "patient_added",
    "confidential_flags_changed",
    "proxy_granted",
    "proxy_approved",
    "proxy_cosigned",
    "proxy_revoked",
    "proxy_expired",
)


class Practice:
    """A practice, its systems, staff tools and the people involved."""

    def __init__(self, app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> None:
        self.app = app
        self.services = services
        self.smtp = smtp
        self.factory = factory
        self.client: FlaskClient = app.test_client()
        self._read = 0
        self._tokens: dict[tuple[str, str], str] = {}

    def portal(self, slug: str = "northside", name: str = "Northside Pediatrics") -> PortalRecord:
        with self.services.db.transaction() as uow:
            return uow.portals.add(slug=slug, name=name, now=self.services.clock())

    def token(self, portal: PortalRecord | None, scope: str) -> str:
        system: ClientRecord = self.factory.client(
            name="EHR connector",
            scope=f"openid {scope}",
            grant_types=["client_credentials"],
            portal_id=portal.id if portal else None,
        )
        response = self.client.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": scope},
            headers=basic(system.client_id, self.factory.secrets[system.client_id]),
        )
        assert response.status_code == 200, response.text
        return str(response.get_json()["access_token"])

    def admin(self) -> str:
        return self.token(None, "idp:admin")

    def add_patient(self, token: str, **fields: Any) -> TestResponse:
        body = {
            "patient_id": "MRN-7",
            "first_name": "Tim",
            "last_name": "Hopper",
            "dob": years_ago(5),
            "zip": "02139",
            **fields,
        }
        return self.client.post("/api/patients", json=body, headers=bearer(token))

    def parent(self, username: str = "grace", age: int = 40, **kw: Any) -> AccountRecord:
        return self.factory.account(
            username,
            first_name=kw.pop("first_name", "Grace"),
            last_name="Hopper",
            dob=date.fromisoformat(years_ago(age)),
            **kw,
        )

    def grant(self, admin: str, slug: str = "northside", **fields: Any) -> TestResponse:
        body = {
            "patient_id": "MRN-7",
            "representative": "grace",
            "relationship": "parent",
            "evidence": "form PCR-2026-001",
            "staff": "Nurse Joy",
            **fields,
        }
        return self.client.post(
            f"/api/admin/portals/{slug}/proxy-grants", json=body, headers=bearer(admin)
        )

    def flow(self) -> ProxyGrantFlow:
        return ProxyGrantFlow.from_services(self.services)

    def mail(self) -> list[EmailMessage]:
        self.services.dispatcher.send_due()
        new = self.smtp.mailbox.messages[self._read :]
        self._read = len(self.smtp.mailbox.messages)
        return new

    def rows(self) -> dict[str, int]:
        with self.services.db.session() as session:
            counts = {
                name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in TABLES.items()
            }
            events = select(func.count()).where(models.AuditEvent.type.in_(AUDIT_TYPES))
            counts["audit"] = int(session.scalar(events) or 0)
            return counts

    def audit(self, type_: str) -> list[Any]:
        with self.services.db.transaction() as uow:
            return [e for e in uow.audit.tail(500) if e.type == type_]


@pytest.fixture
def practice(app: Flask, services: Services, smtp: SmtpServer, factory: Factory) -> Practice:
    return Practice(app, services, smtp, factory)


@pytest.fixture
def northside(practice: Practice) -> PortalRecord:
    return practice.portal()


@pytest.fixture
def ehr(practice: Practice, northside: PortalRecord) -> str:
    """The practice's own system: client credentials with portal:patients."""
    return practice.token(northside, "portal:patients")


@pytest.fixture
def admin(practice: Practice) -> str:
    return practice.admin()


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
