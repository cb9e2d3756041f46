"""Sign-in, tokens, refresh, logout and lockout on a Redis Cluster and under Sentinel,
and a Sentinel fail-over that the provider follows without a restart."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from idp.errors import UnavailableError
from idp.store.redis import RedisEphemeralStore

from ..conftest import Factory
from ..helpers import OIDCActions, csrf_token, message_ids, query
from ..redis_topologies import SentinelSetup


@pytest.fixture
def rp(factory: Factory) -> Any:
    factory.account()
    return factory.client()


def test_code_flow_refresh_introspection_and_logout(oidc: OIDCActions, rp: Any) -> None:
    tokens = oidc.tokens(rp)
    assert oidc.userinfo(tokens["access_token"]).status_code == 200
    refreshed = oidc.refresh(rp, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    # The rotated refresh token is dead; reusing it revokes the family (exactly once).
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 400
    assert oidc.userinfo(refreshed.get_json()["access_token"]).status_code == 401
    # SSO, then logout ends it.
    again = oidc.authorize(oidc.request(rp, extra={"prompt": "none"}))
    assert "code" in query(again.headers["Location"])
    oidc.client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    after = oidc.authorize(oidc.request(rp, extra={"prompt": "none"}))
    assert query(after.headers["Location"]).get("error") == "login_required"


def test_lockout_counts_exactly_five(oidc: OIDCActions, rp: Any) -> None:
    for _ in range(5):
        page = oidc.client.get("/login")
        wrong = oidc.client.post(
            "/login",
            data={"username": "alice", "password": "wrong", "csrf_token": csrf_token(page.text)},
        )
        assert wrong.status_code == 401
    page = oidc.client.get("/login")
    locked = oidc.client.post(
        "/login",
        data={
            "username": "alice",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert locked.status_code in (401, 423, 429)
    assert message_ids(locked.text) == ["account_locked"]


def test_the_store_follows_a_sentinel_fail_over(sentinel: tuple[SentinelSetup, int]) -> None:
    setup, sentinel_port = sentinel
    store = RedisEphemeralStore.from_url(setup.url, timeout=1.0, prefix="failover:")
    try:
        store.put("kept", "before", ttl=300)
        primary = redis.Redis(port=setup.primary_port)
        assert primary.wait(1, 5000) == 1  # the replica has it
        primary.close()
        setup.kill_primary()
        deadline = time.monotonic() + 45
        while True:
            try:
                store.put("written", "after", ttl=300)
                break
            except UnavailableError:
                assert time.monotonic() < deadline, "no new primary within 45 s"
                time.sleep(0.5)
        assert setup.current_primary_port(sentinel_port) == setup.replica_port
        assert store.get("kept") == "before"
        assert store.get("written") == "after"
    finally:
        store.close()
