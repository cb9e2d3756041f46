"""Operations against the real server: metrics across gunicorn workers, JSON logs with
request ids, and readiness following a Redis of our own as it goes down and comes back.

The provider is started the way production starts it (tests/live.py): gunicorn, two
workers, ``PROMETHEUS_MULTIPROC_DIR`` set, the JSON logger. The Redis of the fault
test is a ``redis-server`` this test starts on a free port and stops; the machine's
shared Redis is never touched.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.live import Backend, LiveProvider, live_provider, read_json_log
from tests.ops.scrape import value

from .webclient import PatientBrowser, query

pytestmark = pytest.mark.live

REDIRECT_URI = "http://127.0.0.1:9/callback"


def scrape(live: LiveProvider) -> str:
    # A new connection each time: any worker may answer, and each sees every worker's counts.
    with requests.get(
        live.endpoint("/metrics"), timeout=10, headers={"Connection": "close"}
    ) as response:
        assert response.status_code == 200, response.text
        return response.text


def test_counters_move_during_a_live_sign_in_and_token_exchange(live: LiveProvider) -> None:
    rp = live.add_client(name="Metrics portal", redirect_uris=[REDIRECT_URI])
    account = live.add_account()
    before = scrape(live)
    with (
        OAuth2Session(
            rp.client_id,
            rp.client_secret,
            scope="openid profile",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        ) as oauth,
        PatientBrowser(fresh_connections=True) as browser,
    ):
        verifier = generate_token(48)
        url, state = oauth.create_authorization_url(
            live.endpoint("/authorize"), code_verifier=verifier, nonce=generate_token(20)
        )
        journey = browser.authorize(
            url, stop_at=REDIRECT_URI, username=account.username, password=account.password
        )
        assert query(journey.final_url)["state"] == state
        oauth.fetch_token(
            live.endpoint("/token"),
            authorization_response=journey.final_url,
            state=state,
            code_verifier=verifier,
        )
    after = scrape(live)
    signed_in = dict(event="login", outcome="success", reason="signed_in")
    assert value(after, "idp_signins_total", **signed_in) == (
        value(before, "idp_signins_total", **signed_in) + 1
    )
    grant = dict(grant_type="authorization_code", client_id=rp.client_id)
    assert value(after, "idp_token_grants_total", **grant) == 1
    # Every request of the journey was counted, whichever worker served it.
    login = dict(route="/login", method="POST")
    assert value(after, "idp_http_request_duration_seconds_count", **login) >= (
        value(before, "idp_http_request_duration_seconds_count", **login) + 1
    )
    assert value(after, "idp_outbox_backlog_up") == 1


def test_request_ids_reach_the_json_access_log(live: LiveProvider) -> None:
    mine = f"probe-{secrets.token_hex(8)}"
    with requests.get(
        live.endpoint("/livez"), headers={"X-Request-ID": mine}, timeout=10
    ) as response:
        assert response.headers["X-Request-ID"] == mine
    with requests.get(
        live.endpoint("/livez"), headers={"X-Request-ID": 'x" injected'}, timeout=10
    ) as response:
        replaced = response.headers["X-Request-ID"]
    assert replaced != 'x" injected'
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # gunicorn writes the line after the response
        lines = read_json_log(live.access_log_path)
        ids = {line.get("request_id") for line in lines}
        if {mine, replaced} <= ids:
            break
        time.sleep(0.05)
    line = next(doc for doc in lines if doc.get("request_id") == mine)
    assert line["path"] == "/livez" and line["status"] == "200" and line["method"] == "GET"
    assert "injected" not in live.access_log_path.read_text()
    # The server log is JSON lines too (gunicorn's own lines included).
    assert read_json_log(live.log_path)


def test_protocol_requests_answered_before_flask_are_counted_logged_and_tagged(
    live: LiveProvider,
) -> None:
    """The fast path (idp/web/fastpath.py) sits inside the request id, metrics and
    access-log layers: its answers carry the id, count under the Flask rule's label and
    get their access line like any other."""
    rp = live.add_client(name="Fast path portal", redirect_uris=[REDIRECT_URI])
    mine = f"probe-{secrets.token_hex(8)}"
    before = scrape(live)
    with requests.post(
        live.endpoint("/token"),
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, rp.client_secret or ""),
        headers={"X-Request-ID": mine},
        timeout=10,
    ) as response:
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == mine
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
    after = scrape(live)
    token = dict(route="/token", method="POST")
    assert value(after, "idp_http_request_duration_seconds_count", **token) >= (
        value(before, "idp_http_request_duration_seconds_count", **token) + 1
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # gunicorn writes the line after the response
        lines = [
            doc for doc in read_json_log(live.access_log_path) if doc.get("request_id") == mine
        ]
        if lines:
            break
        time.sleep(0.05)
    assert lines and lines[0]["path"] == "/token" and lines[0]["status"] == "200"


# --- readiness with a Redis of our own ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server on a free loopback port, started and stopped by this test only."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def readyz(live: LiveProvider) -> tuple[int, dict[str, Any]]:
    with requests.get(
        live.endpoint("/readyz"), timeout=10, headers={"Connection": "close"}
    ) as response:
        return response.status_code, response.json()


def test_readyz_follows_our_own_redis_down_and_back(own_redis: OwnRedis) -> None:
    backend = Backend(postgres_url=Backend.from_env().postgres_url, redis_url=own_redis.url)
    with live_provider(backend=backend) as live:
        rp = live.add_client(name="Readiness portal", redirect_uris=[REDIRECT_URI])
        status, body = readyz(live)
        assert status == 200, body
        assert body["checks"] == {"database": "ok", "ephemeral_store": "ok", "signing_keys": "ok"}

        own_redis.stop()
        before = scrape(live)
        status, body = readyz(live)
        assert status == 503, body
        assert body["failed"] == ["ephemeral_store"]
        assert body["checks"]["database"] == "ok"
        assert "127.0.0.1" not in str(body)  # the kind of error, not where
        # A request that needs Redis fails, and is counted as a dependency error.
        authorize = requests.get(
            live.endpoint("/authorize"),
            params={
                "client_id": rp.client_id,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": "openid",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=30,
        )
        assert authorize.status_code >= 500
        assert authorize.headers["X-Request-ID"]
        after = scrape(live)
        assert value(after, "idp_dependency_errors_total", dependency="ephemeral") == (
            value(before, "idp_dependency_errors_total", dependency="ephemeral") + 1
        )
        # Liveness never asked Redis.
        with requests.get(live.endpoint("/livez"), timeout=10) as response:
            assert response.status_code == 200

        own_redis.start()
        deadline = time.monotonic() + 10
        while (status := readyz(live)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
