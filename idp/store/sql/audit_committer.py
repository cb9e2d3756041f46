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

The committer writes on a pooled DBAPI connection, straight through psycopg (the
statements of idp/store/sql/audit_chain.py, prepared once): no SQLAlchemy Connection,
Session or transaction object per batch. It is checked out of the engine's pool (so
the pool's idle ping, timeout and size apply), switched to autocommit while held,
and switched back before it is returned.

The committer keeps the head it last wrote, so it needs no read before writing.
Another process appending to the same segment makes that head stale: the statement
then inserts nothing, and the committer re-reads the head (and moves to another
shard, so two processes do not keep colliding) and tries again. A batch that spans
two days (two segments) is written in one ordinary transaction with the head locked,
as every other transaction writes its events.

Only transactions that wrote nothing else are handed over (see
``AuditLog._write_pending``): anything else keeps its events in its own transaction.

A connection lost during a batch (PostgreSQL restarted since the previous batch, or
the link dropped while the statement or COMMIT was on its way) leaves the batch's
outcome unknown: it may have committed with only the reply lost. The committer then
takes a connection that answers a ping, looks for the batch's last event (its segment,
seq and hash, which only that write could have put there) and, if it is not there,
writes the batch once more. So a restart costs no request a 503, and no event is lost
or written twice. Only if the database still cannot be reached (or that second write
loses its connection too) does every request of the batch get the 503.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import PoolProxiedConnection

from idp.audit.chain import SHARDS, segment_for
from idp.errors import UnavailableError

from . import audit_chain, pg_driver

_log = logging.getLogger("idp.audit")

# Attempts at the one-statement append before falling back to a locking transaction.
_OPTIMISTIC_ATTEMPTS = 4

# Pooled connections tried (each pinged) for a batch whose connection was lost: after
# a restart every idle one in the pool is dead too (pool_size + max_overflow, and one).
_REPLACEMENT_CHECKOUTS = 31

