"""Audit events reach the metrics only when their transaction commits."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import pytest

from idp.records import AuditEntry
from idp.store.sql.committed_audit import AuditFacts, on_committed_audit
from idp.store.sql.database import Database


class Seen:
    def __init__(self) -> None:
        self.events: list[AuditFacts] = []

    def __call__(self, facts: AuditFacts) -> None:
        self.events.append(facts)

    def note(self, facts: AuditFacts) -> None:
        self.events.append(facts)


def _record(db: Database, *, fail: bool) -> None:
    with db.transaction() as uow:
        uow.audit.record(
            AuditEntry(
                type="login",
                outcome="failure",
                actor="anonymous",
                client_id="c1",
                details={"reason": "invalid_credentials"},
            ),
            now=datetime.now(UTC),
        )
        uow.session.flush()
        if fail:
            raise RuntimeError("the request failed after writing its audit event")


def test_committed_events_are_delivered_and_rolled_back_ones_are_not(
    clean_database: Database,
) -> None:
    seen = Seen()
    on_committed_audit(clean_database, seen.note)
    with pytest.raises(RuntimeError):
        _record(clean_database, fail=True)
    assert seen.events == []
    _record(clean_database, fail=False)
    assert [(e.type, e.outcome, e.client_id, e.details["reason"]) for e in seen.events] == [
        ("login", "failure", "c1", "invalid_credentials")
    ]


def test_a_listener_whose_owner_is_gone_is_dropped(clean_database: Database) -> None:
    seen = Seen()
    on_committed_audit(clean_database, seen.note)
    del seen
    gc.collect()
    _record(clean_database, fail=False)  # no error from a dead listener
    assert all(ref() is not None for ref in clean_database.committed_audit._listeners)
