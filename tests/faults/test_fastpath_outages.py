"""The fast path (idp/web/fastpath.py) answers a dependency outage exactly as Flask does:
the 503 with Retry-After, the same body and headers, and nothing changed (invariant 10).

Each request is sent to the provider without the fast path and to the provider with
it, each on fresh state, while Redis is killed or PostgreSQL stopped just for that
request (tests/fastpath_compare.py compares the answers, the audit events and the
rows written). PostgreSQL going away at the commit, after the flow chose its answer,
is the case the fast path settles itself: it must roll back and answer Flask's 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from idp.app import create_app
from idp.services import Services

from ..conftest import Factory
from ..fastpath_compare import (
    Answer,
    Env,
    Outage,
    Sent,
    assert_same_answer,
    code_exchange,
    post,
    request,
)
from ..helpers import OIDCActions, bearer
from ..servers import OwnPostgres, OwnRedis
from .conftest import wait_for_recovery


def _client_credentials(env: Env) -> Sent:
    return post("/token", {"grant_type": "client_credentials"}, headers=env.basic())


def _refresh(env: Env) -> Sent:
    data = {"grant_type": "refresh_token", "refresh_token": env.tokens()["refresh_token"]}
    return post("/token", data, headers=env.basic())


def _introspect(env: Env) -> Sent:
    return post("/introspect", {"token": env.tokens()["access_token"]}, headers=env.basic())


def _introspect_refresh(env: Env) -> Sent:
    return post("/introspect", {"token": env.tokens()["refresh_token"]}, headers=env.basic())


def _revoke_access(env: Env) -> Sent:
    return post("/revoke", {"token": env.tokens()["access_token"]}, headers=env.basic())


def _revoke_refresh(env: Env) -> Sent:
    return post("/revoke", {"token": env.tokens()["refresh_token"]}, headers=env.basic())


def _userinfo(env: Env) -> Sent:
    return request("GET", "/userinfo", headers=bearer(env.tokens()["access_token"]))


CASES: dict[str, Callable[[Env], Sent]] = {
    "client_credentials": _client_credentials,
    "code_exchange": code_exchange,
    "refresh": _refresh,
    "introspect_access_token": _introspect,
    "introspect_refresh_token": _introspect_refresh,
    "revoke_access_token": _revoke_access,
    "revoke_refresh_token": _revoke_refresh,
    "userinfo": _userinfo,
}


def _env(oidc: OIDCActions, factory: Factory, services: Services) -> Env:
    return Env.make(oidc, factory, services)


def _unavailable_or_answered(answer: Answer) -> None:
    """Either the request needed the dependency (the 503), or it did not need it."""
    if answer.status.startswith("503"):
        assert dict(answer.headers)["Retry-After"] == "5"
        assert b"temporarily_unavailable" in answer.body
        assert answer.audit == [] and not any(answer.rows.values())


@pytest.mark.parametrize("case", sorted(CASES))
def test_redis_killed(
    app: Flask,
    services: Services,
    oidc: OIDCActions,
    factory: Factory,
    redis_server: OwnRedis,
    case: str,
) -> None:
    env = _env(oidc, factory, services)

    def back() -> None:
        redis_server.start()
        wait_for_recovery()

    answer = assert_same_answer(
        fast_app=app,
        flask_app=create_app(services=services, fast_path=False),
        services=services,
        prepare=lambda: CASES[case](env),
        answered_fast=True,
        check=_unavailable_or_answered,
        outage=Outage(stop=redis_server.kill, start=back),
    )
    # Every one of these requests needs Redis.
    assert answer.status == "503 SERVICE UNAVAILABLE"


@pytest.fixture
def pg_apps(pg_services: Services) -> Iterator[tuple[Flask, Flask]]:
    yield create_app(services=pg_services), create_app(services=pg_services, fast_path=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_postgres_stopped(
    pg_apps: tuple[Flask, Flask], pg_services: Services, pg_server: OwnPostgres, case: str
) -> None:
    fast_app, flask_app = pg_apps
    factory = Factory(pg_services)
    env = _env(OIDCActions(fast_app.test_client(), factory), factory, pg_services)
    assert_same_answer(
        fast_app=fast_app,
        flask_app=flask_app,
        services=pg_services,
        prepare=lambda: CASES[case](env),
        answered_fast=True,
        check=_unavailable_or_answered,
        outage=_postgres_outage(pg_server, pg_services),
    )


def test_postgres_gone_at_the_commit_is_a_503_with_nothing_written(
    pg_apps: tuple[Flask, Flask], pg_services: Services, pg_server: OwnPostgres
) -> None:
    """A client credentials token is issued from caches and Redis; only its audit event
    needs PostgreSQL, at the commit, after the flow answered 200: the 503 replaces it
    and the access token is deleted again (the unit of work's undo step)."""
    fast_app, flask_app = pg_apps
    factory = Factory(pg_services)
    env = _env(OIDCActions(fast_app.test_client(), factory), factory, pg_services)
    # The client is in this process's cache from here on.
    assert fast_app.test_client().post(**_as_kw(_client_credentials(env))).status_code == 200
    assert flask_app.test_client().post(**_as_kw(_client_credentials(env))).status_code == 200
    answer = assert_same_answer(
        fast_app=fast_app,
        flask_app=flask_app,
        services=pg_services,
        prepare=lambda: _client_credentials(env),
        answered_fast=True,
        outage=_postgres_outage(pg_server, pg_services),
    )
    assert answer.status == "503 SERVICE UNAVAILABLE"
    assert answer.audit == [] and not any(answer.rows.values())


def _postgres_outage(server: OwnPostgres, services: Services) -> Outage:
    def back() -> None:
        server.start()
        # The pool's connections died with the server; the test's own reads that follow
        # should not be the ones to find out.
        services.db.engine.dispose()

    return Outage(stop=server.stop, start=back)


def _as_kw(sent: Sent) -> dict[str, object]:
    return {"path": sent.path, **sent.kw}
