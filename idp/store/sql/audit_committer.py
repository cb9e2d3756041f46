"""Group commit of audit-only transactions on PostgreSQL (issue 12).

A client_credentials grant changes nothing durable but its ``token_issued`` event,
and that event must be durable before the token is handed out (security invariant
9). Committing it in the request's own transaction cost a third of the request:
a pooled connection, BEGIN, locking the chain head, the INSERT, COMMIT, per event.

Here every such transaction of a process hands its events to one committer thread
and waits. The committer takes everything queued, chains it onto its segment and
writes it with one statement on an autocommit connection
(:func:`~idp.store.sql.audit_chain.append_if_head`): one round trip for all the
requests that queued while the previous batch was being written. Each request
returns only after its events are committed; if the write fails, every request of
the batch fails with it (an outage: a 503), and nothing of the batch is written
(one statement: all or nothing).

The committer keeps the head it last wrote, so it needs no read before writing.
Another process appending to the same segment makes that head stale: the statement
then inserts nothing, and the committer re-reads the head (and moves to another
shard, so two processes do not keep colliding) and tries again. A batch that spans
two days (two segments) is written in one ordinary transaction with the head locked,
as every other transaction writes its events.

Only transactions that wrote nothing else are handed over (see
``AuditLog._write_pending``): anything else keeps its events in its own transaction.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from idp.audit.chain import SHARDS, segment_for
from idp.errors import UnavailableError

from . import audit_chain

_log = logging.getLogger("idp.audit")

# Attempts at the one-statement append before falling back to a locking transaction.
_OPTIMISTIC_ATTEMPTS = 4


class AuditCommitFailed(RuntimeError):
    """The batch holding this transaction's events could not be written (not an outage)."""


class _Waiter:
    """One transaction's events, and a lock held until the committer has written them
    (a bare lock and a C queue: a Condition and an Event per request cost as much as
    the write, py-spy, issue 12)."""

    __slots__ = ("done", "error", "events")

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.done = threading.Lock()
        self.done.acquire()
        self.error: BaseException | None = None


class AuditGroupCommitter:
    """One committer thread per process (started on first use, again after a fork)."""

    def __init__(self, engine: Engine, *, idle_seconds: float) -> None:
        # A held connection idle this long is returned and checked out afresh (pinged).
        self._idle_seconds = idle_seconds
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._locking_engine = engine
        self._start_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Waiter] = queue.SimpleQueue()
        self._pid = 0
        self._shard = random.randrange(SHARDS)
        # segment -> (seq, hash) as this process last committed it.
        self._heads: dict[str, tuple[int, str]] = {}
        self._held: Connection | None = None
        self._used_at = 0.0

    def write(self, events: list[dict[str, Any]]) -> None:
        """Return once ``events`` are committed; raise if they could not be.

        ``events`` are column values as ``AuditLog`` keeps them; they come back with
        ``segment``, ``seq`` and ``hash`` set.
        """
        if self._pid != os.getpid():
            with self._start_lock:
                if self._pid != os.getpid():
                    self._start()
        waiter = _Waiter(events)
        self._queue.put(waiter)
        waiter.done.acquire()  # released by the committer once written (or failed)
        if waiter.error is None:
            return
        if isinstance(waiter.error, UnavailableError):
            # A new exception per request: one object raised in many threads would
            # collect all their tracebacks.
            raise UnavailableError(waiter.error.kind, "audit commit failed") from waiter.error
        raise AuditCommitFailed("the audit batch could not be committed") from waiter.error

    def _start(self) -> None:
        # After a fork the parent's thread and queue are gone from this process.
        self._queue = queue.SimpleQueue()
        self._heads = {}
        self._held = None  # the parent's connection is not this process's to use
        self._shard = random.randrange(SHARDS)
        threading.Thread(target=self._run, name="idp-audit-commit", daemon=True).start()
        self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            # Everything queued while the previous batch was written forms the next.
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: BaseException | None = None
            try:
                self._commit([values for waiter in batch for values in waiter.events])
            except sa_exc.TimeoutError:
                # No pooled connection freed up in time: saturated or gone (as
                # Database.transaction says it).
                error = UnavailableError("database", "no connection available")
            except BaseException as failure:  # handed to every waiter; the thread lives on
                error = failure
            for waiter in batch:
                waiter.error = error
                waiter.done.release()

    def _connection(self) -> Connection:
        """The committer's own autocommit connection, kept between batches (a pool
        checkout and return cost as much as the write). One idle for longer than the
        pool's ping threshold goes back, and a fresh checkout pings it as usual."""
        now = time.monotonic()
        if self._held is not None and now - self._used_at > self._idle_seconds:
            self._release()
        if self._held is None:
            self._held = self._engine.connect()
        self._used_at = now
        return self._held

    def _release(self, *, broken: bool = False) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            if broken:
                held.invalidate()  # never handed out again
            held.close()
        except Exception as error:  # closing a dead connection may fail too
            _log.warning("audit committer connection close failed: %s", type(error).__name__)

    def _commit(self, events: list[dict[str, Any]]) -> None:
        try:
            self._write(events)
        except BaseException:
            # State unknown after a failure: start the next batch on a fresh connection
            # and a head read from the database.
            self._release(broken=True)
            self._heads = {}
            raise

    def _write(self, events: list[dict[str, Any]]) -> None:
        if len({segment_for(values["at"], 0) for values in events}) == 1:
            connection = self._connection()
            for _ in range(_OPTIMISTIC_ATTEMPTS):
                segment = segment_for(events[0]["at"], self._shard)
                head = self._heads.get(segment) or audit_chain.read_head(connection, segment)
                moved = audit_chain.append_if_head(connection, events, segment, head)
                if moved is not None:
                    self._heads = {segment: moved}
                    return
                # Another process writes this segment too: read it afresh next time,
                # and move to another shard so we stop meeting.
                self._heads.pop(segment, None)
                self._shard = random.randrange(SHARDS)
        # Around midnight, or under heavy contention: the locking path, one transaction.
        self._heads = {}
        self._release()
        with self._locking_engine.begin() as connection:
            audit_chain.append(connection, events, self._shard)
