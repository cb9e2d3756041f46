"""The durable Protocols the authentication flow uses (idp.store.interfaces), held to
their contract on the configured backend (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.records import AuditEntry
from idp.store.interfaces import AccountReader, AuditAppender, AuthnTx, Transactions
from idp.store.sql.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _tx_parts(tx: AuthnTx) -> tuple[AccountReader, AuditAppender]:
    return tx.accounts, tx.audit


def test_accounts_are_found_by_id_and_case_insensitive_user_id(clean_database: Database) -> None:
    db: Transactions = clean_database
    with db.transaction() as uow:
        accounts, _ = _tx_parts(uow)
        made = uow.accounts.add(username="Alice.B", password_hash="h1", email=None, now=NOW)
        assert accounts.by_id(made.id) == accounts.by_username("  alice.b ")
        assert accounts.by_username("alice.c") is None
        assert accounts.by_id(made.id + 1000) is None


def test_the_writes_a_sign_in_makes(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        accounts, audit = _tx_parts(uow)
        made = uow.accounts.add(username="bob", password_hash="old", email=None, now=NOW)
        accounts.replace_password_hash(made.id, "stronger", now=NOW)
        accounts.set_status(made.id, "locked", now=NOW)
        audit.record(AuditEntry(type="login", outcome="success", actor=made.subject), now=NOW)
    with clean_database.transaction() as uow:
        account = uow.accounts.by_id(made.id)
        assert account is not None
        assert (account.password_hash, account.status) == ("stronger", "locked")
        assert [e.type for e in uow.audit.tail(5)] == ["login"]


def test_a_failed_transaction_writes_nothing(clean_database: Database) -> None:
    with pytest.raises(RuntimeError), clean_database.transaction() as uow:
        uow.accounts.add(username="carol", password_hash="h", email=None, now=NOW)
        uow.audit.record(AuditEntry(type="login", outcome="success", actor="x"), now=NOW)
        raise RuntimeError("the request failed")
    with clean_database.transaction() as uow:
        assert uow.accounts.by_username("carol") is None
        assert uow.audit.tail(5) == []
