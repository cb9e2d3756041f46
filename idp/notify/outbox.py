"""Sending what the outbox holds: after the commit that queued it, and again on failure.

:class:`Dispatcher` claims due messages (each claim committed before anything is
sent, see ``idp.store.sql.outbox``), hands each to the sender for its channel
and records the outcome. A temporary failure is retried with exponential
back-off until ``max_attempts``; a permanent one is marked failed at once.

Any number of dispatchers may run at once, in threads, processes or hosts:
claims are atomic, so each message is sent once. The one exception is a
dispatcher that dies between sending and recording it: after the lease the
message is sent again, with the same Message-ID for the receiver to
de-duplicate on. Leases must therefore outlast a slow send (SMTP timeout).

:class:`DispatchWorker` runs the dispatcher in a background thread, woken after
each commit that queued a message and every ``interval`` seconds for retries;
:func:`run_dispatch_loop` is the same loop for a separate process (CLI).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.clock import Clock, system_clock
from idp.errors import UnavailableError
from idp.store.outbox import OutboxRecord
from idp.store.sql.database import Database
from idp.store.sql.outbox import OutboxRepository

from .messages import Channel, Message, PermanentFailure, Sender, TemporaryFailure

log = logging.getLogger("idp.notify")


@dataclass(frozen=True, slots=True)
class RetryRules:
    # Sends tried before a message is marked failed (each claim counts).
    max_attempts: int = 8
    # Wait after the first temporary failure; doubled after each further one.
    base_delay: int = 30
    # Longest wait between two attempts.
    max_delay: int = 3600


def retry_delay(attempts: int, rules: RetryRules) -> timedelta:
    """Exponential back-off: base, 2×base, 4×base … capped at ``max_delay``."""
    exponent = max(0, attempts - 1)
    return timedelta(seconds=min(rules.max_delay, rules.base_delay * 2 ** min(exponent, 32)))


@dataclass(frozen=True, slots=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.sent + other.sent, self.retried + other.retried, self.failed + other.failed
        )


class DevelopmentOutbox:
    """A sender that delivers nowhere: the message stays readable on ``/dev/outbox``.

    For development without SMTP or an SMS gateway. The dispatcher keeps the
    bodies of what it "sends" this way, so links and codes can be followed.
    """

    def send(self, message: Message) -> None:
        log.info(
            "development outbox: %s %s %s", message.channel, message.template, message.message_id
        )


def _message(record: OutboxRecord) -> Message:
    return Message(
        channel=Channel(record.channel),
        recipient=record.recipient,
        template=record.template,
        subject=record.subject,
        text=record.body_text,
        html=record.body_html,
        message_id=record.message_id,
    )


class Dispatcher:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        *,
        clock: Clock = system_clock,
        retry: RetryRules | None = None,
        lease_seconds: int = 300,
        batch_size: int = 20,
        max_batches: int = 50,
        keep_bodies: bool = False,
    ) -> None:
        self._db = db
        self._senders = dict(senders)
        self._clock = clock
        self._retry = retry or RetryRules()
        self._lease = lease_seconds
        self._batch = batch_size
        self._max_batches = max_batches
        # Outside development, bodies (one-time links, codes) are blanked once a
        # message is sent or failed for good: secrets at rest only while in flight.
        self._keep_bodies = keep_bodies

    def send_due(self, now: datetime | None = None) -> DispatchReport:
        """Send every message due at ``now`` (default: the clock); returns what happened.

        Call it outside any transaction (after a commit, from a worker or a CLI):
        it opens short transactions of its own, and inside a caller's open write
        transaction it would wait for that transaction's lock (SQLite) and send
        messages whose change might still roll back.
        """
        report = DispatchReport()
        for _ in range(self._max_batches):
            at = now or self._clock()  # read again: a task's message is queued after the last look
            with self._db.transaction() as uow:
                batch = OutboxRepository(uow.session).claim_due(
                    now=at, lease_seconds=self._lease, limit=self._batch
                )
            for record in batch:
                report += self._deliver(record, now=now)
            # A task may have queued the message it was for: look once more for it.
            if len(batch) < self._batch and all(r.channel != Channel.TASK for r in batch):
                break
        return report

    def add_sender(self, channel: str, sender: Sender) -> None:
        """Register a channel's sender after construction (tasks need the built flows)."""
        self._senders[channel] = sender

    def _keeps(self, sender: Sender | None) -> bool:
        return self._keep_bodies or isinstance(sender, DevelopmentOutbox)

    def _deliver(self, record: OutboxRecord, *, now: datetime | None) -> DispatchReport:
        sender = self._senders.get(record.channel)
        redact = not self._keeps(sender)
        if record.attempts > self._retry.max_attempts:
            # Claimed again and again without an answer: its sender keeps crashing.
            self._record_failed(record, "too_many_attempts", redact=redact)
            return DispatchReport(failed=1)
        if sender is None:
            self._record_failed(record, f"no_sender {record.channel}", redact=redact)
            return DispatchReport(failed=1)
        try:
            sender.send(_message(record))
        except PermanentFailure as exc:
            self._record_failed(record, exc.code, redact=redact)
            return DispatchReport(failed=1)
        except TemporaryFailure as exc:
            return self._temporary(record, exc.code, now=now, redact=redact)
        except Exception as exc:  # a sender bug must not stop the other messages
            log.exception("outbox sender crashed on %s", record.message_id)
            return self._temporary(
                record, f"sender_error {exc.__class__.__name__}", now=now, redact=redact
            )
        self._mark(
            record,
            lambda o: o.mark_sent(
                record.id, now=now or self._clock(), attempt=record.attempts, redact=redact
            ),
        )
        log.info(
            "outbox sent %s %s (attempt %d)", record.channel, record.message_id, record.attempts
        )
        return DispatchReport(sent=1)

    def _temporary(
        self, record: OutboxRecord, code: str, *, now: datetime | None, redact: bool
    ) -> DispatchReport:
        if record.attempts >= self._retry.max_attempts:
            self._record_failed(
                record, f"{code}; gave up after {record.attempts} attempts", redact=redact
            )
            return DispatchReport(failed=1)
        due = (now or self._clock()) + retry_delay(record.attempts, self._retry)
        self._mark(
            record,
            lambda o: o.mark_retry(
                record.id, error=code, next_attempt_at=due, attempt=record.attempts
            ),
        )
        log.warning("outbox retry %s: %s (attempt %d)", record.message_id, code, record.attempts)
        return DispatchReport(retried=1)

    def _record_failed(self, record: OutboxRecord, code: str, *, redact: bool) -> None:
        self._mark(
            record,
            lambda o: o.mark_failed(record.id, error=code, attempt=record.attempts, redact=redact),
        )
        log.error("outbox failed %s: %s", record.message_id, code)

    def _mark(self, record: OutboxRecord, change: Callable[[OutboxRepository], bool]) -> None:
        """Record an outcome in its own transaction; losing it only means a resend later."""
        try:
            with self._db.transaction() as uow:
                if not change(OutboxRepository(uow.session)):
                    log.warning("outbox %s was reclaimed before its outcome", record.message_id)
        except UnavailableError as exc:
            log.warning(
                "outbox could not record the outcome of %s: %s unavailable",
                record.message_id,
                exc.kind,
            )
        except Exception:
            log.exception("outbox could not record the outcome of %s", record.message_id)


