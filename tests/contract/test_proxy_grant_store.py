"""The proxy grant store's contract on the configured backend (SQLite, or PostgreSQL in CI):
one live grant per practice, representative and patient; status moves at most once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idp.records import PortalRecord
from idp.store.sql.database import Database
from idp.store.sql.portal_links import DuplicateLinkError
from idp.store.sql.proxy_grants import DuplicateGrantError, NewGrant

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def parties(clean_database: Database) -> tuple[PortalRecord, int, int]:
    with clean_database.transaction() as uow:
        portal = uow.portals.add(slug="north", name="North", now=NOW)
        rep = uow.accounts.add(username="grace", password_hash="x", email=None, now=NOW)
        child = uow.patients.add(
            portal,
            "MRN-1",
            first_name="Tim",
            last_name="Hopper",
            dob=date(2021, 1, 1),
            zip="02139",
            gender=None,
            now=NOW,
        )
        assert child.person is not None and child.account_id is None
        return portal, rep.id, child.person.id


def _new(portal: PortalRecord, rep: int, person: int) -> NewGrant:
    return NewGrant(
        portal_id=portal.id,
        representative_account_id=rep,
        patient_person_id=person,
        relationship="parent",
        kind="staff",
        status="active",
        created_by="staff:joy",
        starts_on=NOW.date(),
        approved_by="staff:joy",
        evidence_ref="form 1",
    )


def test_person_link_is_found_by_mrn_and_mrn_stays_unique(
    clean_database: Database, parties: tuple[PortalRecord, int, int]
) -> None:
    portal, rep, person = parties
    with clean_database.transaction() as uow:
        found = uow.patients.find(portal, "MRN-1")
        assert found is not None and found.person is not None and found.person.id == person
        assert uow.patients.of_person(portal, person) == found
    with pytest.raises(DuplicateLinkError), clean_database.transaction() as uow:
        uow.portal_links.link(rep, portal.id, "MRN-1", NOW)  # the child's MRN is taken


def test_one_live_grant_and_moves_happen_once(
    clean_database: Database, parties: tuple[PortalRecord, int, int]
) -> None:
    portal, rep, person = parties
    with clean_database.transaction() as uow:
        grant = uow.proxy_grants.add(_new(portal, rep, person), now=NOW)
    with pytest.raises(DuplicateGrantError), clean_database.transaction() as uow:
        uow.proxy_grants.add(_new(portal, rep, person), now=NOW)
    later = NOW + timedelta(days=1)
    with clean_database.transaction() as uow:
        moved = uow.proxy_grants.move(
            grant.id,
            from_statuses=["active"],
            to_status="revoked",
            action="revoked",
            actor="staff:joy",
            now=later,
            reason="asked",
            ended_at=later,
        )
        assert moved is not None and moved.status == "revoked" and moved.ended_at == later
        again = uow.proxy_grants.move(
            grant.id,
            from_statuses=["active"],
            to_status="revoked",
            action="revoked",
            actor="staff:joy",
            now=later,
        )
        assert again is None
        assert [(e.action, e.status) for e in uow.proxy_grants.history(grant.id)] == [
            ("granted", "active"),
            ("revoked", "revoked"),
        ]
    # Once the first is revoked, a new live grant may be made.
    with clean_database.transaction() as uow:
        assert uow.proxy_grants.add(_new(portal, rep, person), now=later).status == "active"
        assert len(uow.proxy_grants.for_portal(portal.id, patient_person_id=person)) == 2


def test_confidential_flags_replace_the_set(
    clean_database: Database, parties: tuple[PortalRecord, int, int]
) -> None:
    portal, _, person = parties
    with clean_database.transaction() as uow:
        added, removed = uow.confidential_flags.replace(
            portal.id, person, frozenset({"results", "visits"}), reason="r", actor="a", now=NOW
        )
        assert (added, removed) == (frozenset({"results", "visits"}), frozenset())
        added, removed = uow.confidential_flags.replace(
            portal.id, person, frozenset({"results"}), reason="r", actor="a", now=NOW
        )
        assert (added, removed) == (frozenset(), frozenset({"visits"}))
        assert [f.category for f in uow.confidential_flags.of(portal.id, person)] == ["results"]
