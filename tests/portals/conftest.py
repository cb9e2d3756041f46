"""Fixtures for practices and their links: two practices, each with its own client,
and Alice linked to both under different medical record numbers.

The provider runs on the configured backends (SQLite + in-process, or PostgreSQL +
Redis) with a clock the tests move. Mail stays in the outbox (no test here reads it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from idp.app import build_services, create_app, key_publish_window
from idp.cli import main
from idp.oidc.keys import KeyRing
from idp.records import AccountRecord, AuditRecord, ClientRecord, PortalRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from idp.store.sql.portal_links import PortalLinkRecord

from ..account.conftest import FIREFOX, Browser
from ..conftest import ALL_SCOPES, Factory
from ..helpers import MovableClock

_KEY_RINGS: dict[tuple[Path, int], KeyRing] = {}


@pytest.fixture
def services(
    settings: Settings, clean_database: Database, ephemeral: EphemeralStore, clock: MovableClock
) -> Iterator[Services]:
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    window = key_publish_window(settings)
    ring_key = (settings.keys_dir, window)
    if ring_key not in _KEY_RINGS:  # building RSA keys costs ~60 ms: once per run
        _KEY_RINGS[ring_key] = KeyRing(settings.keys_dir, publish_for=window)
    services.keys = _KEY_RINGS[ring_key]
    yield services
    services.outbox_worker.stop()


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


# --- practices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Practice:
    portal: PortalRecord
    client: ClientRecord


def add_practice(factory: Factory, slug: str, name: str, port: int) -> Practice:
    with factory.services.db.transaction() as uow:
        portal = uow.portals.add(slug=slug, name=name, now=datetime.now(UTC))
    client = factory.client(
        name=f"{name} portal",
        portal_id=portal.id,
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
        scope=ALL_SCOPES + " launch/patient",
    )
    return Practice(portal=portal, client=client)


def link(
    services: Services,
    account: AccountRecord,
    practice: Practice,
    mrn: str,
    *,
    status: str = "active",
) -> PortalLinkRecord:
    with services.db.transaction() as uow:
        return uow.portal_links.link(
            account.id, practice.portal.id, mrn, services.clock(), status=status
        )


def link_status(services: Services, account: AccountRecord, practice: Practice) -> str | None:
    with services.db.transaction() as uow:
        links = uow.portal_links.list_for_account(account.id)
    return next((x.status for x in links if x.portal_id == practice.portal.id), None)


def events(services: Services, event_type: str) -> list[AuditRecord]:
    with services.db.transaction() as uow:
        return [e for e in uow.audit.tail(1000) if e.type == event_type]


NORTH_MRN = "N-0048213"
SOUTH_MRN = "S-77120"


@pytest.fixture
def alice(factory: Factory) -> AccountRecord:
    return factory.account()


@pytest.fixture
def north(factory: Factory) -> Practice:
    return add_practice(factory, "northside", "Northside Pediatrics", 9101)


@pytest.fixture
def south(factory: Factory) -> Practice:
    return add_practice(factory, "southbay", "South Bay Family Medicine", 9102)


@pytest.fixture
def linked(services: Services, alice: AccountRecord, north: Practice, south: Practice) -> None:
    """Alice is a patient of both practices, under each one's own MRN."""
    link(services, alice, north, NORTH_MRN)
    link(services, alice, south, SOUTH_MRN)


@pytest.fixture
def browser(app: Flask, factory: Factory, alice: AccountRecord) -> Browser:
    """Alice signed in on a laptop."""
    b = Browser(app.test_client(), factory, user_agent=FIREFOX, ip="198.51.100.7")
    b.sign_in()
    return b


# --- the idp command -------------------------------------------------------------------------


@pytest.fixture
def run(clean_database: Database, database_url: str, tmp_path: Path, monkeypatch):
    """``idp ...`` against the test database; ``code`` is the exit status expected."""
    for name in list(os.environ):
        if name.startswith("IDP_") and not name.startswith("IDP_TEST_"):
            monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
    }

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    return invoke
