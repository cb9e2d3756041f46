"""Fixtures for the "My account" pages: real SMTP, a movable clock, signed-in browsers.

Email goes over a socket to an aiosmtpd server on loopback (DESIGN.md: "Email is
delivered to a real SMTP server started by the tests, and read back from
there"). The background outbox worker is left out: tests call
:meth:`Mail.deliver` (``services.dispatcher.send_due()``) after a request, so
what has arrived is certain rather than racing a thread.
"""

from __future__ import annotations

import email
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import build_services, create_app, key_publish_window
from idp.oidc.keys import KeyRing
from idp.records import AccountRecord, AuditRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql import models
from idp.store.sql.database import Database

from ..conftest import PASSWORD, Factory
from ..helpers import MovableClock, OIDCActions, csrf_token

SENDER = "Patient Sign-in <no-reply@idp.test>"
LINK_RE = re.compile(r"https?://\S+")

# --- SMTP ------------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping every message it accepts, parsed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def snapshot(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    last: Exception | None = None
    for _ in range(5):  # another process may take the free port in between
        port = _free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            last = exc
            continue
        try:
            yield inbox, port
        finally:
            controller.stop()
        return
    raise RuntimeError(f"could not start the SMTP test server: {last}")


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    match = LINK_RE.search(body(message))
    assert match, body(message)
    return match.group(0)


class Mail:
    """Deliver queued mail through the real SMTP server and read it back."""

    def __init__(self, services: Services, inbox: Inbox) -> None:
        self.services = services
        self.inbox = inbox
        self._seen = 0

    def deliver(self) -> list[EmailMessage]:
        """Send everything due; return the messages that arrived since the last call."""
        report = self.services.dispatcher.send_due()
        assert report.failed == 0 and report.retried == 0, report
        messages = self.inbox.snapshot()
        new, self._seen = messages[self._seen :], len(messages)
        return new

    @staticmethod
    def to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
        return [m for m in messages if str(m["To"]) == address]


# --- the provider ----------------------------------------------------------------------------

_KEY_RINGS: dict[tuple[Path, int], KeyRing] = {}


@pytest.fixture
def services(
    settings: Settings,
    clean_database: Database,
    ephemeral: EphemeralStore,
    clock: MovableClock,
    smtp: tuple[Inbox, int],
) -> Iterator[Services]:
    _, port = smtp
    settings = replace(
        settings,
        smtp=replace(settings.smtp, host="127.0.0.1", port=port, security="none", sender=SENDER),
    )
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    window = key_publish_window(settings)
    ring_key = (settings.keys_dir, window)
    if ring_key not in _KEY_RINGS:  # building RSA keys costs ~60 ms: once per run
        _KEY_RINGS[ring_key] = KeyRing(settings.keys_dir, publish_for=window)
    services.keys = _KEY_RINGS[ring_key]
    # Same templates and ids, no background worker (see the module docstring).
    yield services
    services.outbox_worker.stop()


@pytest.fixture
def mail(services: Services, smtp: tuple[Inbox, int]) -> Mail:
    return Mail(services, smtp[0])


# --- browsers --------------------------------------------------------------------------------

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


class Browser:
    """One patient's browser: its own cookies, User-Agent and address."""

    def __init__(self, client: FlaskClient, factory: Factory, *, user_agent: str, ip: str) -> None:
        self.client = client
        self.client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
        self.oidc = OIDCActions(client, factory)

    def sign_in(self, username: str = "alice", password: str = PASSWORD) -> TestResponse:
        return self.oidc.sign_in(username, password)

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.client.get(path, **kw)

    def submit(
        self, path: str, data: dict[str, str], *, page: str | None = None, csrf: bool = True
    ) -> TestResponse:
        """POST a form the way a browser does: the CSRF token comes from the page."""
        form = self.client.get(page or path)
        assert form.status_code == 200, (form.status_code, form.text[:300])
        payload = {"csrf_token": csrf_token(form.text)} if csrf else {}
        payload.update(data)
        return self.client.post(path, data=payload)

    def signed_in(self) -> bool:
        return self.client.get("/account").status_code == 200


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


@pytest.fixture
def alice(factory: Factory) -> AccountRecord:
    return factory.account(phone="+16175550100")


@pytest.fixture
def browser(app: Flask, factory: Factory, alice: AccountRecord) -> Browser:
    """Alice signed in on a laptop."""
    b = Browser(app.test_client(), factory, user_agent=FIREFOX, ip="198.51.100.7")
    b.sign_in()
    return b


@pytest.fixture
def phone(app: Flask, factory: Factory, alice: AccountRecord) -> Browser:
    """Alice signed in on her phone too."""
    b = Browser(app.test_client(), factory, user_agent=SAFARI, ip="203.0.113.44")
    b.sign_in()
    return b


@pytest.fixture
def anonymous(app: Flask, factory: Factory) -> Browser:
    return Browser(app.test_client(), factory, user_agent=FIREFOX, ip="192.0.2.1")


# --- reading the database --------------------------------------------------------------------


def account(services: Services, account_id: int) -> AccountRecord:
    with services.db.transaction() as uow:
        record = uow.accounts.by_id(account_id)
    assert record is not None
    return record


def events(services: Services, subject: str | None = None) -> list[AuditRecord]:
    """Every audit event (of one subject), oldest first."""
    with services.db.transaction() as uow:
        return [e for e in uow.audit.tail(1000) if subject is None or e.subject == subject]


def table_counts(services: Services) -> dict[str, int]:
    """Rows in every table an account change may write."""
    tables = {
        "accounts": models.Account,
        "persons": models.Person,
        "audit_events": models.AuditEvent,
        "outbox_messages": models.OutboxMessage,
        "action_tokens": models.ActionToken,
        "security_answers": models.SecurityAnswer,
        "consents": models.Consent,
        "refresh_tokens": models.RefreshToken,
    }
    with services.db.session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }


def snapshot(services: Services) -> dict[str, Any]:
    """Counts plus every mutable account column: equal snapshots mean nothing was written."""
    with services.db.session() as session:
        rows = session.execute(
            select(
                models.Account.id,
                models.Account.password_hash,
                models.Account.email,
                models.Account.email_verified,
                models.Account.phone,
                models.Account.status,
                models.Account.updated_at,
            ).order_by(models.Account.id)
        ).all()
        used = session.scalar(
            select(func.count())
            .select_from(models.ActionToken)
            .where(models.ActionToken.used_at.is_not(None))
        )
    return {"counts": table_counts(services), "accounts": [tuple(r) for r in rows], "used": used}


def alert(html: str) -> str | None:
    """The message ID of the page's error (role="alert"), if it shows one."""
    match = re.search(r'role="alert" data-message-id="([^"]+)"', html)
    return match.group(1) if match else None
