"""`idp portals link` (staff link an account directly), `idp portals add
--hide-from-account-emails`, and closing the account ending every link."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql import models

from ..account.conftest import Browser
from ..conftest import PASSWORD, Factory
from .conftest import NORTH_MRN, Practice, events, link_status


def test_link_command_links_and_is_audited(
    run, services: Services, alice: AccountRecord, north: Practice
) -> None:
    out = run("portals", "link", "northside", "--username", "ALICE", "--patient-id", " N-77 ")
    assert "linked to northside" in out.output
    with services.db.transaction() as uow:
        record = uow.portal_links.active_for(alice.id, north.portal.id)
    assert record is not None and record.patient_id == "N-77"
    [event] = events(services, "portal_linked")
    assert (event.actor, event.subject, event.outcome) == ("staff:cli", alice.subject, "success")
    assert event.details == {"portal": "northside", "via": "cli"}
    assert "N-77" not in json.dumps(event.details)


def test_link_command_json(run, alice: AccountRecord, north: Practice) -> None:
    out = run("portals", "link", "northside", "--username", "alice", "--patient-id", "7", "--json")
    assert json.loads(out.output) == {
        "portal": "northside",
        "username": "alice",
        "status": "active",
    }


@pytest.mark.parametrize(
    "args",
    [
        ("no-such-practice", "--username", "alice", "--patient-id", "N-1"),
        ("northside", "--username", "nobody", "--patient-id", "N-1"),
        ("northside", "--username", "alice", "--patient-id", "   "),
        ("northside", "--username", "alice", "--patient-id", "N 1"),
        ("northside", "--username", "alice", "--patient-id", "N-\x071"),
        ("northside", "--username", "alice", "--patient-id", "N" * 65),
        ("northside", "--username", "alice"),
    ],
)
def test_link_command_bad_input_exits_2_and_writes_nothing(
    run, services: Services, alice: AccountRecord, north: Practice, args: tuple[str, ...]
) -> None:
    run("portals", "link", *args, code=2)
    with services.db.transaction() as uow:
        assert uow.portal_links.list_for_account(alice.id) == []
    assert events(services, "portal_linked") == []


def test_link_command_refuses_duplicates(
    run, services: Services, factory: Factory, alice: AccountRecord, north: Practice
) -> None:
    factory.account("bob")
    run("portals", "link", "northside", "--username", "alice", "--patient-id", "N-1")
    taken = run("portals", "link", "northside", "--username", "bob", "--patient-id", "N-1", code=2)
    assert "another account" in taken.output
    again = run(
        "portals", "link", "northside", "--username", "alice", "--patient-id", "N-2", code=2
    )
    assert "already linked" in again.output
    assert len(events(services, "portal_linked")) == 1


def test_link_command_refuses_a_closed_account(
    run, services: Services, factory: Factory, north: Practice
) -> None:
    carol = factory.account("carol")
    with services.db.transaction() as uow:
        uow.accounts.close(carol.id, now=services.clock())
    run("portals", "link", "northside", "--username", "carol", "--patient-id", "N-3", code=2)


def test_portals_add_can_hide_a_practice_from_account_emails(run, services: Services) -> None:
    out = run("portals", "add", "--name", "Discreet Clinic", "--hide-from-account-emails", "--json")
    assert json.loads(out.output) == {
        "slug": "discreet-clinic",
        "name": "Discreet Clinic",
        "listed_in_account_emails": False,
        # Proxy terms (issue 10 item 3): the defaults unless given.
        "teen_age": 13,
        "majority_age": 18,
        "adult_grant_months": 18,
        "time_zone": "UTC",
    }
    run("portals", "add", "--name", "Open Clinic")
    with services.db.session() as session:
        listed = dict(
            session.execute(
                select(models.Portal.slug, models.Portal.listed_in_account_emails)
            ).all()
        )
    assert listed == {"discreet-clinic": False, "open-clinic": True}


@pytest.mark.usefixtures("linked")
def test_closing_the_account_ends_every_link(
    browser: Browser, services: Services, alice: AccountRecord, north: Practice, south: Practice
) -> None:
    tokens = browser.oidc.tokens(
        north.client, browser.oidc.request(north.client, scope="openid launch/patient")
    )
    assert tokens["patient"] == NORTH_MRN
    response = browser.submit(
        "/account/close", {"current_password": PASSWORD, "confirmation": "CLOSE"}
    )
    assert response.status_code == 200
    assert link_status(services, alice, north) == link_status(services, alice, south) == "revoked"
    with services.db.transaction() as uow:
        assert uow.portal_links.by_patient(north.portal.id, NORTH_MRN) is not None  # kept
