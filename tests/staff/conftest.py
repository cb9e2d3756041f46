"""Fixtures for the staff operations: the ``idp`` command on the test database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from idp.app import build_services, create_app
from idp.cli import main
from idp.policies.staff_roles import Operation
from idp.records import AccountRecord
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from idp.web.staff_session import current_staff, staff_required

from ..helpers import MovableClock

Run = Callable[..., Result]


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if (
            name.startswith("IDP_")
            and not name.startswith("IDP_TEST_")
            and name not in ("IDP_REQUIRE_REDIS", "IDP_REQUIRE_BROWSER")
        ):
            monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": "cli-test-secret-" + "s" * 32,
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]
    return env


@pytest.fixture
def run(clean_database: Database, cli_env: dict[str, str]) -> Run:
    """``run("staff", "add", ..., code=0)``: the command's result, exit code checked."""

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, list(args), env=cli_env)
        assert result.exit_code == code, result.output
        return result

    return invoke


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
