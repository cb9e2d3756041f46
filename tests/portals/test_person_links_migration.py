"""Migration 0009 keeps every portal link with its account, and a link may then belong
to a person without an account (never to nobody)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from idp.store.sql.database import Database, upgrade

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_existing_links_survive_and_owner_is_required(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, "0008")
    db = Database.from_url(url)
    try:
        with db.transaction() as uow:
            # Raw SQL: the ORM maps the newest schema (later migrations add columns).
            portal_id = uow.session.execute(
                text(
                    "INSERT INTO portals (slug, name, created_at, listed_in_account_emails) "
                    "VALUES ('north', 'North', :now, 1) RETURNING id"
                ),
                {"now": NOW},
            ).scalar_one()
            account = uow.accounts.add(username="ada", password_hash="x", email=None, now=NOW)
            uow.session.execute(
                text(
                    "INSERT INTO portal_links (account_id, portal_id, patient_id, status, "
                    "created_at) VALUES (:a, :p, 'MRN-1', 'active', :now)"
                ),
                {"a": account.id, "p": portal_id, "now": NOW},
            )
        upgrade(url)
        with db.transaction() as uow:
            link = uow.portal_links.active_for(account.id, portal_id)
            assert link is not None and link.patient_id == "MRN-1" and link.person_id is None
        with pytest.raises(IntegrityError), db.session() as session:
            session.execute(
                text(
                    "INSERT INTO portal_links (portal_id, patient_id, status, created_at) "
                    "VALUES (:p, 'MRN-2', 'active', :now)"
                ),
                {"p": portal_id, "now": NOW},
            )
    finally:
        db.dispose()
