"""Fixtures for the staff operations: the ``idp`` command on the test database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from idp.app import build_services, create_app
from idp.policies.staff_roles import Operation
from idp.records import AccountRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from idp.web.staff_session import current_staff, staff_required

from ..conftest import Run  # noqa: F401  (the `run` fixture lives in tests/conftest.py)
from ..helpers import MovableClock


def as_json(result: Result) -> Any:
    return json.loads(result.output)


def add_user(run: Run, username: str, email: str | None = None) -> None:
    run(
        "users",
        "add",
        "--username",
        username,
        "--password",
        "correct horse battery staple",
        "--email",
        email or f"{username}@example.org",
    )


# --- the console gate, on a probe page ------------------------------------------------------


@pytest.fixture
def services(
    settings: Settings, clean_database: Database, ephemeral: EphemeralStore, clock: MovableClock
) -> Iterator[Services]:
    """Time comes from ``clock`` (the console's idle timeout is tested by moving it)."""
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    yield services
    services.outbox_worker.stop()


PROBES = {"/admin/_probe/unlock": Operation.UNLOCK, "/admin/_probe/staff": Operation.STAFF_MANAGE}


@pytest.fixture
def app(services: Services) -> Flask:
    """The provider with two probe pages behind ``staff_required`` (the console's gate)."""
    app = create_app(services=services)
    for path, operation in PROBES.items():

        def probe(operation: Operation = operation) -> str:
            principal = current_staff()
            assert principal is not None
            return f"{operation.value} by {principal.actor} as {principal.role.value}"

        app.add_url_rule(path, f"probe_{operation.value}", staff_required(operation)(probe))
    return app


def make_staff(services: Services, account: AccountRecord, role: str, *portals: str) -> None:
    with services.db.transaction() as uow:
        ids = [uow.portals.by_slug(slug).id for slug in portals]
        uow.staff.put(account.id, role=role, portal_ids=ids, by="test", now=services.clock())
