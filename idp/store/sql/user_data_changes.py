"""Notice every committed write to the tables UserInfo shows, wherever it comes from.

``idp.store.user_data`` explains the version UserInfo's caches check. Writers are
many (sign-up, activation, settings, staff tools, the command line, tests writing
through a repository), so rather than trusting each to bump the version, the
SQL session reports it: an INSERT, UPDATE or DELETE statement on a watched table,
or an ORM flush of a watched row, marks the session, and its commit calls the
database's ``on_user_data_change`` once. A rolled-back transaction announces
nothing (its marks die with the session; a marked savepoint that rolled back only
costs one needless announcement).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from . import models as m

WATCHED_TABLES = frozenset({"accounts", "persons", "portal_links"})
_WATCHED_CLASSES = (m.Account, m.Person, m.PortalLink)
_MARK = "idp_user_data_changed"


def _mark_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in WATCHED_TABLES:
        state.session.info[_MARK] = True


def _mark_flush(session: Session, _context: Any) -> None:
    # In after_flush, new/dirty/deleted still list what this flush wrote.
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _WATCHED_CLASSES):
            session.info[_MARK] = True
            return


def watch_user_data(sessions: sessionmaker[Session], notify: Callable[[], object]) -> None:
    """Call ``notify`` after each commit of a session that wrote a watched table."""

    def _committed(session: Session) -> None:
        if session.info.pop(_MARK, False):
            notify()

    event.listen(sessions, "do_orm_execute", _mark_statement)
    event.listen(sessions, "after_flush", _mark_flush)
    event.listen(sessions, "after_commit", _committed)