def run_dispatch_loop(
    dispatcher: Dispatcher,
    *,
    interval: float,
    stop: threading.Event,
    wake: threading.Event | None = None,
    settle: float = 0.0,
) -> None:
    """Send due messages until ``stop`` is set: every ``interval`` s, or when woken.

    For a dedicated process (``idp outbox run``) as well as :class:`DispatchWorker`.
    A database outage is logged and tried again next round. When woken, the round
    starts ``settle`` seconds later (see :class:`DispatchWorker`).
    """
    while not stop.is_set():
        try:
            dispatcher.send_due()
        except UnavailableError as exc:
            # Expected while the database restarts: one line per round, no traceback.
            log.warning("outbox: %s unavailable; trying again in %s s", exc.kind, interval)
        except Exception:
            log.exception("outbox dispatch round failed; trying again in %s s", interval)
        if wake is None:
            stop.wait(interval)
        elif wake.wait(interval):
            wake.clear()
            stop.wait(settle)


class DispatchWorker:
    """A background thread per process running :func:`run_dispatch_loop`.

    ``wake()`` is cheap and never blocks, so the web layer can call it right
    after a commit: the response does not wait for SMTP (whose timing would
    otherwise tell whether a reset email was queued, security invariant 4).
    The thread starts on first use, and again in a forked child (gunicorn).

    A wake-up sends after ``settle`` seconds, not at once: the thread shares the
    process (and the GIL) with the request that queued the message, so rendering and
    sending while that request still answers made "we have emailed you" 40-70% slower
    when a message was really queued than when none was (issue 8, item 7, measured by
    ``bench/recovery_timing.py`` on sign-up's resend). Waiting lets the response go
    first; the message leaves a quarter of a second later.
    """

    def __init__(
        self, dispatcher: Dispatcher, *, interval: float = 30.0, settle: float = 0.25
    ) -> None:
        self._dispatcher = dispatcher
        self._interval = interval
        self._settle = settle
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        self._wake = threading.Event()

    def start(self) -> None:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._wake = threading.Event()
            self._thread = threading.Thread(
                target=run_dispatch_loop,
                args=(self._dispatcher,),
                kwargs={
                    "interval": self._interval,
                    "stop": self._stop,
                    "wake": self._wake,
                    "settle": self._settle,
                },
                name="idp-outbox",
                daemon=True,
            )
            self._thread.start()

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
            self._wake.set()
        if thread is not None:
            thread.join(timeout)
