"""Redis or PostgreSQL down or hung: a 503 with Retry-After, one log line, and
recovery without a restart (issue 8, item 2; invariant 10).

Before: every endpoint answered a generic 500 with a traceback in the log, and a
hung Redis held the request for as long as the kernel kept the socket open.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.notify.outbox import Dispatcher, DispatchReport, run_dispatch_loop
from idp.store.sql.database import Database

from ..conftest import Factory
from ..helpers import OIDCActions, basic, csrf_token, message_ids
from ..servers import OwnPostgres, OwnRedis
from .conftest import wait_for_recovery


def _client_credentials(oidc: OIDCActions, rp: Any) -> TestResponse:
    secret = oidc.factory.secrets[rp.client_id]
    return oidc.client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(rp.client_id, secret)
    )


def _sign_in(client: FlaskClient, password: str = "correct horse battery staple") -> TestResponse:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    data = {"username": "alice", "password": password, "csrf_token": csrf_token(page.text)}
    return client.post("/login", data=data)


def _assert_json_503(response: TestResponse) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "temporarily_unavailable"


def _assert_page_503(response: TestResponse) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    assert message_ids(response.text) == ["unavailable"]


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def rp(factory: Factory) -> Any:
    factory.account()
    return factory.client()


def test_redis_killed_gives_503_one_log_line_each_and_recovers(
    oidc: OIDCActions, rp: Any, redis_server: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    assert _client_credentials(oidc, rp).status_code == 200
    redis_server.kill()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _assert_json_503(_client_credentials(oidc, rp))
        _assert_page_503(_sign_in(oidc.client))
    lines = _outage_lines(caplog)
    assert [r.getMessage() for r in lines] == [
        "dependency unavailable: redis (POST /token)",
        "dependency unavailable: redis (POST /login)",
    ]
    assert not any(r.exc_info for r in lines)

    redis_server.start()
    wait_for_recovery()
    assert _client_credentials(oidc, rp).status_code == 200
    assert _sign_in(oidc.client).status_code == 303


@pytest.mark.parametrize(
    ("method", "path", "needs_client"),
    [
        ("GET", "/userinfo", False),
        ("POST", "/introspect", True),
        ("POST", "/revoke", True),
        ("POST", "/api/invitations", False),
    ],
)
def test_every_protocol_endpoint_and_json_api_answers_temporarily_unavailable(
    oidc: OIDCActions, rp: Any, redis_server: OwnRedis, method: str, path: str, needs_client: bool
) -> None:
    token = _client_credentials(oidc, rp).get_json()["access_token"]
    redis_server.kill()
    headers = {"Authorization": f"Bearer {token}"}
    data: dict[str, str] = {}
    if needs_client:
        headers = basic(rp.client_id, oidc.factory.secrets[rp.client_id])
        data = {"token": token}
    response = oidc.client.open(path, method=method, headers=headers, data=data)
    _assert_json_503(response)


def test_the_failed_sign_ins_did_not_count_toward_the_lockout(
    oidc: OIDCActions, rp: Any, redis_server: OwnRedis, settings: Any
) -> None:
    redis_server.kill()
    for _ in range(settings.lockout.max_failures + 1):
        assert _sign_in(oidc.client, password="wrong password").status_code == 503
    redis_server.start()
    wait_for_recovery()
    assert _sign_in(oidc.client).status_code == 303


def test_a_hung_redis_gets_a_503_after_the_timeout_not_a_stuck_worker(
    oidc: OIDCActions, rp: Any, redis_server: OwnRedis
) -> None:
    answers: list[TestResponse] = []
    redis_server.freeze()
    try:
        worker = threading.Thread(target=lambda: answers.append(_client_credentials(oidc, rp)))
        worker.start()
        # A liveness guard, not a timing assertion: without a socket timeout the
        # request would wait for as long as Redis stays frozen (here: forever).
        worker.join(timeout=30)
        assert not worker.is_alive(), "the request is still waiting for a frozen Redis"
        _assert_json_503(answers[0])
    finally:
        redis_server.thaw()
    wait_for_recovery()
    assert _client_credentials(oidc, rp).status_code == 200


def test_postgres_stopped_gives_503_and_recovers_after_restart(
    pg_oidc: OIDCActions, pg_server: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    pg_oidc.factory.account()
    rp = pg_oidc.factory.client()
    assert _client_credentials(pg_oidc, rp).status_code == 200
    pg_server.stop()
    try:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            _assert_json_503(_client_credentials(pg_oidc, rp))
            _assert_page_503(_sign_in(pg_oidc.client))
        messages = [r.getMessage() for r in _outage_lines(caplog)]
        assert messages == [
            "dependency unavailable: database (POST /token)",
            "dependency unavailable: database (POST /login)",
        ]
    finally:
        pg_server.start()
    assert _client_credentials(pg_oidc, rp).status_code == 200
    assert _sign_in(pg_oidc.client).status_code == 303


def test_a_code_exchange_that_fails_on_postgres_can_be_retried(
    pg_oidc: OIDCActions, pg_server: OwnPostgres
) -> None:
    """The code was taken from Redis before the database failed: it is put back, so
    the retry is an ordinary exchange, not a replay that revokes the grant."""
    pg_oidc.factory.account()
    rp = pg_oidc.factory.client()
    req = pg_oidc.request(rp)
    code = pg_oidc.code_for(req)
    pg_server.stop()
    try:
        _assert_json_503(pg_oidc.exchange(rp, req, code))
    finally:
        pg_server.start()
    response = pg_oidc.exchange(rp, req, code)
    assert response.status_code == 200, response.text
    assert pg_oidc.refresh(rp, response.get_json()["refresh_token"]).status_code == 200


def test_the_outbox_worker_logs_one_line_per_round_while_postgres_is_down(
    pg_server: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database.from_url(pg_server.url, connect_timeout=2)
    dispatcher = Dispatcher(db, {})
    stop = threading.Event()
    pg_server.stop()
    try:
        with caplog.at_level(logging.WARNING):
            loop = threading.Thread(
                target=run_dispatch_loop,
                kwargs={"dispatcher": dispatcher, "interval": 0.05, "stop": stop},
            )
            loop.start()
            for _ in range(200):
                if len(caplog.records) >= 3:
                    break
                stop.wait(0.05)
            stop.set()
            loop.join(timeout=30)
        messages = {r.getMessage() for r in caplog.records}
        assert len(caplog.records) >= 3
        assert messages == {"outbox: database unavailable; trying again in 0.05 s"}
        assert not any(r.exc_info for r in caplog.records)
    finally:
        pg_server.start()
    # The same dispatcher works again once the server is back: nothing to restart.
    assert dispatcher.send_due() == DispatchReport()
    db.dispose()
