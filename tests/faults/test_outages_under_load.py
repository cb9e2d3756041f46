"""Outages under load, across provider processes (issue 8, items 1 and 2).

Two gunicorn worker processes share a private PostgreSQL and a private Redis
(nothing else in common). While sign-ins, refresh chains and client_credentials
requests run, Redis is killed and started again, then PostgreSQL is stopped and
started again. Afterwards:

- every answer was a success (or the refusal a wrong password earns) or a 503:
  no 500 ever, during the faults or after;
- no refresh family was revoked that its client did not reuse (each chain retries
  the same token after a 503, exactly what broke before), and the one family the
  test does reuse on purpose is revoked and audited;
- no lock outlives the lockout setting, and every patient can still sign in.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests
from sqlalchemy import select

from idp.oidc.tokens import token_hash
from idp.store.sql import models

from ..live import Backend, LiveAccount, LiveClient, LiveProvider, live_provider
from ..servers import OwnPostgres, OwnRedis

LOCK_SECONDS = 120
CHAINS = 3
SIGN_INS = 2
# Each phase (healthy, fault, recovered) lasts this long, in seconds.
PHASE = 1.0


@pytest.fixture
def provider(pg_server: OwnPostgres, redis_server: OwnRedis) -> Iterator[LiveProvider]:
    backend = Backend(postgres_url=pg_server.url, redis_url=redis_server.url())
    env = {
        "IDP_REDIS_TIMEOUT": "0.5",
        "IDP_DATABASE_CONNECT_TIMEOUT": "2",
        "IDP_LOCKOUT_SECONDS": str(LOCK_SECONDS),
    }
    with live_provider(backend=backend, workers=2, threads=4, extra_env=env) as live:
        yield live


class Load:
    """Worker threads that record every status they get, per kind of request."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.statuses: dict[str, Counter[int]] = {}
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def record(self, kind: str, status: int) -> None:
        with self._lock:
            self.statuses.setdefault(kind, Counter())[status] += 1

    def run(self, kind: str, step: Callable[[], int]) -> None:
        def loop() -> None:
            while not self.stop.is_set():
                try:
                    status = step()
                except requests.RequestException as exc:
                    status = -1
                    print(f"{kind}: {exc.__class__.__name__}")
                self.record(kind, status)
                time.sleep(0.02)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _seed_family(live: LiveProvider, client: LiveClient, account: LiveAccount) -> str:
    """A refresh token as a code exchange would leave it, written straight to SQL."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with live.db.transaction() as uow:
        record = uow.clients.by_client_id(client.client_id)
        account_id = uow.accounts.by_username(account.username).id
        uow.refresh_tokens.add(
            token_hash=token_hash(token),
            family_id=secrets.token_urlsafe(16),
            client_pk=record.id,
            account_id=account_id,
            scope="openid offline_access",
            claims=None,
            auth_time=int(now.timestamp()),
            now=now,
            expires_at=now + timedelta(days=1),
        )
    return token


class Chain:
    """A client refreshing in a loop; after a 503 it retries the same token."""

    def __init__(self, live: LiveProvider, client: LiveClient, token: str) -> None:
        self.live, self.client, self.token = live, client, token
        self.used: list[str] = []

    def step(self) -> int:
        response = requests.post(
            self.live.endpoint("/token"),
            data={"grant_type": "refresh_token", "refresh_token": self.token},
            auth=(self.client.client_id, self.client.client_secret or ""),
            timeout=20,
        )
        if response.status_code == 200:
            self.used.append(self.token)
            self.token = response.json()["refresh_token"]
        return response.status_code


def _sign_in(live: LiveProvider, account: LiveAccount, password: str | None = None) -> int:
    with requests.Session() as browser:
        page = browser.get(live.endpoint("/login"), timeout=20)
        if page.status_code != 200:
            return page.status_code
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text
        data = {
            "username": account.username,
            "password": account.password if password is None else password,
            "csrf_token": csrf.group(1),
        }
        response = browser.post(
            live.endpoint("/login"), data=data, timeout=20, allow_redirects=False
        )
        return response.status_code


def _client_credentials(live: LiveProvider, client: LiveClient) -> int:
    response = requests.post(
        live.endpoint("/token"),
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret or ""),
        timeout=20,
    )
    return response.status_code


def test_faults_under_load_answer_503_and_revoke_nothing(
    provider: LiveProvider, pg_server: OwnPostgres, redis_server: OwnRedis
) -> None:
    live = provider
    client = live.add_client(redirect_uris=["http://127.0.0.1:9/cb"])
    chains = []
    for _ in range(CHAINS):
        account = live.add_account()
        chains.append(Chain(live, client, _seed_family(live, client, account)))
    patients = [live.add_account() for _ in range(SIGN_INS)]
    stranger_target = live.add_account()

    load = Load()
    for number, chain in enumerate(chains):
        load.run(f"refresh-{number}", chain.step)
    for number, patient in enumerate(patients):
        load.run(f"sign-in-{number}", lambda p=patient: _sign_in(live, p))
    load.run("wrong-password", lambda: _sign_in(live, stranger_target, "not the password"))
    load.run("client-credentials", lambda: _client_credentials(live, client))
    try:
        time.sleep(PHASE)
        redis_server.kill()
        time.sleep(PHASE)
        redis_server.start()
        time.sleep(PHASE)
        pg_server.stop()
        time.sleep(PHASE)
        pg_server.start()
        time.sleep(2 * PHASE)
    finally:
        load.finish()

    statuses = load.statuses
    seen = Counter[int]()
    for counts in statuses.values():
        seen.update(counts)
    assert seen[503] > 0, statuses  # the faults were felt
    for kind, counts in statuses.items():
        allowed = {200, 503} if kind.startswith(("refresh", "client")) else {303, 503}
        if kind == "wrong-password":
            allowed = {401, 423, 429, 503} | {200}
        assert set(counts) <= allowed, (kind, statuses, live.log_tail())
        assert counts[503] < sum(counts.values()), (kind, statuses)  # and recovered

    # No family revoked: every chain goes on from its latest token...
    with live.db.session() as session:
        revoked = session.scalars(
            select(models.RefreshToken.family_id).where(models.RefreshToken.revoked_at.is_not(None))
        ).all()
    assert revoked == []
    for chain in chains:
        assert chain.step() == 200
    # ...and a deliberate reuse still revokes its family, audited in the same commit.
    reused = chains[0]
    reused.token = reused.used[-1]
    assert reused.step() == 400
    with live.db.session() as session:
        revoked = set(
            session.scalars(
                select(models.RefreshToken.family_id).where(
                    models.RefreshToken.revoked_at.is_not(None)
                )
            )
        )
        audited = {
            (e.details or {}).get("grant")
            for e in session.scalars(
                select(models.AuditEvent).where(models.AuditEvent.type == "grant_revoked")
            )
        }
    assert len(revoked) == 1
    assert {family[:12] for family in revoked} == audited

    # No lock outlives the lockout setting; every patient still signs in.
    store = redis.Redis.from_url(redis_server.url(), decode_responses=True)
    try:
        for key in store.scan_iter(match="idp:lock:*"):
            assert store.pttl(key) <= LOCK_SECONDS * 1000, key
    finally:
        store.close()
    for patient in patients:
        assert _sign_in(live, patient) == 303
    assert len(live.served_by().get("/token", set())) == 2  # both processes took part
