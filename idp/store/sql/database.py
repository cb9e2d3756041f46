"""Engine, transactions and schema migrations for the durable store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc, inspect
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from idp.errors import UnavailableError
from idp.settings import PROJECT_ROOT

from .audit_committer import AuditGroupCommitter
from .raw_transaction import RawLane
from .repositories import AUDIT_COMMITTER, READ_ONLY, ReadOnlyError, UnitOfWork
from .user_data_changes import watch_user_data

if TYPE_CHECKING:
    from .committed_audit import AuditFeed

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

_log = logging.getLogger("idp.store")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or has no schema; the message says what to do."""


# SQLite errors that mean "try again later", not a bug or a missing schema.
_SQLITE_OUTAGES = ("database is locked", "unable to open database", "disk i/o error")


def _outage(context: ExceptionContext) -> UnavailableError | None:
    """The :class:`UnavailableError` a driver error stands for, if it is an outage.

    PostgreSQL: a refused, dropped or timed-out connection (``OperationalError``,
    ``InterfaceError``, or anything SQLAlchemy calls a disconnect). SQLite: a file
    that is locked past the busy timeout or cannot be opened; "no such table" stays
    what it is (a database that was never migrated is not an outage).
    """
    if context.is_pre_ping:
        # A pooled connection that died (the server restarted): SQLAlchemy drops it
        # and connects afresh; only if that fails too is it an outage.
        return None
    error = context.sqlalchemy_exception
    if context.dialect is not None and context.dialect.name == "sqlite":
        text = str(context.original_exception).lower()
        if isinstance(error, exc.OperationalError) and any(m in text for m in _SQLITE_OUTAGES):
            return UnavailableError("database", text)
        return None
    if context.is_disconnect or isinstance(error, exc.OperationalError | exc.InterfaceError):
        name = context.original_exception.__class__.__name__
        return UnavailableError("database", name)
    return None


