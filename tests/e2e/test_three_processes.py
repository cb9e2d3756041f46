"""Three provider processes behind a round-robin proxy, one PostgreSQL, one Redis.

Issue 14, item 4: horizontal scale on the engines we already use. Three separate
gunicorn processes (not workers of one arbiter: nothing is shared but the database,
Redis, the key directory and the settings) sit behind a tiny loopback HTTP proxy that
sends each request to the next process in turn, so every step of a journey lands on
a different process. A full sign-in, code exchange, UserInfo, refresh rotation with
reuse detection, logout and a lockout must behave exactly as on one process.

Runs on PostgreSQL + Redis (CI's second run); SQLite and the SQLite ephemeral store
are one-machine defaults and are not meant for three processes.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from idp.oidc.keys import generate_keys
from idp.settings import PROJECT_ROOT
from idp.store.sql.database import Database, upgrade
from tests.live import (
    ACCESS_LOG_FORMAT,
    LOGGER_CLASS,
    Backend,
    LiveProvider,
    _database,
    _server_env,
    _stop,
)

from ..servers import free_port
from .webclient import PatientBrowser, query

pytestmark = pytest.mark.live

REDIRECT_URI = "http://127.0.0.1:9/callback"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class RoundRobin:
    """Each request to the next backend in turn; remembers who served what."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._lock = threading.Lock()
        self.served: Counter[int] = Counter()
        self.path_ports: list[tuple[str, int]] = []

    def next_port(self, path: str) -> int:
        with self._lock:
            port = next(self._ports)
            self.served[port] += 1
            self.path_ports.append((path.split("?")[0], port))
            return port


@contextmanager
def round_robin_proxy(balancer: RoundRobin) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            port = balancer.next_port(self.path)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status, reply.reason)
                for name, value in reply.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                # One request per connection, said out loud: a client that pooled the
                # connection would otherwise find it closed on its next request.
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(data)
            finally:
                upstream.close()

        do_GET = do_POST = do_HEAD = _forward  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def three_providers(backend: Backend) -> Iterator[tuple[LiveProvider, RoundRobin]]:
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="idp-three-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        database_url = stack.enter_context(_database(backend, tmp))
        upgrade(database_url)
        keys_dir = tmp / "keys"
        generate_keys(keys_dir, now=int(time.time()))
        db = Database.from_url(database_url)
        stack.callback(db.dispose)
        ports = [free_port() for _ in range(3)]
        balancer = RoundRobin(ports)
        proxy_port = stack.enter_context(round_robin_proxy(balancer))
        # One set of settings for all three (issuer = the proxy, one secret key), as a
        # deployment behind a load balancer has.
        env = _server_env(
            tmp=tmp,
            port=proxy_port,
            backend=backend,
            database_url=database_url,
            keys_dir=keys_dir,
            password_hashing="test",
            extra_env={},
        )
        processes = []
        for port in ports:
            metrics = tmp / f"metrics-{port}"
            metrics.mkdir()
            log = (tmp / f"server-{port}.log").open("wb")
            stack.callback(log.close)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--no-control-socket",
                    "--graceful-timeout",
                    "5",
                    "--access-logfile",
                    str(tmp / f"access-{port}.log"),
                    "--access-logformat",
                    ACCESS_LOG_FORMAT,
                    "--logger-class",
                    LOGGER_CLASS,
                    "idp.app:create_app()",
                ],
                cwd=PROJECT_ROOT,
                env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            processes.append(process)
            stack.callback(_stop, process)
        for port, process in zip(ports, processes, strict=True):
            _wait_up(port, process, tmp / f"server-{port}.log")
        provider = LiveProvider(
            url=f"http://127.0.0.1:{proxy_port}",
            port=proxy_port,
            workers=3,
            backend=backend,
            database_url=database_url,
            keys_dir=keys_dir,
            password_hashing="test",
            process=processes[0],
            log_path=tmp / f"server-{ports[0]}.log",
            access_log_path=tmp / f"access-{ports[0]}.log",
            db=db,
        )
        yield provider, balancer


def _wait_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"provider on {port} exited:\n{log.read_text()[-3000:]}")
        try:
            with requests.get(f"http://127.0.0.1:{port}/livez", timeout=2) as response:
                if response.status_code == 200:
                    return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"provider on {port} did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[LiveProvider, RoundRobin]]:
    backend = Backend.from_env()
    if not (backend.postgres_url and backend.redis_url):
        pytest.skip("three processes need PostgreSQL + Redis (IDP_TEST_DATABASE_URL/REDIS_URL)")
    with three_providers(backend) as pair:
        yield pair


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sign_in(live: LiveProvider, client_id: str, browser: PatientBrowser, account: Any) -> dict:
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "consent",
    }
    journey = browser.authorize(
        live.endpoint("/authorize?" + urlencode(params)),
        stop_at=REDIRECT_URI,
        username=account.username,
        password=account.password,
    )
    callback = query(journey.final_url)
    assert callback.get("state") == state, callback
    return {"code": callback["code"], "verifier": verifier}


