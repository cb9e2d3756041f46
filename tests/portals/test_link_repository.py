"""PortalLinkRepository on the configured backend: one link per practice and account,
one account per MRN at a practice, and the status moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql.portal_links import DuplicateLinkError

from ..conftest import Factory
from .conftest import Practice, link


@pytest.fixture
def bob(factory: Factory) -> AccountRecord:
    return factory.account("bob")


def test_link_and_read_back(
    services: Services, alice: AccountRecord, north: Practice, south: Practice
) -> None:
    now = services.clock()
    created = link(services, alice, north, "N-1")
    assert (created.status, created.patient_id, created.portal_slug) == (
        "active",
        "N-1",
        "northside",
    )
    assert created.activated_at == created.created_at
    assert created.portal_name == "Northside Pediatrics" and created.last_signin_at is None
    link(services, alice, south, "S-1")
    with services.db.transaction() as uow:
        assert uow.portal_links.active_for(alice.id, north.portal.id) == created
        assert uow.portal_links.by_patient(north.portal.id, "N-1") == created
        assert uow.portal_links.by_patient(north.portal.id, "S-1") is None
        listed = uow.portal_links.list_for_account(alice.id)
        assert [x.portal_name for x in listed] == [
            "Northside Pediatrics",
            "South Bay Family Medicine",
        ]
        assert uow.portal_links.touch_signin(alice.id, north.portal.id, now + timedelta(hours=1))
        touched = uow.portal_links.active_for(alice.id, north.portal.id)
        assert touched is not None and touched.last_signin_at == now + timedelta(hours=1)


@pytest.mark.parametrize(
    ("who", "mrn", "field"),
    [
        ("alice", "N-2", "account"),  # alice already has a link there
        ("alice", "N-1", "account"),  # the very same link again
        ("bob", "N-1", "patient_id"),  # alice's MRN for another account
    ],
)
def test_duplicates_are_refused_clearly(
    services: Services,
    alice: AccountRecord,
    bob: AccountRecord,
    north: Practice,
    who: str,
    mrn: str,
    field: str,
) -> None:
    link(services, alice, north, "N-1")
    account = alice if who == "alice" else bob
    with pytest.raises(DuplicateLinkError) as refused:
        link(services, account, north, mrn)
    assert refused.value.field == field
    with services.db.transaction() as uow:
        assert uow.portal_links.active_for(alice.id, north.portal.id) is not None
        assert uow.portal_links.active_for(bob.id, north.portal.id) is None


def test_same_mrn_at_two_practices_is_two_patients(
    services: Services, alice: AccountRecord, bob: AccountRecord, north: Practice, south: Practice
) -> None:
    link(services, alice, north, "100")
    link(services, bob, south, "100")
    with services.db.transaction() as uow:
        assert uow.portal_links.by_patient(north.portal.id, "100").account_id == alice.id  # type: ignore[union-attr]
        assert uow.portal_links.by_patient(south.portal.id, "100").account_id == bob.id  # type: ignore[union-attr]


def test_invited_becomes_active_and_revoked_can_be_linked_again(
    services: Services, alice: AccountRecord, bob: AccountRecord, north: Practice
) -> None:
    invited = link(services, alice, north, "N-1", status="invited")
    assert invited.status == "invited" and invited.activated_at is None
    with services.db.transaction() as uow:
        assert uow.portal_links.active_for(alice.id, north.portal.id) is None
        assert not uow.portal_links.touch_signin(alice.id, north.portal.id, services.clock())
    active = link(services, alice, north, "N-1")
    assert active.id == invited.id and active.status == "active" and active.activated_at

    with services.db.transaction() as uow:
        assert uow.portal_links.revoke(alice.id, north.portal.id, services.clock())
        assert not uow.portal_links.revoke(alice.id, north.portal.id, services.clock())
        gone = uow.portal_links.by_patient(north.portal.id, "N-1")
        assert gone is not None and gone.status == "revoked" and gone.revoked_at is not None
    # The MRN stays with its account: another account cannot take it over.
    with pytest.raises(DuplicateLinkError):
        link(services, bob, north, "N-1")
    again = link(services, alice, north, "N-1")
    assert again.id == invited.id and again.status == "active" and again.revoked_at is None


def test_unknown_status_is_a_programming_error(
    services: Services, alice: AccountRecord, north: Practice
) -> None:
    with pytest.raises(ValueError):
        link(services, alice, north, "N-1", status="revoked")


def test_revoke_all_for_account_leaves_other_accounts(
    services: Services, alice: AccountRecord, bob: AccountRecord, north: Practice, south: Practice
) -> None:
    link(services, alice, north, "N-1")
    link(services, alice, south, "S-1", status="invited")
    link(services, bob, north, "N-2")
    with services.db.transaction() as uow:
        assert uow.portal_links.revoke_all_for_account(alice.id, services.clock()) == 2
        assert {x.status for x in uow.portal_links.list_for_account(alice.id)} == {"revoked"}
        assert uow.portal_links.active_for(bob.id, north.portal.id) is not None
