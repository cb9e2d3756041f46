"""A unit of work's transaction straight on a pooled psycopg connection (PostgreSQL).

Why (issue 12): a refresh_token grant with rotation claims the old token, inserts the
new one and appends its audit event, all in one transaction. Through a SQLAlchemy
Session that transaction cost a sessionmaker call, the Session's begin, its
connection checkout through the Session and Connection layers, and at commit its
before-commit hooks, flush check and state machinery: a sixth to a fifth of the
request's CPU (py-spy), for three statements that already went straight to psycopg.

Here the unit of work checks a pooled connection out itself (the pool's idle ping,
timeout and size still apply), sends its statements on the psycopg connection (in a
transaction: psycopg begins one with the first statement) and, at the commit, sends
the held-back refresh-token INSERT with the audit chain's head lock and the events,
then COMMIT (``commit``). The audit events are in the same transaction as the
rotation, as on the Session path.

Anything else the request needs from the database (a reused token revokes its
family, a refusal gives its claim back, a proxy's grant is read) asks the unit of
work for its Session; that Session is then opened on this very connection, inside
the transaction already begun (``session``), and everything from then on, commit
included, goes through it as before. So one transaction, whatever path a request
takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from idp.errors import UnavailableError

from . import audit_chain, pg_driver

_log = logging.getLogger("idp.store")

# A lost or refused connection: an outage (503), as SQLAlchemy's handle_error says it.
_OUTAGES = (psycopg.OperationalError, psycopg.InterfaceError)


class RawLane:
    """What a :class:`RawTransaction` needs from its database: the engine whose pool
    it checks out of, the sessionmaker for a Session opened on it later (same hooks
    and info as every other), and who hears of the audit events it committed."""

    __slots__ = ("deliver", "engine", "sessions")

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        deliver: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.deliver = deliver


class RawTransaction:
    """One unit of work's transaction on a checked-out psycopg connection."""

    __slots__ = ("_connection", "_driver", "_held", "_lane", "deferred")

    def __init__(self, lane: RawLane) -> None:
        self._lane = lane
        self._held: PoolProxiedConnection | None = None
        self._driver: psycopg.Connection[Any] | None = None
        # The SQLAlchemy Connection of a Session opened on this connection.
        self._connection: Connection | None = None
        # Refresh-token INSERTs (psycopg parameters) held back to ride with the commit.
        self.deferred: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        """Whether a connection is held and no Session has taken it over."""
        return self._driver is not None and self._connection is None

    def driver(self) -> psycopg.Connection[Any]:
        """The psycopg connection, checked out on first use (not in autocommit: the
        first statement begins the transaction)."""
        if self._driver is None:
            try:
                held = self._lane.engine.raw_connection()
            except _OUTAGES as error:
                raise UnavailableError("database", type(error).__name__) from error
            driver = held.driver_connection
            assert isinstance(driver, psycopg.Connection)
            self._held, self._driver = held, driver
        return self._driver

    def session(self) -> Session:
        """A Session on this connection, joining the transaction already begun: from
        now on the Session commits or rolls back (and ``close`` gives the connection
        back). The held-back INSERTs go to it, sent before its next statement."""
        assert self._connection is None
        self.driver()  # checked out now if only INSERTs were held back so far
        assert self._held is not None
        self._connection = Connection(self._lane.engine, connection=self._held)
        session = self._lane.sessions(bind=self._connection)
        session.begin()
        # The transaction has sent statements: its commit must go through this
        # connection, never hand its audit events to the group committer.
        session.connection()
        if self.deferred:
            from .repositories import defer_refresh_tokens

            defer_refresh_tokens(session, self.deferred)
            self.deferred = []
        return session

    def commit(self, events: list[dict[str, Any]], shard: int, insert_sql: str) -> None:
        """Write what was held back and the audit events (the last INSERT riding with
        the head lock, as ``AuditLog._write_pending`` sends it), then COMMIT; the
        events go to the audit feed once committed."""
        driver = self.driver()
        deferred, self.deferred = self.deferred, []
        carried = deferred.pop() if deferred else None
        try:
            for params in deferred:
                pg_driver.execute(driver, insert_sql, params)
            if events:
                carry = None if carried is None else (insert_sql, carried)
                audit_chain.append(driver, events, shard, carry=carry)
            elif carried is not None:
                pg_driver.execute(driver, insert_sql, carried)
            driver.commit()
        except _OUTAGES as error:
            self.close(broken=True)
            raise UnavailableError("database", type(error).__name__) from error
        except BaseException:
            self.close()  # the pool's rollback on return ends the transaction
            raise
        self.close()
        if events:
            self._lane.deliver(events)

    def close(self, *, broken: bool = False) -> None:
        """Give the connection back: rolled back by the pool on its return (whatever
        was not committed is dropped), or discarded if it may be dead."""
        held, connection = self._held, self._connection
        self._held = self._driver = self._connection = None
        self.deferred = []
        try:
            if connection is not None:
                connection.close()  # returns ``held`` to the pool
            elif held is not None:
                if broken:
                    held.invalidate()
                held.close()
        except Exception as error:  # closing a dead connection may fail too
            _log.warning("connection close failed: %s", type(error).__name__)
