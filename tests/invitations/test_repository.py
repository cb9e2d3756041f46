"""InvitationRepository on the configured backend: conditional updates, hashed codes."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from idp.store.sql.database import Database
from idp.store.sql.invitations import InvitationRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@pytest.fixture
def portal_ids(clean_database: Database) -> tuple[int, int]:
    with clean_database.transaction() as uow:
        a = uow.portals.add(slug="north", name="Northside Pediatrics", now=NOW)
        b = uow.portals.add(slug="east", name="Eastside Cardiology", now=NOW)
    return a.id, b.id


def _create(
    db: Database, portal_id: int, code: str, **kw: Any
) -> tuple[InvitationRecord, list[int]]:
    values: dict[str, Any] = {
        "patient_id": "MRN-1",
        "first_name": "Grace",
        "last_name": "Hopper",
        "dob": date(1990, 5, 17),
        "zip": "02139",
        "gender": "female",
        "email": "grace@example.test",
        "created_by": "staff:test",
        "now": NOW,
        "expires_at": NOW + timedelta(days=30),
        **kw,
    }
    with db.transaction() as uow:
        return uow.invitations.create(portal_id=portal_id, code_hash=_hash(code), **values)


def test_create_replaces_pending_invitations_of_the_same_record(
    clean_database: Database, portal_ids: tuple[int, int]
) -> None:
    north, east = portal_ids
    first, replaced = _create(clean_database, north, "one")
    assert replaced == []
    elsewhere, _ = _create(clean_database, east, "two")  # same MRN, another practice
    second, replaced = _create(clean_database, north, "three")
    assert replaced == [first.id]
    with clean_database.transaction() as uow:
        assert uow.invitations.by_id(first.id).status == "revoked"  # type: ignore[union-attr]
        assert uow.invitations.by_id(elsewhere.id).status == "pending"  # type: ignore[union-attr]
        found = uow.invitations.by_code(_hash("three"))
    assert found == second
    assert (found.portal_slug, found.portal_name) == ("north", "Northside Pediatrics")


def test_mark_activated_wins_once_and_only_while_live(
    clean_database: Database, portal_ids: tuple[int, int]
) -> None:
    invitation, _ = _create(clean_database, portal_ids[0], "code")
    with clean_database.transaction() as uow:
        account = uow.accounts.add(username="grace", password_hash="x", email=None, now=NOW)
        late = NOW + timedelta(days=30)
        assert not uow.invitations.mark_activated(invitation.id, account.id, now=late)
        assert uow.invitations.mark_activated(invitation.id, account.id, now=NOW)
        assert not uow.invitations.mark_activated(invitation.id, account.id, now=NOW)
        assert not uow.invitations.revoke(invitation.id, now=NOW)
        used = uow.invitations.by_id(invitation.id)
    assert used is not None
    assert (used.status, used.account_id, used.activated_at) == ("activated", account.id, NOW)
    assert used.state(NOW + timedelta(days=365)) == "activated"


def test_revoke_and_replace_code(clean_database: Database, portal_ids: tuple[int, int]) -> None:
    invitation, _ = _create(clean_database, portal_ids[0], "old")
    with clean_database.transaction() as uow:
        assert uow.invitations.replace_code(invitation.id, _hash("new"), now=NOW)
        assert uow.invitations.by_code(_hash("old")) is None
        assert uow.invitations.by_code(_hash("new")) is not None
        assert uow.invitations.revoke(invitation.id, now=NOW)
        assert not uow.invitations.revoke(invitation.id, now=NOW)
        assert not uow.invitations.replace_code(invitation.id, _hash("newer"), now=NOW)


def test_pending_for_email_lists_live_invitations_with_the_practice(
    clean_database: Database, portal_ids: tuple[int, int]
) -> None:
    north, east = portal_ids
    live, _ = _create(clean_database, north, "a", email="Grace@Example.test")
    _create(clean_database, east, "b", patient_id="E-1", expires_at=NOW + timedelta(seconds=1))
    revoked, _ = _create(clean_database, east, "c", patient_id="E-2")
    _create(clean_database, north, "d", patient_id="MRN-2", email="someone@example.test")
    with clean_database.transaction() as uow:
        uow.invitations.revoke(revoked.id, now=NOW)
        found = uow.invitations.pending_for_email(
            " grace@EXAMPLE.test", now=NOW + timedelta(seconds=5)
        )
        listing = uow.invitations.for_portal(north)
    assert [(i.id, i.portal_name) for i in found] == [(live.id, "Northside Pediatrics")]
    assert [i.patient_id for i in listing] == ["MRN-2", "MRN-1"]