def _exchange(live: LiveProvider, step: dict, auth: tuple[str, str]) -> requests.Response:
    """The code of ``step`` at the token endpoint (whichever process the proxy picks)."""
    return requests.post(
        live.endpoint("/token"),
        data={
            "grant_type": "authorization_code",
            "code": step["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": step["verifier"],
        },
        auth=auth,
        timeout=30,
    )


def test_sign_in_tokens_refresh_logout_and_lockout_across_three_processes(
    cluster: tuple[LiveProvider, RoundRobin],
) -> None:
    live, balancer = cluster
    client = live.add_client(name="Three-process portal", redirect_uris=[REDIRECT_URI])
    account = live.add_account(first_name="Katherine", last_name="Johnson")
    auth = (client.client_id, client.client_secret)

    # Sign-in: every page of the journey goes to the next process.
    balancer.path_ports.clear()
    with PatientBrowser(fresh_connections=True) as browser:
        step = _sign_in(live, client.client_id, browser, account)
        journey_ports = {port for _, port in balancer.path_ports}
        assert len(journey_ports) == 3, balancer.path_ports

        token = _exchange(live, step, auth)
        assert token.status_code == 200, token.text
        tokens = token.json()
        # The code is single use on every process.
        replay = _exchange(live, step, auth)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"

        # UserInfo and introspection answer the same on each process.
        for _ in range(3):
            info = requests.get(
                live.endpoint("/userinfo"),
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                timeout=30,
            )
            assert info.status_code == 401  # the replay above revoked this grant (RFC 6749 §4.1.2)

        # A fresh sign-in (SSO: no password page) for the refresh part.
        step = _sign_in(live, client.client_id, browser, account)
        tokens = _exchange(live, step, auth).json()
        for _ in range(3):
            introspected = requests.post(
                live.endpoint("/introspect"),
                data={"token": tokens["access_token"]},
                auth=auth,
                timeout=30,
            ).json()
            assert introspected["active"] is True

        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        rotated = requests.post(live.endpoint("/token"), data=refresh, auth=auth, timeout=30)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        reused = requests.post(live.endpoint("/token"), data=refresh, auth=auth, timeout=30)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        # Reuse revoked the family: the rotated tokens are dead on every process.
        for _ in range(3):
            dead = requests.post(
                live.endpoint("/introspect"),
                data={"token": new["access_token"]},
                auth=auth,
                timeout=30,
            ).json()
            assert dead == {"active": False}

        # Logout on one process ends the session for all of them.
        with browser.http.get(
            live.endpoint("/logout"),
            params={"id_token_hint": tokens["id_token"]},
            allow_redirects=False,
            timeout=30,
        ) as bye:
            assert bye.status_code == 200, bye.text
        for _ in range(3):
            verifier, challenge = _pkce()
            silent = browser.http.get(
                live.endpoint("/authorize"),
                params={
                    "response_type": "code",
                    "client_id": client.client_id,
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid",
                    "state": "s",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "prompt": "none",
                },
                allow_redirects=False,
                timeout=30,
            )
            assert query(silent.headers["Location"]).get("error") == "login_required"

    # Lockout: five wrong passwords, each on the next process, lock the account: the
    # fifth is answered with the lock (as on one process), and so is the right password.
    live.track_username(account.username)
    with PatientBrowser(fresh_connections=True) as browser:
        answers = []
        for password in ["wrong-1", "wrong-2", "wrong-3", "wrong-4", "wrong-5", account.password]:
            page = browser.http.get(live.endpoint("/login"), timeout=30)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf, page.text[:500]
            reply = browser.http.post(
                live.endpoint("/login"),
                data={"username": account.username, "password": password, "csrf_token": csrf[1]},
                allow_redirects=False,
                timeout=30,
            )
            answers.append(re.findall(r'data-message-id="([^"]+)"', reply.text))
        assert answers[:4] == [["invalid_credentials"]] * 4, answers
        assert answers[4:] == [["account_locked"]] * 2, answers
    assert len(balancer.served) == 3 and min(balancer.served.values()) > 10
