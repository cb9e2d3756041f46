"""Liveness and readiness for load balancers and orchestrators (issue 14, item 3).

``/livez`` answers from the process alone: it says the worker is running and can
serve a request, nothing more. A liveness probe that called the database would
have every provider restarted when the database blinks, which fixes nothing.

``/readyz`` says whether this process can do its job now: the database (and its
read replica, when ``IDP_DATABASE_REPLICA_URL`` names one) answers, the ephemeral
store (Redis, or the SQLite file) answers, and a signing key is loaded for every
algorithm clients may ask for. Each check runs with a short deadline
(:data:`CHECK_TIMEOUT`), so a hung dependency makes the probe fail quickly instead
of hanging the load balancer's probe. A 503 names what failed, by
the kind of error only: no URLs, hosts or messages that could carry credentials.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from idp.oidc.keys import SUPPORTED_ALGS
from idp.services import Services

from .deps import services

bp = Blueprint("health", __name__)

# Seconds a readiness check may take. Load balancers probe every few seconds with
# their own timeout (often 5 s); two checks run side by side within this.
CHECK_TIMEOUT = 2.0


def _check_database(svc: Services) -> None:
    with svc.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_replica(svc: Services) -> None:
    replica = getattr(svc.db, "replica", None)
    assert replica is not None  # listed only when configured (_checks_for)
    with replica.connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_ephemeral(svc: Services) -> None:
    svc.ephemeral.ping()


def _check_keys(svc: Services) -> None:
    for alg in SUPPORTED_ALGS:
        svc.keys.signing_key(alg)


CHECKS: dict[str, Callable[[Services], None]] = {
    "database": _check_database,
    "ephemeral_store": _check_ephemeral,
    "signing_keys": _check_keys,
}


def _checks_for(svc: Services) -> dict[str, Callable[[Services], None]]:
    """The read replica is checked only where one is configured: readers need it."""
    if getattr(svc.db, "replica", None) is None:
        return CHECKS
    return {**CHECKS, "database_replica": _check_replica}


def run_checks(svc: Services, *, timeout: float = CHECK_TIMEOUT) -> dict[str, str]:
    """Run every check in its own thread; ``{"name": "ok" | "<ErrorClass>" | "timeout"}``.

    Threads, not a pool: a check stuck in a driver keeps its thread until the
    driver gives up, and must not hold up the next probe's checks.
    """
    results: dict[str, str] = {}
    threads = []

    def run(name: str, check: Callable[[Services], None]) -> None:
        try:
            check(svc)
        except Exception as exc:  # any failure means "not ready"; report its kind
            results[name] = type(exc).__name__
        else:
            results[name] = "ok"

    checks = _checks_for(svc)
    for name, check in checks.items():
        thread = threading.Thread(target=run, args=(name, check), daemon=True)
        thread.start()
        threads.append((name, thread))
    deadline = time.monotonic() + timeout
    for _name, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: results.get(name, "timeout") for name in checks}


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/livez")
def livez() -> Response:
    return _no_store(jsonify({"status": "alive"}))


@bp.get("/readyz")
def readyz() -> Response:
    checks = run_checks(services())
    failed = [name for name, result in checks.items() if result != "ok"]
    if not failed:
        return _no_store(jsonify({"status": "ready", "checks": checks}))
    body: dict[str, Any] = {"status": "unavailable", "failed": failed, "checks": checks}
    response = jsonify(body)
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return _no_store(response)