def _translate_outages(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        outage = _outage(context)
        if outage is not None:
            # Raised from the hook, SQLAlchemy still invalidates the dead connection
            # (the pool reconnects when the server is back), then raises this instead.
            raise outage from context.original_exception


def make_engine(url: str, *, connect_timeout: int = 5) -> Engine:
    """Create the engine; SQLite gets foreign keys on and a busy timeout.

    SQLite ignores foreign keys unless told, and without a busy timeout two
    requests writing at once fail with "database is locked" instead of waiting.
    PostgreSQL gets ``connect_timeout`` (``IDP_DATABASE_CONNECT_TIMEOUT``) and the
    same bound on waiting for a pooled connection, so an unreachable server makes
    a 503 in seconds rather than a worker stuck for the kernel's TCP timeout.
    Outages surface as :class:`~idp.errors.UnavailableError` either way.
    """
    engine = _make_engine(url, connect_timeout)
    _translate_outages(engine)
    return engine


def _make_engine(url: str, connect_timeout: int) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=connect_timeout,
        connect_args={"connect_timeout": connect_timeout},
    )
    _ping_after_idle(engine)
    return engine


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for connections that sat idle.

    ``pool_pre_ping`` sends a ``SELECT 1`` on every checkout: a round trip and a
    sixth of UserInfo's database CPU (py-spy, issue 12). A connection handed back
    less than a second ago was alive then; under load every checkout is such a
    connection and none is pinged. One that sat idle (the case of a server that
    restarted overnight) is pinged as before; a dead one is replaced: raising
    ``DisconnectionError`` from ``checkout`` makes the pool discard it and connect
    afresh (SQLAlchemy's "pessimistic disconnect handling" recipe). A connection
    that dies in the second it was idle fails its request with a 503 (see
    :func:`_outage`), and the pool drops every connection of its generation.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["idp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idp_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new (just connected) or returned a moment ago
        try:
            # The dialect's own ping, as pool_pre_ping sends it (outside a transaction).
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # any driver error: the connection is unusable
            raise exc.DisconnectionError("a pooled connection failed its ping") from error


def _nothing() -> None:
    """No one to tell (the default ``on_user_data_change``)."""


def _refuse_writes(state: ORMExecuteState) -> None:
    if not state.is_select:
        raise ReadOnlyError("a read-only unit of work cannot write")


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("a read-only unit of work cannot write")


class Database:
    """Opens transactions; each yields a :class:`UnitOfWork` over one session."""

    def __init__(
        self,
        engine: Engine,
        *,
        replica: Engine | None = None,
        audit_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    ) -> None:
        """``audit_idle_seconds``: how long the audit committer keeps its connection
        between batches (a test holds it across a restart, as steady load does)."""
        self.engine = engine
        # A streaming read replica (``IDP_DATABASE_REPLICA_URL``) takes the readers'
        # queries off the primary; None: they run on the primary.
        self.replica = replica
        # PostgreSQL: transactions that write only audit events hand them to one
        # committer thread per process (group commit, issue 12). Not SQLite: an
        # in-memory database is a different one on another thread's connection.
        self.audit_committer = (
            AuditGroupCommitter(engine, idle_seconds=audit_idle_seconds)
            if engine.dialect.name == "postgresql"
            else None
        )
        self._sessions = sessionmaker(
            engine,
            expire_on_commit=False,
            info={AUDIT_COMMITTER: self.audit_committer} if self.audit_committer else {},
        )
        # PostgreSQL: a transaction's refresh-grant statements go straight to psycopg
        # until something needs the session (idp/store/sql/raw_transaction.py).
        self._raw_lane = (
            RawLane(engine, self._sessions, self._delivered)
            if engine.dialect.name == "postgresql"
            else None
        )
        # Called after each commit that wrote accounts, persons or practice links, so
        # that every process's UserInfo cache drops them (idp.store.user_data). The
        # services set it; a bare Database (a migration, a test) announces nothing.
        self.on_user_data_change: Callable[[], object] = _nothing
        watch_user_data(self._sessions, lambda: self.on_user_data_change())
        # Reads that need no transaction: an autocommit connection sends no BEGIN and
        # no COMMIT, and the session refuses to write (see :meth:`reader`).
        self._readers = sessionmaker(
            (replica or engine).execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            info={READ_ONLY: True},
        )
        # The same on the primary, for reads that decide something (a sign-in's
        # account): current data, no BEGIN/COMMIT (see :meth:`primary_reader`).
        self._primary_readers = (
            sessionmaker(
                engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
                info={READ_ONLY: True},
            )
            if replica is not None
            else self._readers
        )
        for readers in {self._readers, self._primary_readers}:
            event.listen(readers, "do_orm_execute", _refuse_writes)
            event.listen(readers, "before_flush", _refuse_flush)

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: int = 5, replica_url: str | None = None
    ) -> Database:
        replica = make_engine(replica_url, connect_timeout=connect_timeout) if replica_url else None
        return cls(make_engine(url, connect_timeout=connect_timeout), replica=replica)

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """Commit on success, roll back on any exception: nothing half-written.

        When the transaction does not commit (the body raised, or the commit itself
        failed) the unit of work's ``on_rollback`` steps run, newest first, so that
        ephemeral writes made for it (a code taken, a marker set) are undone too.

        The session is opened on the unit of work's first use of it. One that only
        recorded audit events never opens it: on PostgreSQL its commit hands them to
        the group committer and returns once they are durable (issue 12); elsewhere
        the session is opened at the commit to write them (SQLite).
        """
        uow = UnitOfWork(opener=self._begin, raw_lane=self._raw_lane)
        committed = False
        try:
            yield uow
            events = uow.take_audit_only() if self.audit_committer is not None else None
            if events:
                assert self.audit_committer is not None
                self.audit_committer.write(events)
                self._delivered(events)
            committed = True  # settled below; a failing commit is handled there too
            uow.close(commit=True)
        except exc.TimeoutError as error:
            # No pooled connection freed up in time: the database is saturated or gone.
            self._abandon(uow, committed)
            raise UnavailableError("database", "no connection available") from error
        except BaseException:
            self._abandon(uow, committed)
            raise

    def _begin(self) -> Session:
        session = self._sessions()
        session.begin()
        return session

    @staticmethod
    def _abandon(uow: UnitOfWork, commit_tried: bool) -> None:
        """Roll back what the body did (unless the commit itself failed: the session
        closed then), and run the unit of work's undo steps."""
        if not commit_tried:
            try:
                uow.close(commit=False)
            except Exception as failure:  # a dead connection's rollback may fail too
                _log.warning("rollback failed: %s", failure.__class__.__name__)
        uow.run_rollback_steps()

    def _delivered(self, events: list[dict[str, Any]]) -> None:
        """Events the group committer wrote without a session: to the audit feed."""
        feed = self.__dict__.get("committed_audit")
        if feed is not None:
            feed.deliver(events)

    @contextmanager
    def reader(self) -> Iterator[UnitOfWork]:
        """A unit of work for requests that write nothing durable (UserInfo).

        On the read replica when one is configured: what it reads may trail the
        primary by the replication lag, which is why only requests that write
        nothing and decide nothing security-relevant (UserInfo's claims; token
        validity lives in the ephemeral store) are readers.

        No transaction at all: each SELECT runs on its own on an autocommit
        connection, saving the BEGIN/COMMIT round trips and the commit's work. Any
        write through it (an ORM flush, an INSERT/UPDATE/DELETE, an audit event) is
        refused with :class:`ReadOnlyError` rather than committed half-way. The
        session is opened only if something is read through it.
        """
        with self._reading(self._readers) as uow:
            yield uow

    @contextmanager
    def primary_reader(self) -> Iterator[UnitOfWork]:
        """:meth:`reader` on the primary, never the replica: for reads that decide
        something and must see every committed change (the signed-in account the
        authorization endpoint checks: an account just disabled must count).

        The authorization endpoint reads the account here rather than in the
        request's transaction: resuming after a sign-in writes nothing durable, and
        this saves its BEGIN and COMMIT (issue 12 item 3). Under READ COMMITTED the
        transaction's read saw no more than this one does.
        """
        with self._reading(self._primary_readers) as uow:
            yield uow

    @contextmanager
    def _reading(self, sessions: sessionmaker[Session]) -> Iterator[UnitOfWork]:
        """A read-only unit of work whose session opens on first read."""
        uow = UnitOfWork(opener=sessions, read_only=True)
        try:
            yield uow
        except exc.TimeoutError as error:
            uow.run_rollback_steps()
            raise UnavailableError("database", "no connection available") from error
        except BaseException:
            uow.run_rollback_steps()
            raise
        finally:
            uow.discard()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @cached_property
    def committed_audit(self) -> AuditFeed:
        """Audit events of this database's committed transactions, for the metrics."""
        from .committed_audit import AuditFeed

        return AuditFeed(self._sessions)

    def has_schema(self) -> bool:
        return inspect(self.engine).has_table("alembic_version")

    def check(self) -> None:
        """Fail early, with advice, when the database is unreachable or not migrated."""
        try:
            ready = self.has_schema()
        except Exception as exc:  # any driver error: report it, do not guess
            raise DatabaseUnavailable(
                f"cannot reach the database at {self.engine.url!r}: {exc.__class__.__name__}"
            ) from exc
        if not ready:
            raise DatabaseUnavailable("the database has no schema: run `idp db upgrade`")

    def dispose(self) -> None:
        if self.audit_committer is not None:
            self.audit_committer.close()  # its held connection back before the pool goes
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (``idp db upgrade``); the same revisions serve SQLite and PostgreSQL."""
    command.upgrade(alembic_config(url), revision)
