"""The incident of issue 8, item 3, replayed: PostgreSQL restarts during sign-ins.

Observed before the fix: sign-ins that failed while PostgreSQL restarted kept their
lockout increments for 12 hours, and the right password was refused afterwards.
This starts its own PostgreSQL cluster on a free port (never the machine's shared
server), stops it while sign-ins arrive, starts it again, and signs in.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idp.app import build_services
from idp.records import RequestMeta
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database, upgrade

from ..conftest import PASSWORD, Factory
from ..servers import OwnPostgres, needs_postgres
from ..servers import own_postgres as _own_postgres

META = RequestMeta(ip="203.0.113.9", user_agent="pytest")

pytestmark = needs_postgres


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    with _own_postgres() as server:
        yield server


def test_sign_ins_during_a_postgres_restart_do_not_lock_the_account(
    own_postgres: OwnPostgres, settings: Settings, ephemeral: EphemeralStore
) -> None:
    upgrade(own_postgres.url)
    db = Database.from_url(own_postgres.url)
    services = build_services(settings, db=db, ephemeral=ephemeral, background_delivery=False)
    try:
        Factory(services).account(username="alice")
        for i in range(2):
            services.login.submit(username="alice", password=f"bad {i}", meta=META)

        own_postgres.stop()
        for _ in range(3 * settings.lockout.max_failures):
            # Whatever error the unit of work makes of a dead database (item 2 maps it
            # to a 503); what matters here is what it leaves behind.
            with pytest.raises(Exception):  # noqa: B017
                services.login.submit(username="alice", password=PASSWORD, meta=META)
        own_postgres.start()

        # The right password works at once (before the fix: refused for 12 hours).
        assert services.login.submit(username="alice", password=PASSWORD, meta=META).ok
    finally:
        services.outbox_worker.stop()
        db.dispose()
