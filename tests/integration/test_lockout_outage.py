"""A sign-in that fails for an infrastructure reason never counts (issue 8, item 3).

The database here really fails: a second provider shares the ephemeral store but
points at a SQLite file without the schema, so every account lookup raises, as a
restarting PostgreSQL makes it raise. No lock may outlast the lock setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from idp.app import build_services
from idp.records import RequestMeta
from idp.services import Services
from idp.settings import Settings
from idp.store.attempts import IN_FLIGHT_SECONDS
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from idp.store.sql.repositories import username_key

from ..conftest import PASSWORD, Factory

META = RequestMeta(ip="203.0.113.9", user_agent="pytest")


def _outage(services: Services, settings: Settings, tmp_path: Path) -> Services:
    """The same provider and ephemeral store, but a database that fails every query."""
    broken = Database.from_url(f"sqlite:///{tmp_path / 'no-schema.sqlite3'}")
    return build_services(
        settings,
        db=broken,
        ephemeral=services.ephemeral,
        clock=services.clock,
        background_delivery=False,
    )


def _fail_during_outage(down: Services, username: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(OperationalError):
            down.login.submit(username=username, password="anything", meta=META)


def test_a_sign_in_that_fails_on_the_database_releases_its_reservation(
    services: Services, settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    factory.account(username="alice")
    down = _outage(services, settings, tmp_path)
    _fail_during_outage(down, "alice", 3 * settings.lockout.max_failures)
    # Nothing was counted: the right password works at once (on main it was refused
    # for the counter's whole 12-hour window).
    assert services.login.submit(username="alice", password=PASSWORD, meta=META).ok


def test_counting_resumes_exactly_after_an_outage(
    services: Services, settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    factory.account(username="alice")
    down = _outage(services, settings, tmp_path)
    replies = []
    for i in range(settings.lockout.max_failures):
        if i == 2:
            _fail_during_outage(down, "alice", 4)
        replies.append(services.login.submit(username="alice", password=f"bad {i}", meta=META))
    assert [r.reason for r in replies] == ["invalid_credentials"] * 4 + ["account_locked"]
    assert services.attempts.locked_for(username_key("alice")) == pytest.approx(
        settings.lockout.lock_seconds, abs=2
    )


def test_no_lock_outlasts_the_lock_setting_after_an_outage(
    moving: tuple[Services, list[float], EphemeralStore], settings: Settings, tmp_path: Path
) -> None:
    services, mono, _ = moving
    Factory(services).account(username="bob")
    down = _outage(services, settings, tmp_path)
    for i in range(settings.lockout.max_failures - 1):
        services.login.submit(username="bob", password=f"bad {i}", meta=META)
    _fail_during_outage(down, "bob", 3)
    mono[0] += settings.lockout.lock_seconds + 1
    assert services.login.submit(username="bob", password=PASSWORD, meta=META).ok


def test_a_lock_lasts_exactly_the_lock_setting(
    moving: tuple[Services, list[float], EphemeralStore], settings: Settings
) -> None:
    services, mono, _ = moving
    Factory(services).account(username="bob")
    for i in range(settings.lockout.max_failures):
        services.login.submit(username="bob", password=f"bad {i}", meta=META)
    # Attempts during the lock (right or wrong) do not extend it.
    mono[0] += settings.lockout.lock_seconds - 2
    for i in range(3):
        assert services.login.submit(username="bob", password=f"bad {i}", meta=META).reason == (
            "account_locked"
        )
    mono[0] += 3
    assert services.login.submit(username="bob", password=PASSWORD, meta=META).ok


def test_a_worker_killed_mid_sign_in_holds_its_reservation_briefly(
    moving: tuple[Services, list[float], EphemeralStore], settings: Settings
) -> None:
    """A reservation nobody settles (the process died) frees itself, well inside a lock."""
    services, mono, _ = moving
    Factory(services).account(username="carol")
    for _ in range(settings.lockout.max_failures):
        services.lockout.reserve(username_key("carol"))  # never settled or released
    assert services.login.submit(username="carol", password=PASSWORD, meta=META).reason == (
        "account_locked"
    )
    mono[0] += IN_FLIGHT_SECONDS + 1
    assert IN_FLIGHT_SECONDS < settings.lockout.lock_seconds
    assert services.login.submit(username="carol", password=PASSWORD, meta=META).ok
