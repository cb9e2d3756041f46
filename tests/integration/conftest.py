"""Integration fixtures: the provider with a clock the tests can move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp.app import build_services, key_publish_window
from idp.oidc.keys import KeyRing
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.sql.database import Database

from ..helpers import MovableClock

# One KeyRing per key directory and publication window for the whole run, as one
# provider process keeps it: building the RSA private key from its JWK costs ~60 ms
# (cryptography validates it), which every test would otherwise pay at its first
# signature.
_KEY_RINGS: dict[tuple[Path, int], KeyRing] = {}


def _key_ring(settings: Settings) -> KeyRing:
    window = key_publish_window(settings)
    key = (settings.keys_dir, window)
    if key not in _KEY_RINGS:
        _KEY_RINGS[key] = KeyRing(settings.keys_dir, publish_for=window)
    return _KEY_RINGS[key]


@pytest.fixture
def services(
    settings: Settings, clean_database: Database, ephemeral: EphemeralStore, clock: MovableClock
) -> Iterator[Services]:
    """Like the shared fixture, but time comes from ``clock`` (move it instead of sleeping)."""
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, clock=clock, background_delivery=False
    )
    services.keys = _key_ring(settings)
    yield services
    services.outbox_worker.stop()


@pytest.fixture
def moving(
    settings: Settings, clean_database: Database
) -> Iterator[tuple[Services, list[float], EphemeralStore]]:
    """A provider whose ephemeral store's time the test moves by ``mono[0] += seconds``
    (the contract suite proves Redis expires keys alike)."""
    mono = [0.0]
    store = MemoryEphemeralStore(clock=lambda: mono[0])
    services = build_services(
        settings,
        db=clean_database,
        ephemeral=store,
        clock=lambda: datetime.now(UTC),
        background_delivery=False,
    )
    yield services, mono, store
    services.outbox_worker.stop()
