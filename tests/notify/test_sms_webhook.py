"""The webhook SMS sender against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from idp.notify import (
    Channel,
    DevelopmentOutbox,
    Dispatcher,
    DispatchReport,
    Message,
    Notifier,
    PermanentFailure,
    TemporaryFailure,
    WebhookSmsSender,
    verify_webhook_signature,
)
from idp.notify.phone import InvalidPhoneNumber
from idp.services import Services
from idp.store.sql.outbox import OutboxRepository, OutboxStatus

from .conftest import T0, WebhookServer, free_port

SECRET = "webhook-secret-for-tests-0123456789abcdef"


def _sms(text: str = "Your code is 123456") -> Message:
    return Message(
        channel=Channel.SMS,
        recipient="+16175550123",
        template="test_message",
        subject=None,
        text=text,
        message_id="<sms-1@idp.test>",
    )


def test_posts_signed_json(webhook_server: WebhookServer) -> None:
    WebhookSmsSender(webhook_server.url, secret=SECRET, timeout=5).send(_sms("Código 123456"))

    [request] = webhook_server.requests
    assert request.path == "/sms"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-idp-signature"] == f"sha256={expected}"
    payload = request.json()
    assert payload["to"] == "+16175550123"
    assert payload["body"] == "Código 123456"
    assert payload["message_id"] == "<sms-1@idp.test>"
    assert request.headers["x-idp-timestamp"] == str(payload["timestamp"])
    assert verify_webhook_signature(
        SECRET.encode(), request.body, request.headers["x-idp-signature"], now=time.time()
    )


def test_receiver_check_refuses_tampering_and_stale_replays(webhook_server: WebhookServer) -> None:
    WebhookSmsSender(webhook_server.url, secret=SECRET, timeout=5).send(_sms())
    [request] = webhook_server.requests
    signature = request.headers["x-idp-signature"]
    sent = json.loads(request.body)["timestamp"]
    tampered = request.body.replace(b"+16175550123", b"+16175550199")
    assert not verify_webhook_signature(SECRET.encode(), tampered, signature, now=sent)
    assert not verify_webhook_signature(b"another secret" * 3, request.body, signature, now=sent)
    assert not verify_webhook_signature(SECRET.encode(), request.body, signature, now=sent + 301)
    assert verify_webhook_signature(SECRET.encode(), request.body, signature, now=sent + 299)


@pytest.mark.parametrize(
    ("status", "failure", "code"),
    [
        (503, TemporaryFailure, "http 503"),
        (500, TemporaryFailure, "http 500"),
        (429, TemporaryFailure, "http 429"),
        (400, PermanentFailure, "http 400"),
        (401, PermanentFailure, "http 401"),
        (302, PermanentFailure, "http 302"),
    ],
)
def test_statuses_are_classified(
    webhook_server: WebhookServer, status: int, failure: type[Exception], code: str
) -> None:
    webhook_server.script = [status]
    with pytest.raises(failure) as info:
        WebhookSmsSender(webhook_server.url, secret=SECRET, timeout=5).send(_sms())
    assert info.value.code == code  # type: ignore[attr-defined]
    assert webhook_server.redirect_hits == 0  # a redirect is never followed


def test_timeout_and_refused_connection_are_temporary(webhook_server: WebhookServer) -> None:
    webhook_server.script = [1.0]
    with pytest.raises(TemporaryFailure, match="connection_error"):
        WebhookSmsSender(webhook_server.url, secret=SECRET, timeout=0.2).send(_sms())
    closed = f"http://127.0.0.1:{free_port()}/sms"
    with pytest.raises(TemporaryFailure, match="connection_error"):
        WebhookSmsSender(closed, secret=SECRET, timeout=2).send(_sms())


@pytest.mark.parametrize(
    "url",
    [
        "https://sms.example.org/hook",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert WebhookSmsSender(url, secret=SECRET).url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://sms.example.org/hook",
        "http://10.0.0.5/hook",
        "ftp://127.0.0.1/hook",
        "https:///nohost",
        "sms.example.org/hook",
    ],
)
def test_plain_http_is_refused_beyond_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        WebhookSmsSender(url, secret=SECRET)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        WebhookSmsSender("https://sms.example.org/hook", secret="short")


def test_notifier_normalises_and_dispatcher_delivers_once(
    services: Services, notifier: Notifier, webhook_server: WebhookServer
) -> None:
    webhook_server.script = [503]
    dispatcher = Dispatcher(
        services.db,
        {"sms": WebhookSmsSender(webhook_server.url, secret=SECRET, timeout=5)},
        clock=lambda: T0,
    )
    with services.db.transaction() as uow:
        message_id = notifier.sms(
            uow, to="(617) 555-0123", template="test_message", context={"code": "482913"}, now=T0
        )
    assert dispatcher.send_due(T0) == DispatchReport(retried=1)
    assert dispatcher.send_due(T0.replace(minute=1)) == DispatchReport(sent=1)
    assert dispatcher.send_due(T0.replace(hour=12)) == DispatchReport()

    bodies = [r.json() for r in webhook_server.requests]
    assert [b["message_id"] for b in bodies] == [message_id, message_id]
    assert bodies[-1]["to"] == "+16175550123"
    assert bodies[-1]["body"] == (
        "Patient Sign-in test code: 482913. Do not share this code with anyone."
    )


def test_invalid_phone_is_refused_before_anything_is_queued(
    services: Services, notifier: Notifier
) -> None:
    with pytest.raises(InvalidPhoneNumber), services.db.transaction() as uow:
        notifier.sms(uow, to="555-01", template="test_message", context={"code": "1"}, now=T0)
    with services.db.transaction() as uow:
        assert OutboxRepository(uow.session).newest() == []


def test_development_outbox_keeps_the_message_readable(
    services: Services, notifier: Notifier
) -> None:
    dispatcher = Dispatcher(
        services.db, {"sms": DevelopmentOutbox(), "email": DevelopmentOutbox()}, clock=lambda: T0
    )
    with services.db.transaction() as uow:
        notifier.sms(uow, to="6175550123", template="test_message", context={"code": "77"}, now=T0)
    assert dispatcher.send_due(T0) == DispatchReport(sent=1)
    with services.db.transaction() as uow:
        [record] = OutboxRepository(uow.session).newest()
    assert record.status is OutboxStatus.SENT
    assert "77" in record.body_text
