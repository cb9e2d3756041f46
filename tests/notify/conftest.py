"""Real servers on loopback for the notify tests: SMTP (aiosmtpd) and HTTP (http.server).

No fake mailer: messages go over a socket to an SMTP server that parses them,
as DESIGN.md asks. aiosmtpd's Controller cannot take ``port=0`` (its readiness
probe would connect to port 0), so a free port is picked first, and picked
again if another test process took it in between.
"""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.notify import (
    Dispatcher,
    Notifier,
    RetryRules,
    SmtpEmailSender,
    TemplateRenderer,
)
from idp.services import Services
from idp.settings import PROJECT_ROOT

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
SENDER = "Patient Sign-in <no-reply@idp.test>"
SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-password-for-tests"
LINK = "https://id.example.test/reset?token=abc123"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- SMTP ------------------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses what it is told to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        # Replies to the next DATA commands, in order ("451 …"); empty: accept.
        self.data_replies: list[str] = []
        # Recipient address -> reply to RCPT TO ("550 …").
        self.refuse_rcpt: dict[str, str] = {}

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.refuse_rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            parsed = email.message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(parsed)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(m["Message-ID"]) for m in self.messages]


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    ca_file: Path | None = None
    logins: list[str] = field(default_factory=list)

    def client_context(self) -> ssl.SSLContext:
        assert self.ca_file is not None
        return ssl.create_default_context(cafile=str(self.ca_file))


def _start_controller(make: Callable[[int], Controller]) -> Controller:
    last: Exception | None = None
    for _ in range(5):
        controller = make(free_port())
        try:
            controller.start()
            return controller
        except (OSError, RuntimeError) as exc:  # the port was taken meanwhile
            last = exc
    raise RuntimeError(f"could not start the SMTP test server: {last}")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback (no TLS): what ``security="none"`` talks to."""
    mailbox = Mailbox()
    controller = _start_controller(
        lambda port: Controller(mailbox, hostname="127.0.0.1", port=port)
    )
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@dataclass(frozen=True)
class TestCertificate:
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> TestCertificate:
    """A self-signed certificate for 127.0.0.1 (and localhost), made for this run."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TestCertificate(cert_file, key_file)


def _server_tls(cert: TestCertificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert.cert_file), str(cert.key_file))
    return context


def _authenticator(logins: list[str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture
def starttls_server(tls_certificate: TestCertificate) -> Iterator[SmtpServer]:
    """Submission-style: STARTTLS required before anything, then AUTH required."""
    mailbox = Mailbox()
    logins: list[str] = []
    controller = _start_controller(
        lambda port: Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=_server_tls(tls_certificate),
            require_starttls=True,
            auth_required=True,
            authenticator=_authenticator(logins),
        )
    )
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox, tls_certificate.cert_file, logins)
    finally:
        controller.stop()


@pytest.fixture
def implicit_tls_server(tls_certificate: TestCertificate) -> Iterator[SmtpServer]:
    """SMTPS (RFC 8314): TLS from the first byte, AUTH offered."""
    mailbox = Mailbox()
    logins: list[str] = []
    controller = _start_controller(
        lambda port: Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            ssl_context=_server_tls(tls_certificate),
            # aiosmtpd counts only STARTTLS as TLS for AUTH (and warns when AUTH is
            # required without it); here TLS is the transport, so AUTH is offered
            # and the test checks that the client used it.
            auth_require_tls=False,
            authenticator=_authenticator(logins),
        )
    )
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox, tls_certificate.cert_file, logins)
    finally:
        controller.stop()


# --- the notify layer over the test database -----------------------------------------------


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer(PROJECT_ROOT / "templates", globals={"service_name": "Patient Sign-in"})


@pytest.fixture
def notifier(renderer: TemplateRenderer) -> Notifier:
    return Notifier(renderer, message_id_domain="idp.test")


@pytest.fixture
def smtp_sender(smtp_server: SmtpServer) -> SmtpEmailSender:
    return SmtpEmailSender(
        smtp_server.host, smtp_server.port, sender=SENDER, security="none", timeout=5
    )


@pytest.fixture
def dispatcher(services: Services, smtp_sender: SmtpEmailSender) -> Dispatcher:
    return Dispatcher(
        services.db,
        {"email": smtp_sender},
        clock=lambda: T0,
        retry=RetryRules(max_attempts=8, base_delay=30, max_delay=3600),
        lease_seconds=60,
    )


def queue_email(
    services: Services,
    notifier: Notifier,
    *,
    to: str = "alice@example.test",
    name: str = "Alice",
    now: dt.datetime = T0,
) -> str:
    """Queue the test message in a transaction of its own; returns the Message-ID."""
    with services.db.transaction() as uow:
        return notifier.email(
            uow, to=to, template="test_message", context={"name": name, "link": LINK}, now=now
        )


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Captured:
    path: str
    headers: dict[str, str]  # lower-cased names: HTTP header names are case-insensitive
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookServer:
    """A real HTTP server on loopback that records each POST and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        # Statuses for the next requests, in order; empty: 200. A float: sleep that long first.
        self.script: list[int | float] = []
        self.redirect_hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path == "/elsewhere":
                    outer.redirect_hits += 1
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append(Captured(self.path, headers, body))
                step = outer.script.pop(0) if outer.script else 200
                if isinstance(step, float):
                    threading.Event().wait(step)
                    step = 200
                try:
                    self.send_response(step)
                    if step in (301, 302, 307, 308):
                        self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except ConnectionError:
                    pass  # a client that timed out has hung up: what the test wanted

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # server_close() then joins every handler thread: none outlives its test.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
