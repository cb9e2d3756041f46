"""Sign-up with identity matching: mail through a real SMTP server, texts through a real
HTTP webhook server, both on loopback (``tests/notify/conftest.py``).

The provider sends with its real :class:`~idp.notify.SmtpEmailSender` and
:class:`~idp.notify.WebhookSmsSender`; tests deliver by calling
``dispatcher.send_due()`` and read what the servers received, as the patient would
from their inbox and phone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import build_services
from idp.cli import main
from idp.records import AccountRecord
from idp.services import Services
from idp.settings import Settings, SmsSettings, SmtpSettings
from idp.store.candidates import index_person
from idp.store.interfaces import EphemeralStore
from idp.store.sql import models
from idp.store.sql.database import Database
from idp.store.sql.repositories import NewPerson
from tests.notify.conftest import (  # noqa: F401 - the server fixtures
    SmtpServer,
    WebhookServer,
    smtp_server,
    webhook_server,
)
from tests.signup.conftest import DEMOGRAPHICS, FLOW_RE, SignupActions

from ..helpers import MovableClock, csrf_token, strip_csrf

SENDER = "Patient Sign-in <no-reply@idp.test>"
WEBHOOK_SECRET = "matching-webhook-secret-0123456789abcdef"
EXISTING_PASSWORD = "an older password of the existing patient"
PHONE = "+16175550123"
PHONE_TYPED = "(617) 555-0123"
OTHER_PHONE = "+16175550188"
CODE_RE = re.compile(r"\b([0-9]{6})\b")
TABLES = {
    "accounts": models.Account,
    "persons": models.Person,
    "security_answers": models.SecurityAnswer,
    "action_tokens": models.ActionToken,
    "enrollments": models.Enrollment,
    "keys": models.PersonBlockingKey,
    "outbox": models.OutboxMessage,
}


@pytest.fixture
def services(
    settings: Settings,
    clean_database: Database,
    ephemeral: EphemeralStore,
    smtp_server: SmtpServer,  # noqa: F811
    webhook_server: WebhookServer,  # noqa: F811
    clock: MovableClock,
) -> Iterator[Services]:
    settings = dataclasses.replace(
        settings,
        smtp=SmtpSettings(
            host=smtp_server.host, port=smtp_server.port, security="none", sender=SENDER
        ),
        sms=SmsSettings(webhook_url=webhook_server.url, webhook_secret=WEBHOOK_SECRET),
    )
    svc = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    yield svc
    svc.outbox_worker.stop()


def rows(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in TABLES.items()
        }


def comparable(response: TestResponse) -> tuple[int, list[tuple[str, str]], str]:
    """Status, headers (but cookie and length) and body with CSRF and flow ids blanked."""
    headers = sorted(
        (k, v)
        for k, v in response.headers.items()
        if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")
    )
    body = FLOW_RE.sub('name="f" value=""', strip_csrf(response.text))
    return response.status_code, headers, body


def patient(
    services: Services,
    username: str,
    *,
    email: str = DEMOGRAPHICS["email"],
    phone: str | None = PHONE,
    status: str = "active",
    index: bool = True,
    **demographics: Any,
) -> AccountRecord:
    """An existing patient with an account, indexed the way account creation must index."""
    who = {
        "first_name": DEMOGRAPHICS["first_name"],
        "last_name": DEMOGRAPHICS["last_name"],
        "dob": date.fromisoformat(DEMOGRAPHICS["dob"]),
        "zip": DEMOGRAPHICS["zip"],
        "gender": DEMOGRAPHICS["gender"],
        **demographics,
    }
    person = NewPerson(**who, email=email, phone=phone)
    with services.db.transaction() as uow:
        account = uow.accounts.add(
            username=username,
            password_hash=services.hashing.hash(EXISTING_PASSWORD),
            email=email,
            email_verified=status == "active",
            phone=phone,
            person=person,
            status=status,
            now=datetime.now(UTC),
        )
        assert account.person is not None
        if index:
            index_person(uow, account.person.id, person, services.settings.secret_key, fresh=True)
    return account


def link_portal(
    services: Services,
    account: AccountRecord,
    name: str,
    *,
    status: str = "active",
    listed: bool = True,
) -> None:
    """A practice and the account's record there (portal links are read from the table)."""
    now = datetime.now(UTC)
    with services.db.session() as session:
        portal = models.Portal(
            slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
            name=name,
            created_at=now,
            listed_in_account_emails=listed,
        )
        session.add(portal)
        session.flush()
        session.add(
            models.PortalLink(
                account_id=account.id,
                portal_id=portal.id,
                patient_id=f"MRN-{portal.id}",
                status=status,
                created_at=now,
            )
        )


def audit_events(services: Services, event_type: str = "signup") -> list[Any]:
    with services.db.transaction() as uow:
        return [e for e in uow.audit.tail(500) if e.type == event_type]


def code_in(text: dict[str, Any]) -> str:
    match = CODE_RE.search(text["body"])
    assert match, text
    return match.group(1)


class MatchingActions(SignupActions):
    """The patient's browser, inbox and phone."""

    def __init__(
        self, client: FlaskClient, services: Services, smtp: SmtpServer, sms: WebhookServer
    ) -> None:
        super().__init__(client, services, smtp)
        self.sms = sms
        self._texts_read = 0

    def texts(self) -> list[dict[str, Any]]:
        """Send what the outbox holds; the texts the gateway received since last time."""
        self.services.dispatcher.send_due()
        new = self.sms.requests[self._texts_read :]
        self._texts_read = len(self.sms.requests)
        return [r.json() for r in new]

    def code(self) -> str:
        [text] = self.texts()
        return code_in(text)

    def phone_step(self, response: TestResponse) -> str:
        """The phone step's flow id on a check-email (or code) page."""
        return self.flow_id(response)

    def send_code(self, flow_id: str, phone: str = PHONE_TYPED) -> TestResponse:
        return self.client.post(
            "/signup/phone", data={"f": flow_id, "phone": phone, "csrf_token": self._csrf()}
        )

    def confirm_code(self, flow_id: str, code: str) -> TestResponse:
        return self.client.post(
            "/signup/phone/confirm",
            data={"f": flow_id, "code": code, "csrf_token": self._csrf()},
        )

    def body(self, message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    def csrf_of(self, response: TestResponse) -> str:
        return csrf_token(response.text)


@pytest.fixture
def signup(
    client: FlaskClient,
    services: Services,
    smtp_server: SmtpServer,  # noqa: F811
    webhook_server: WebhookServer,  # noqa: F811
) -> MatchingActions:
    return MatchingActions(client, services, smtp_server, webhook_server)


@pytest.fixture
def cli(
    services: Services,
    database_url: str,
    smtp_server: SmtpServer,  # noqa: F811
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run ``idp`` as staff would, on the test's database, secret and mail server.

    Returns the parsed JSON when ``--json`` is given, else the click result.
    """
    for name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST")]:
        monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        # Commands that make links need the provider's address (never a guessed one).
        "IDP_ISSUER": "http://127.0.0.1:5000",
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": services.settings.secret_key,
        "IDP_SMTP_HOST": smtp_server.host,
        "IDP_SMTP_PORT": str(smtp_server.port),
        "IDP_SMTP_SECURITY": "none",
    }
    if services.settings.redis_url:
        env["IDP_REDIS_URL"] = services.settings.redis_url

    def invoke(*args: str, code: int = 0, raw: bool = False) -> Any:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == code, result.output
        if raw or code or "--json" not in args:
            return result
        return json.loads(result.output)

    return invoke
