"""The PortalLinkStore and PortalDirectory Protocols (idp.store.links) the flows use, held
to their contract on the configured backend (SQLite, or PostgreSQL with
IDP_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from idp.store.durable import Database as Transactions
from idp.store.links import ACTIVE, INVITED, REVOKED, DuplicateLinkError, PortalLinkStore
from idp.store.sql.database import Database
from idp.store.sql.repositories import NewClient

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _setup(db: Database) -> tuple[int, int, int, int]:
    """Two accounts and two practices: (alice, bob, north, south)."""
    with db.transaction() as uow:
        alice = uow.accounts.add(username="alice", password_hash="h", email=None, now=NOW).id
        bob = uow.accounts.add(username="bob", password_hash="h", email=None, now=NOW).id
        north = uow.portals.add(slug="north", name="North Clinic", now=NOW).id
        south = uow.portals.add(slug="south", name="South Clinic", now=NOW).id
    return alice, bob, north, south


def test_the_directory_finds_practices_by_slug(clean_database: Database) -> None:
    _, _, north, _ = _setup(clean_database)
    db: Transactions = clean_database
    with db.transaction() as uow:
        found = uow.portals.by_slug("north")
        assert found is not None and (found.id, found.name) == (north, "North Clinic")
        assert uow.portals.by_slug("nowhere") is None


def test_a_link_is_kept_and_listed_by_practice_name(clean_database: Database) -> None:
    alice, _, north, south = _setup(clean_database)
    with clean_database.transaction() as uow:
        links: PortalLinkStore = uow.portal_links
        made = links.link(alice, south, "S-1", NOW)
        links.link(alice, north, "N-1", NOW, status=INVITED)
        assert (made.status, made.portal_slug, made.patient_id) == (ACTIVE, "south", "S-1")
    with clean_database.transaction() as uow:
        links = uow.portal_links
        listed = links.list_for_account(alice)
        assert [(x.portal_name, x.status) for x in listed] == [
            ("North Clinic", INVITED),
            ("South Clinic", ACTIVE),
        ]
        active = links.active_for(alice, south)
        assert active is not None and active.is_active and active.patient_id == "S-1"
        assert links.active_for(alice, north) is None  # invited is not active


def test_an_invited_link_becomes_active_for_the_same_record(clean_database: Database) -> None:
    alice, _, north, _ = _setup(clean_database)
    with clean_database.transaction() as uow:
        uow.portal_links.link(alice, north, "N-1", NOW, status=INVITED)
        activated = uow.portal_links.link(alice, north, "N-1", LATER)
        assert activated.status == ACTIVE


def test_one_link_per_account_and_one_account_per_record(clean_database: Database) -> None:
    alice, bob, north, _ = _setup(clean_database)
    with clean_database.transaction() as uow:
        uow.portal_links.link(alice, north, "N-1", NOW)
    with pytest.raises(DuplicateLinkError) as again, clean_database.transaction() as uow:
        uow.portal_links.link(alice, north, "N-2", LATER)
    assert again.value.field == "account"
    with pytest.raises(DuplicateLinkError) as taken, clean_database.transaction() as uow:
        uow.portal_links.link(bob, north, "N-1", LATER)
    assert taken.value.field == "patient_id"
    with clean_database.transaction() as uow:
        assert uow.portal_links.list_for_account(bob) == []
        [kept] = uow.portal_links.list_for_account(alice)
        assert kept.patient_id == "N-1"


def test_a_link_is_neither_revoked_nor_new_in_any_other_status(clean_database: Database) -> None:
    alice, _, north, _ = _setup(clean_database)
    with pytest.raises(ValueError), clean_database.transaction() as uow:
        uow.portal_links.link(alice, north, "N-1", NOW, status=REVOKED)
    with clean_database.transaction() as uow:
        assert uow.portal_links.list_for_account(alice) == []


def test_revoke_ends_a_live_link_once_and_it_can_be_linked_again(clean_database: Database) -> None:
    alice, _, north, south = _setup(clean_database)
    with clean_database.transaction() as uow:
        uow.portal_links.link(alice, north, "N-1", NOW)
        uow.portal_links.link(alice, south, "S-1", NOW, status=INVITED)
    with clean_database.transaction() as uow:
        links: PortalLinkStore = uow.portal_links
        assert links.revoke(alice, north, LATER) is True
        assert links.revoke(alice, north, LATER) is False
        assert links.revoke_all_for_account(alice, LATER) == 1  # the invited one
        assert links.revoke_all_for_account(alice, LATER) == 0
        assert {x.status for x in links.list_for_account(alice)} == {REVOKED}
    with clean_database.transaction() as uow:
        again = uow.portal_links.link(alice, north, "N-9", LATER)
        assert (again.status, again.patient_id, again.revoked_at) == (ACTIVE, "N-9", None)


def test_unlinking_ends_consents_and_tokens_at_that_practice_only(
    clean_database: Database,
) -> None:
    alice, _, north, south = _setup(clean_database)
    clients = {}
    with clean_database.transaction() as uow:
        for portal in (north, south):
            new = NewClient(
                name=f"app {portal}",
                redirect_uris=["https://app.example.test/cb"],
                post_logout_redirect_uris=[],
                scope="openid",
                grant_types=["authorization_code", "refresh_token"],
                token_endpoint_auth_method="none",
                portal_id=portal,
            )
            client = uow.clients.add(new, secret_hash=None, now=NOW)
            clients[portal] = client.id
            uow.consents.grant(alice, client.id, frozenset({"openid"}), now=NOW)
            uow.refresh_tokens.add(
                token_hash=f"hash-{portal}",
                family_id=f"family-{portal}",
                client_pk=client.id,
                account_id=alice,
                scope="openid",
                claims=None,
                auth_time=0,
                now=NOW,
                expires_at=NOW + timedelta(days=30),
            )
    with clean_database.transaction() as uow:
        links: PortalLinkStore = uow.portal_links
        assert links.revoke_consents(alice, north, LATER) == 1
        assert links.revoke_consents(alice, north, LATER) == 0
        assert links.revoke_refresh_tokens(alice, north, LATER) == [f"family-{north}"]
        assert links.revoke_refresh_tokens(alice, north, LATER) == []
    with clean_database.transaction() as uow:
        assert uow.consents.granted_scopes(alice, clients[north]) == frozenset()
        assert uow.consents.granted_scopes(alice, clients[south]) == frozenset({"openid"})
        assert uow.refresh_tokens.family_revoked(f"family-{north}")
        assert not uow.refresh_tokens.family_revoked(f"family-{south}")
