"""Hot statements sent straight to psycopg, under SQLAlchemy's own connection.

Why: SQLAlchemy's execution context (compiled-cache lookup, parameter processing,
result metadata and per-column processors) cost about twice the statement itself
on the token path (py-spy, issue 12). A few prebuilt statements run on the same
DBAPI connection, so in the same transaction, prepared once per connection.

What SQLAlchemy did for them is done here: a lost or refused connection becomes
:class:`~idp.errors.UnavailableError` (a 503), and timestamps come back as UTC like
``UTCDateTime`` returns them. Only for PostgreSQL; SQLite keeps the Core path.

The audit group committer has no SQLAlchemy connection at all (it holds a pooled
DBAPI connection, idp/store/sql/audit_committer.py): every function here takes
either kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect
from sqlalchemy.sql import ClauseElement

from idp.errors import UnavailableError


def sql_of(statement: ClauseElement) -> str:
    """A Core statement as psycopg SQL (``%(name)s`` parameters), compiled once."""
    return str(statement.compile(dialect=pg_dialect.dialect()))  # type: ignore[no-untyped-call]


# A SQLAlchemy connection, or the psycopg connection itself.
AnyConnection = Connection | psycopg.Connection[Any]


def driver_of(connection: AnyConnection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``connection`` (or ``connection`` itself)."""
    if isinstance(connection, psycopg.Connection):
        return connection
    return cast("psycopg.Connection[Any]", connection.connection.driver_connection)


def execute(
    connection: AnyConnection, sql: str, params: dict[str, Any], *, dict_rows: bool = False
) -> psycopg.Cursor[Any]:
    """Run ``sql`` on the psycopg connection under ``connection``, prepared."""
    driver = driver_of(connection)
    try:
        if dict_rows:
            cursor: psycopg.Cursor[Any] = driver.cursor(row_factory=dict_row)
            return cursor.execute(sql, params, prepare=True)
        return driver.execute(sql, params, prepare=True)
    except (psycopg.OperationalError, psycopg.InterfaceError) as error:
        raise UnavailableError("database", type(error).__name__) from error


# The column names of each statement ``first`` ran: its result's shape never changes,
# and psycopg's dict rows built them from the cursor's description on every call (35
# Column objects for a refresh's claim, issue 12).
_COLUMNS: dict[str, tuple[str, ...]] = {}


def first(connection: AnyConnection, sql: str, params: dict[str, Any]) -> SimpleNamespace | None:
    """The first row, its columns as attributes, timestamps in UTC; None if none."""
    cursor = execute(connection, sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    names = _COLUMNS.get(sql)
    if names is None:
        names = _COLUMNS[sql] = tuple(column.name for column in cursor.description or ())
    return SimpleNamespace(
        **{
            name: value.astimezone(UTC) if isinstance(value, datetime) else value
            for name, value in zip(names, row, strict=True)
        }
    )
