"""Engine, transactions and schema migrations for the durable store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from idp.settings import PROJECT_ROOT

from .repositories import UnitOfWork

if TYPE_CHECKING:
    from .committed_audit import AuditFeed

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or has no schema; the message says what to do."""


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets foreign keys on and a busy timeout.

    SQLite ignores foreign keys unless told, and without a busy timeout two
    requests writing at once fail with "database is locked" instead of waiting.
    """
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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Opens transactions; each yields a :class:`UnitOfWork` over one session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """Commit on success, roll back on any exception: nothing half-written."""
        with self._sessions.begin() as session:
            yield UnitOfWork(session)

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
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (``idp db upgrade``); the same revisions serve SQLite and PostgreSQL."""
    command.upgrade(alembic_config(url), revision)
