"""The audit group committer across a PostgreSQL restart (issue 12 follow-up).

Before: the committer kept its connection between batches, so the first batch after
a restart went out on a dead connection and every request in it was answered 503,
though the server was back. Now a lost connection is replaced, the batch is looked
for (it may have committed with only the reply lost) and written once if it is not.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.app import create_app
from idp.audit.chain import checkpoint_key
from idp.services import Services
from idp.settings import Settings
from idp.store.sql import models
from idp.store.sql.database import Database, make_engine
from idp.store.sql.models import Base

from ..conftest import Factory
from ..helpers import OIDCActions, basic
from ..servers import OwnPostgres, OwnRedis
from .conftest import build_on


def _services_on(settings: Settings, url: str, redis_server: OwnRedis) -> Iterator[Services]:
    """The provider on the private PostgreSQL (emptied) at ``url``, its audit committer
    keeping its connection between batches for a minute: as under steady load, where
    batches follow each other and a restart falls between two of them."""
    db = Database(make_engine(url, connect_timeout=2), audit_idle_seconds=60)
    with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    services = build_on(settings.with_overrides(database_url=url), db, redis_server)
    yield services
    services.outbox_worker.stop()
    db.dispose()


@pytest.fixture
def held_services(
    settings: Settings, pg_server: OwnPostgres, redis_server: OwnRedis
) -> Iterator[Services]:
    yield from _services_on(settings, pg_server.url, redis_server)


class CuttingRelay:
    """A TCP relay in front of PostgreSQL that loses one exchange, as a network does.

    Armed with a marker (bytes of one statement's parameters) it cuts the connection
    that sends them: before they reach the server (``"request"``: nothing ran), or
    once the server has answered (``"reply"``: the statement committed, the client
    never hears it).
    """

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._lose = "reply"
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes, lose: str) -> None:
        with self._lock:
            self._marker, self._lose = marker, lose

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            doomed = threading.Event()  # this connection's next reply is lost
            for args in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(*args, doomed), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, doomed: threading.Event
    ) -> None:
        try:
            while data := src.recv(65536):
                if up:
                    with self._lock:
                        hit = self._marker is not None and self._marker in data
                        if hit:
                            self._marker = None
                    if hit and self._lose == "request":
                        self._cut(src, dst)
                        return
                    if hit:
                        doomed.set()
                elif doomed.is_set():
                    self._cut(src, dst)
                    return
                dst.sendall(data)
        except OSError:
            pass
        for end in (src, dst):
            end.close()

    def _cut(self, src: socket.socket, dst: socket.socket) -> None:
        self.cuts += 1
        for end in (src, dst):
            end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.fixture
def relay(pg_server: OwnPostgres) -> Iterator[CuttingRelay]:
    relay = CuttingRelay(pg_server.port)
    yield relay
    relay.close()


@pytest.fixture
def relayed_services(
    settings: Settings, pg_server: OwnPostgres, redis_server: OwnRedis, relay: CuttingRelay
) -> Iterator[Services]:
    url = pg_server.url.replace(f":{pg_server.port}/", f":{relay.port}/")
    yield from _services_on(settings, url, redis_server)


def _client_credentials(oidc: OIDCActions, rp: Any) -> TestResponse:
    secret = oidc.factory.secrets[rp.client_id]
    return oidc.client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(rp.client_id, secret)
    )


def _issued(services: Services) -> int:
    with services.db.session() as session:
        query = select(func.count()).where(models.AuditEvent.type == "token_issued")
        return int(session.scalar(query) or 0)


def test_the_first_audited_request_after_a_postgres_restart_succeeds(
    held_services: Services, pg_server: OwnPostgres
) -> None:
    oidc = OIDCActions(create_app(services=held_services).test_client(), Factory(held_services))
    oidc.factory.account()
    rp = oidc.factory.client()
    first = _client_credentials(oidc, rp)
    assert first.status_code == 200, first.text
    assert _issued(held_services) == 1

    pg_server.stop()
    pg_server.start()

    second = _client_credentials(oidc, rp)
    assert second.status_code == 200, second.text
    # Written once, and the chain still holds.
    assert _issued(held_services) == 2
    with held_services.db.transaction() as uow:
        assert uow.audit.verify(key=checkpoint_key(held_services.settings.secret_key)) is None


@pytest.mark.parametrize("lose", ["reply", "request"])
def test_an_audit_batch_whose_connection_is_cut_is_written_exactly_once(
    relayed_services: Services, relay: CuttingRelay, lose: str
) -> None:
    """``reply``: the batch committed and only the answer was lost, so it must not be
    written again; ``request``: it never ran, so it must be written now. Either way
    the request gets its token and the trail holds its event once."""
    oidc = OIDCActions(
        create_app(services=relayed_services).test_client(), Factory(relayed_services)
    )
    oidc.factory.account()
    rp = oidc.factory.client()
    assert _client_credentials(oidc, rp).status_code == 200
    relay.arm(b'"token_issued"', lose)

    response = _client_credentials(oidc, rp)
    assert relay.cuts == 1  # the committer's statement was the one cut
    assert response.status_code == 200, response.text
    assert _issued(relayed_services) == 2
    with relayed_services.db.transaction() as uow:
        assert uow.audit.verify(key=checkpoint_key(relayed_services.settings.secret_key)) is None
