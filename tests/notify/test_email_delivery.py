"""Email through the outbox to a real SMTP server: after commit only, once, retried when told."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from idp.notify import (
    Channel,
    Dispatcher,
    DispatchReport,
    DispatchWorker,
    Message,
    Notifier,
    PermanentFailure,
    RetryRules,
    SmtpEmailSender,
    TemplateRenderer,
    TemporaryFailure,
)
from idp.services import Services
from idp.store.sql.outbox import OutboxRecord, OutboxRepository, OutboxStatus

from .conftest import (
    LINK,
    SENDER,
    SMTP_PASSWORD,
    SMTP_USER,
    T0,
    SmtpServer,
    free_port,
    queue_email,
)


def outbox(services: Services) -> list[OutboxRecord]:
    with services.db.transaction() as uow:
        return list(reversed(OutboxRepository(uow.session).newest(1000)))


def only(services: Services) -> OutboxRecord:
    records = outbox(services)
    assert len(records) == 1
    return records[0]


def test_rolled_back_transaction_sends_nothing(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    with pytest.raises(RuntimeError), services.db.transaction() as uow:
        notifier.email(
            uow,
            to="alice@example.test",
            template="test_message",
            context={"name": "Alice", "link": LINK},
            now=T0,
        )
        raise RuntimeError("the change failed after the email was queued")

    assert dispatcher.send_due(T0 + timedelta(hours=1)) == DispatchReport()
    assert outbox(services) == []
    assert smtp_server.mailbox.messages == []


def test_committed_message_arrives_once_as_text_and_html(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    message_id = queue_email(services, notifier, name="<b>Eve</b>")
    assert smtp_server.mailbox.messages == []  # nothing is sent by the enqueuing transaction

    assert dispatcher.send_due(T0) == DispatchReport(sent=1)
    assert dispatcher.send_due(T0 + timedelta(days=1)) == DispatchReport()

    [mail] = smtp_server.mailbox.messages
    assert smtp_server.mailbox.envelopes == [("no-reply@idp.test", ["alice@example.test"])]
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@idp.test>")
    assert mail["To"] == "alice@example.test"
    assert mail["From"] == SENDER
    assert mail["Subject"] == "Patient Sign-in: test message for <b>Eve</b>"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Hello <b>Eve</b>," in text.get_content()
    assert LINK in text.get_content()
    assert "Hello &lt;b&gt;Eve&lt;/b&gt;," in html.get_content()  # autoescaped
    assert f'<a href="{LINK}"' in html.get_content()

    record = only(services)
    assert record.status is OutboxStatus.SENT
    assert (record.attempts, record.sent_at, record.last_error) == (1, T0, None)
    # The reset link is not kept at rest once delivered (security invariant 5).
    assert (record.body_text, record.body_html) == ("", None)


def test_on_commit_hook_fires_after_commit_only_once_per_transaction(
    services: Services, renderer: TemplateRenderer
) -> None:
    calls: list[str] = []
    notifier = Notifier(renderer, message_id_domain="idp.test", on_commit=lambda: calls.append("x"))
    with pytest.raises(RuntimeError), services.db.transaction() as uow:
        notifier.email(
            uow,
            to="a@example.test",
            template="test_message",
            context={"name": "A", "link": LINK},
            now=T0,
        )
        raise RuntimeError("rolled back")
    assert calls == []

    with services.db.transaction() as uow:
        for who in ("a", "b"):
            notifier.email(
                uow,
                to=f"{who}@example.test",
                template="test_message",
                context={"name": who, "link": LINK},
                now=T0,
            )
        assert calls == []  # not before the commit
    assert calls == ["x"]


def test_dispatch_right_after_commit_delivers(
    services: Services,
    renderer: TemplateRenderer,
    dispatcher: Dispatcher,
    smtp_server: SmtpServer,
) -> None:
    notifier = Notifier(
        renderer, message_id_domain="idp.test", on_commit=lambda: dispatcher.send_due()
    )
    message_id = queue_email(services, notifier)
    assert smtp_server.mailbox.message_ids() == [message_id]


def test_background_worker_sends_after_commit(
    services: Services,
    renderer: TemplateRenderer,
    dispatcher: Dispatcher,
    smtp_server: SmtpServer,
) -> None:
    worker = DispatchWorker(dispatcher, interval=60)
    try:
        notifier = Notifier(renderer, message_id_domain="idp.test", on_commit=worker.wake)
        message_id = queue_email(services, notifier)
        deadline = time.monotonic() + 10
        while not smtp_server.mailbox.messages and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert smtp_server.mailbox.message_ids() == [message_id]


def test_temporary_failure_is_retried_later_and_delivered_once(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.data_replies = ["451 4.3.0 Mail server temporarily unavailable"]
    message_id = queue_email(services, notifier)

    assert dispatcher.send_due(T0) == DispatchReport(retried=1)
    record = only(services)
    assert record.status is OutboxStatus.PENDING
    assert record.attempts == 1
    assert record.last_error == "smtp 451 4.3.0"
    assert record.next_attempt_at == T0 + timedelta(seconds=30)
    assert record.body_text  # kept until delivered

    assert dispatcher.send_due(T0 + timedelta(seconds=29)) == DispatchReport()  # not due yet
    assert dispatcher.send_due(T0 + timedelta(seconds=30)) == DispatchReport(sent=1)
    assert dispatcher.send_due(T0 + timedelta(days=1)) == DispatchReport()

    assert smtp_server.mailbox.message_ids() == [message_id]
    record = only(services)
    assert (record.status, record.attempts) == (OutboxStatus.SENT, 2)


def test_permanent_refusal_is_marked_failed_and_not_retried(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.refuse_rcpt["nobody@example.test"] = "550 5.1.1 No such user here"
    queue_email(services, notifier, to="nobody@example.test")

    assert dispatcher.send_due(T0) == DispatchReport(failed=1)
    assert dispatcher.send_due(T0 + timedelta(days=2)) == DispatchReport()

    record = only(services)
    assert record.status is OutboxStatus.FAILED
    assert record.last_error == "smtp 550 5.1.1"
    assert record.attempts == 1
    assert (record.body_text, record.body_html) == ("", None)
    assert smtp_server.mailbox.messages == []


def test_data_refused_with_5xx_is_permanent(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.data_replies = ["554 5.7.1 Message rejected"]
    queue_email(services, notifier)
    assert dispatcher.send_due(T0) == DispatchReport(failed=1)
    assert only(services).last_error == "smtp 554 5.7.1"


def test_gives_up_after_max_attempts(
    services: Services, notifier: Notifier, smtp_sender: SmtpEmailSender, smtp_server: SmtpServer
) -> None:
    smtp_server.mailbox.data_replies = ["421 4.7.0 Try again later"] * 5
    dispatcher = Dispatcher(
        services.db,
        {"email": smtp_sender},
        clock=lambda: T0,
        retry=RetryRules(max_attempts=3, base_delay=10, max_delay=15),
    )
    queue_email(services, notifier)
    reports = [dispatcher.send_due(T0 + timedelta(minutes=i)) for i in range(5)]
    assert reports == [
        DispatchReport(retried=1),
        DispatchReport(retried=1),
        DispatchReport(failed=1),
        DispatchReport(),
        DispatchReport(),
    ]
    record = only(services)
    assert record.status is OutboxStatus.FAILED
    assert record.attempts == 3
    assert record.last_error == "smtp 421 4.7.0; gave up after 3 attempts"
    assert smtp_server.mailbox.messages == []


def test_unreachable_server_is_a_temporary_failure(services: Services, notifier: Notifier) -> None:
    sender = SmtpEmailSender("127.0.0.1", free_port(), sender=SENDER, security="none", timeout=2)
    dispatcher = Dispatcher(services.db, {"email": sender}, clock=lambda: T0)
    queue_email(services, notifier)
    assert dispatcher.send_due(T0) == DispatchReport(retried=1)
    assert only(services).last_error == "connection_error ConnectionRefusedError"


def test_racing_dispatchers_deliver_each_message_once(
    services: Services, notifier: Notifier, smtp_sender: SmtpEmailSender, smtp_server: SmtpServer
) -> None:
    expected = {queue_email(services, notifier, to=f"p{i}@example.test") for i in range(24)}
    dispatchers = [
        Dispatcher(services.db, {"email": smtp_sender}, clock=lambda: T0, batch_size=3)
        for _ in range(3)
    ]
    start = threading.Barrier(len(dispatchers))
    reports: list[DispatchReport] = []
    errors: list[BaseException] = []

    def run(d: Dispatcher) -> None:
        try:
            start.wait(5)
            reports.append(d.send_due(T0))
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sum(r.sent for r in reports) == len(expected)
    counts = Counter(smtp_server.mailbox.message_ids())
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    assert {r.status for r in outbox(services)} == {OutboxStatus.SENT}


def test_expired_lease_of_a_crashed_dispatcher_is_reclaimed(
    services: Services, notifier: Notifier, dispatcher: Dispatcher, smtp_server: SmtpServer
) -> None:
    message_id = queue_email(services, notifier)
    # A dispatcher claims the message and dies before sending (or before recording it).
    with services.db.transaction() as uow:
        [claimed] = OutboxRepository(uow.session).claim_due(now=T0, lease_seconds=60, limit=10)

    assert dispatcher.send_due(T0 + timedelta(seconds=59)) == DispatchReport()  # still leased
    assert smtp_server.mailbox.messages == []
    assert dispatcher.send_due(T0 + timedelta(seconds=60)) == DispatchReport(sent=1)
    assert smtp_server.mailbox.message_ids() == [message_id]
    assert (only(services).status, only(services).attempts) == (OutboxStatus.SENT, 2)

    # The crashed dispatcher's late report cannot overwrite the outcome.
    with services.db.transaction() as uow:
        repo = OutboxRepository(uow.session)
        assert not repo.mark_retry(
            claimed.id, error="late", next_attempt_at=T0, attempt=claimed.attempts
        )
    assert only(services).status is OutboxStatus.SENT


def test_development_bodies_are_kept_when_asked(
    services: Services, notifier: Notifier, smtp_sender: SmtpEmailSender, smtp_server: SmtpServer
) -> None:
    dispatcher = Dispatcher(services.db, {"email": smtp_sender}, clock=lambda: T0, keep_bodies=True)
    queue_email(services, notifier)
    assert dispatcher.send_due(T0) == DispatchReport(sent=1)
    record = only(services)
    assert LINK in record.body_text and record.body_html and LINK in record.body_html


# --- TLS and authentication ------------------------------------------------------------------


def _sender(server: SmtpServer, *, security: str, password: str = SMTP_PASSWORD) -> SmtpEmailSender:
    return SmtpEmailSender(
        server.host,
        server.port,
        sender=SENDER,
        security=security,
        user=SMTP_USER,
        password=password,
        timeout=5,
        ssl_context=server.client_context(),
    )


def _message(renderer: TemplateRenderer) -> Message:
    rendered = renderer.email("test_message", {"name": "Alice", "link": LINK})
    return Message(
        channel=Channel.EMAIL,
        recipient="alice@example.test",
        template="test_message",
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id="<tls-test@idp.test>",
    )


def test_starttls_then_login_delivers(
    starttls_server: SmtpServer, notifier: Notifier, renderer: TemplateRenderer
) -> None:
    _sender(starttls_server, security="starttls").send(_message(renderer))
    assert starttls_server.mailbox.message_ids() == ["<tls-test@idp.test>"]
    assert starttls_server.logins  # authenticated, after STARTTLS (aiosmtpd refuses AUTH before)


def test_implicit_tls_then_login_delivers(
    implicit_tls_server: SmtpServer, notifier: Notifier, renderer: TemplateRenderer
) -> None:
    _sender(implicit_tls_server, security="tls").send(_message(renderer))
    assert implicit_tls_server.mailbox.message_ids() == ["<tls-test@idp.test>"]
    assert implicit_tls_server.logins


def test_wrong_smtp_password_is_temporary_not_a_lost_message(
    starttls_server: SmtpServer, notifier: Notifier, renderer: TemplateRenderer
) -> None:
    sender = _sender(starttls_server, security="starttls", password="wrong")
    with pytest.raises(TemporaryFailure) as info:
        sender.send(_message(renderer))
    assert info.value.code == "smtp_auth 535"
    assert SMTP_PASSWORD not in info.value.code and "wrong" not in info.value.code


def test_untrusted_certificate_is_refused(
    starttls_server: SmtpServer, notifier: Notifier, renderer: TemplateRenderer
) -> None:
    sender = SmtpEmailSender(
        starttls_server.host, starttls_server.port, sender=SENDER, security="starttls", timeout=5
    )  # the system trust store does not know the test certificate
    with pytest.raises(TemporaryFailure) as info:
        sender.send(_message(renderer))
    assert info.value.code == "tls_error SSLCertVerificationError"
    assert starttls_server.mailbox.messages == []


def test_plaintext_login_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpEmailSender("127.0.0.1", 25, sender=SENDER, security="none", user="u", password="p")


def test_header_injection_in_recipient_is_permanent(
    notifier: Notifier, renderer: TemplateRenderer, smtp_sender: SmtpEmailSender
) -> None:
    message = replace(_message(renderer), recipient="a@example.test\r\nBcc: x@evil.test")
    with pytest.raises(PermanentFailure):
        smtp_sender.send(message)
