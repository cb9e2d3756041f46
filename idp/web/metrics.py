"""``/metrics`` and the request observations behind it (issue 14, item 3).

The scrape is served only to ``IDP_METRICS_ALLOWED_NETWORKS`` (default: this
machine). The numbers are not secret in the way a password is, but they tell an
outsider how many sign-ins fail, which clients are busy and whether a lockout wave
is under way; a monitoring system inside the deployment's network is the only
reader that needs them. The address checked is the one Werkzeug reports, i.e.
after ``IDP_TRUSTED_PROXIES`` decided how much of X-Forwarded-For to believe.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import exc as sa_exc

from idp.metrics import Metrics
from idp.store.redis.ephemeral import RedisUnavailableError
from idp.store.sql.database import DatabaseUnavailable

bp = Blueprint("metrics", __name__)

ROUTE_KEY = "idp.route"
FAILED_DEPENDENCY_KEY = "idp.failed_dependency"
# A request that matched no route (404s, probes for /wp-admin): one series for all.
UNMATCHED = "unmatched"

_DATABASE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    DatabaseUnavailable,
)
_EPHEMERAL_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    RedisUnavailableError,
    # Raw sqlite3 errors come from the SQLite ephemeral store; the database's own go
    # through SQLAlchemy and are wrapped (checked first).
    sqlite3.Error,
)


def failed_dependency(exc: BaseException | None) -> str | None:
    """ "database" or "ephemeral" if ``exc`` (or what caused it) is an outage."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _DATABASE_ERRORS):
            return "database"
        if isinstance(exc, _EPHEMERAL_ERRORS):
            return "ephemeral"
        exc = exc.__cause__ or exc.__context__
    return None


class ObservedFlask(Flask):
    """Flask that notes, for the metrics, when a request failed on a dependency.

    Error handlers turn the exception into a page (a 503 or a 500) before any hook
    sees it; these two methods are where every exception of a request passes.
    """

    def handle_user_exception(self, e: Exception) -> Any:
        _note_failure(e)
        return super().handle_user_exception(e)

    def handle_exception(self, e: Exception) -> Response:
        _note_failure(e)
        return super().handle_exception(e)


def _note_failure(exc: BaseException) -> None:
    dependency = failed_dependency(exc)
    if dependency is not None:
        request.environ.setdefault(FAILED_DEPENDENCY_KEY, dependency)


def _note_route(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """The matched URL rule (``/admin/users/<int:user_id>``), never the raw path."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule


class MetricsMiddleware:
    """WSGI middleware timing every request, counted once it has been answered."""

    def __init__(self, app: Callable[..., Iterable[bytes]], metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        status: list[int] = []

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [int(code.split(" ", 1)[0])]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            self.metrics.observe_request(
                route=environ.get(ROUTE_KEY, UNMATCHED),
                method=environ.get("REQUEST_METHOD", ""),
                status=status[0] if status else 500,
                seconds=time.perf_counter() - started,
            )
            dependency = environ.get(FAILED_DEPENDENCY_KEY)
            if dependency:
                self.metrics.dependency_failed(dependency)


def allowed_networks(
    raw: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in raw)


def address_allowed(address: str | None, networks: Iterable[Any]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


@bp.get("/metrics")
def scrape() -> Response:
    networks = current_app.extensions["idp_metrics_networks"]
    if not address_allowed(request.remote_addr, networks):
        return Response(
            "metrics are served only to IDP_METRICS_ALLOWED_NETWORKS\n",
            status=403,
            mimetype="text/plain",
        )
    metrics: Metrics = current_app.extensions["idp_metrics"]
    body, content_type = metrics.exposition()
    response = Response(body, status=200, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_metrics(app: Flask, metrics: Metrics, *, networks: Iterable[str]) -> None:
    app.extensions["idp_metrics"] = metrics
    app.extensions["idp_metrics_networks"] = allowed_networks(networks)
    app.url_value_preprocessor(_note_route)
    app.register_blueprint(bp)