# Is the batch's last event where its write put it? (After a lost connection.)
_LANDED_SQL = (
    "SELECT 1 FROM audit_events WHERE segment = %(segment)s AND seq = %(seq)s AND hash = %(hash)s"
)


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
        self._engine = engine
        self._start_lock = threading.Lock()
        # Waiters, or a bare lock from close().
        self._queue: queue.SimpleQueue[_Waiter | threading.Lock] = queue.SimpleQueue()
        self._owner_pid = os.getpid()
        self._running = False
        self._shard = random.randrange(SHARDS)
        # segment -> (seq, hash) as this process last committed it.
        self._heads: dict[str, tuple[int, str]] = {}
        # The pooled connection held between batches, and its psycopg connection.
        self._held: PoolProxiedConnection | None = None
        self._driver: psycopg.Connection[Any] | None = None
        self._used_at = 0.0

    def write(self, events: list[dict[str, Any]]) -> None:
        """Return once ``events`` are committed; raise if they could not be.

        ``events`` are column values as ``AuditLog`` keeps them; they come back with
        ``segment``, ``seq`` and ``hash`` set.
        """
        waiter = _Waiter(events)
        with self._start_lock:  # the thread's exit checks the queue under this lock too
            if self._owner_pid != os.getpid():
                self._forget_parent()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="idp-audit-commit", daemon=True).start()
            self._queue.put(waiter)
        waiter.done.acquire()  # released by the committer once written (or failed)
        if waiter.error is None:
            return
        if isinstance(waiter.error, UnavailableError):
            # A new exception per request: one object raised in many threads would
            # collect all their tracebacks.
            raise UnavailableError(waiter.error.kind, "audit commit failed") from waiter.error
        raise AuditCommitFailed("the audit batch could not be committed") from waiter.error

    def close(self) -> None:
        """Give the held connection back now (``Database.dispose``): an idle committer
        would otherwise return it to a pool already disposed of."""
        with self._start_lock:
            if not self._running or self._owner_pid != os.getpid():
                return
            released = threading.Lock()
            released.acquire()
            self._queue.put(released)
        released.acquire(timeout=5)

    def _forget_parent(self) -> None:
        # After a fork the parent's thread, queue and connection are not this process's.
        self._owner_pid = os.getpid()
        self._queue = queue.SimpleQueue()
        self._running = False
        self._heads = {}
        self._held = None
        self._driver = None
        self._shard = random.randrange(SHARDS)

    def _next_batch(self) -> list[_Waiter] | None:
        """Everything queued while the previous batch was written; None once idle for
        ``idle_seconds`` (the thread then ends, its connection given back, and the next
        write starts another: nothing is held by a process that stopped auditing)."""
        batch: list[_Waiter] = []
        while not batch:
            try:
                item = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._start_lock:
                    if self._queue.empty():
                        self._running = False
                        self._release()
                        return None
                continue
            while True:
                if isinstance(item, _Waiter):
                    batch.append(item)
                else:  # close(): give the connection back, then go on
                    self._release()
                    item.release()
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
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

    def _connection(self) -> psycopg.Connection[Any]:
        """The committer's own connection, in autocommit, kept between batches (a pool
        checkout and return cost as much as the write). One idle for longer than the
        pool's ping threshold goes back, and a fresh checkout pings it as usual."""
        now = time.monotonic()
        if self._held is not None and now - self._used_at > self._idle_seconds:
            self._release()
        if self._driver is None:
            self._check_out()
        assert self._driver is not None
        self._used_at = now
        return self._driver

    def _check_out(self, *, ping: bool = False) -> None:
        """Hold a pooled connection, in autocommit; ``ping``: one that answers a
        ``SELECT 1`` (after a lost connection, when the pool's own ping, for idle
        connections only, would hand out another dead one)."""
        failure: psycopg.Error | None = None
        for _ in range(_REPLACEMENT_CHECKOUTS if ping else 1):
            try:
                held = self._engine.raw_connection()
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                # As SQLAlchemy's handle_error hook would say it (a raw checkout
                # bypasses it): the database cannot be reached.
                raise UnavailableError("database", type(error).__name__) from error
            self._held = held
            driver = held.driver_connection
            assert isinstance(driver, psycopg.Connection)
            self._driver = driver
            try:
                driver.autocommit = True  # each statement its own transaction
                if ping:
                    driver.execute("SELECT 1")
                return
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                self._release(broken=True)
                failure = error
        raise UnavailableError("database", type(failure).__name__ if failure else "") from failure

    def _release(self, *, broken: bool = False) -> None:
        held, driver = self._held, self._driver
        self._held = self._driver = None
        if held is None:
            return
        try:
            if broken or driver is None or driver.closed:
                held.invalidate()  # never handed out again
            else:
                # Back as the pool hands connections out: in transactions.
                driver.autocommit = False
            held.close()
        except Exception as error:  # closing a dead connection may fail too
            _log.warning("audit committer connection close failed: %s", type(error).__name__)

    def _commit(self, events: list[dict[str, Any]]) -> None:
        try:
            try:
                self._write(events)
                return
            except UnavailableError:
                # The connection was lost: the batch may have committed (only the reply
                # lost) or not (a server restarted since the last batch). Find out on
                # a live connection; write it once more only if it is not there.
                self._release(broken=True)
                self._heads = {}
                self._check_out(ping=True)
                if not self._landed(events):
                    self._write(events)
        except BaseException:
            # State unknown after a failure: start the next batch on a fresh connection
            # and a head read from the database.
            self._release(broken=True)
            self._heads = {}
            raise

    def _landed(self, events: list[dict[str, Any]]) -> bool:
        """Whether the last write of ``events`` committed: its last event is in place.

        Each attempt gives every event its segment, seq and hash before sending it,
        so the last event carries those of the latest attempt (or of an earlier one
        known to have written nothing, or none). The hash covers the event and the
        one before it: only that attempt can have put this row there. A batch is one
        statement or one transaction, so its last event stands for all of it.
        """
        last = events[-1]
        if last.get("hash") is None:
            return False
        params = {"segment": last["segment"], "seq": last["seq"], "hash": last["hash"]}
        return pg_driver.execute(self._connection(), _LANDED_SQL, params).fetchone() is not None

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
        # Around midnight, or under heavy contention: the locking path, one transaction
        # on the same connection (BEGIN, lock each head, append, COMMIT).
        self._heads = {}
        connection = self._connection()
        try:
            with connection.transaction():
                audit_chain.append(connection, events, self._shard)
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise UnavailableError("database", type(error).__name__) from error
