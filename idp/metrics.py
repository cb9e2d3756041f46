"""Prometheus metrics: what a hospital's dashboards watch (issue 14, item 3).

One :class:`Metrics` per app, each with its own registry, so the tests' many apps
never share counters. Label values are always from bounded sets: route rules (not
raw paths), known methods, status codes, registered client ids, reason codes from
our own audit events. A hostile client can therefore never mint a new time series.

Multiprocess mode. gunicorn's workers are separate processes; a scrape reaches one
of them. With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts, since
prometheus-client reads it at import), every worker writes its values to files in
that directory and a scrape sums all of them (prometheus-client's
``MultiProcessCollector``). The directory must exist, be writable, and be emptied
when the server starts (`idp serve` does that); see README, "Metrics".

Where the numbers come from:
- sign-ins, lockouts and token grants: the audit events of committed transactions
  (:mod:`idp.store.sql.committed_audit`), so a rolled-back request counts nothing
  and every way of signing in that audits is counted the same way;
- request latency: the WSGI middleware in :mod:`idp.web.metrics`;
- dependency errors: requests that failed because the database or the ephemeral
  store could not be reached;
- outbox backlog: read from the database at scrape time.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from idp.store.sql.committed_audit import AuditFacts

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. From a cached discovery document (~1 ms) to an argon2id sign-in (~0.1-0.5 s)
# and a slow dependency (the 2-5 s timeouts).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Reason codes are ours (snake_case constants); anything else is folded into "other".
_CODE = re.compile(r"[a-z][a-z0-9_]{0,47}")
SIGNIN_EVENTS = frozenset({"login", "login_refused"})
TOKEN_EVENTS = frozenset({"token_issued", "token_refreshed"})
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
DEPENDENCIES = frozenset({"database", "ephemeral"})


def _code(value: object) -> str:
    return value if isinstance(value, str) and _CODE.fullmatch(value) else "other"


def multiprocess_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    raw = (os.environ if environ is None else environ).get(MULTIPROC_ENV, "").strip()
    return Path(raw) if raw else None


def reset_multiprocess_dir(path: Path) -> None:
    """Empty the directory before the workers start: files of a previous run's
    processes would otherwise be added to this run's counters forever."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class Metrics:
    """Every metric the provider exports, and the scrape that renders them."""

    def __init__(self, *, multiprocess: Path | None = None) -> None:
        self._multiprocess = multiprocess
        self._scrape_collectors: list[object] = []
        self.registry = CollectorRegistry()
        r = self.registry
        self.signins = Counter(
            "idp_signins",
            "Password sign-in attempts by result (audit events login and login_refused).",
            ["event", "outcome", "reason"],
            registry=r,
        )
        self.lockouts = Counter(
            "idp_lockouts",
            "User IDs locked by failed credentials (audit event account_locked), by reason.",
            ["reason"],
            registry=r,
        )
        self.token_grants = Counter(
            "idp_token_grants",
            "Tokens issued at the token endpoint, by grant type and client.",
            ["grant_type", "client_id"],
            registry=r,
        )
        self.requests = Counter(
            "idp_http_requests",
            "HTTP requests by route rule, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "idp_http_request_duration_seconds",
            "Time to answer, by route rule (the URL pattern, never the raw path).",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # (route, method, status) -> the request counter's and the latency histogram's
        # children: ``labels()`` validates and looks them up under a lock on every
        # call, three times the cost of counting (issue 12). The keys are bounded:
        # route rules, METHODS and "other", HTTP status codes.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # The same for the token counter, once per issued token: (grant type, client).
        self._grant_children: dict[tuple[str, str], Any] = {}
        self.dependency_errors = Counter(
            "idp_dependency_errors",
            "Requests that failed because a dependency could not be reached.",
            ["dependency"],
            registry=r,
        )

    # --- recording ---------------------------------------------------------------------

    def observe_audit(self, facts: AuditFacts) -> None:
        """Count one committed audit event, if it is one the dashboards follow."""
        if facts.type in SIGNIN_EVENTS:
            self.signins.labels(
                facts.type, _code(facts.outcome), _code(facts.details.get("reason"))
            ).inc()
        elif facts.type == "account_locked":
            self.lockouts.labels(_code(facts.details.get("reason"))).inc()
        elif facts.type in TOKEN_EVENTS and facts.client_id:
            grant = facts.details.get("grant_type")
            grant_type = grant if grant in GRANT_TYPES else "other"
            # client_id: only issued tokens are audited, so it is a registered client's
            # (the children are as many as prometheus_client keeps anyway).
            key = (grant_type, facts.client_id[:128])
            child = self._grant_children.get(key)
            if child is None:
                child = self._grant_children[key] = self.token_grants.labels(*key)
            child.inc()

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def dependency_failed(self, dependency: str) -> None:
        if dependency in DEPENDENCIES:
            self.dependency_errors.labels(dependency).inc()

    def add_scrape_collector(self, collector: object) -> None:
        """A collector that reads its value when scraped (e.g. the outbox backlog)."""
        self._scrape_collectors.append(collector)
        if self._multiprocess is None:
            self.registry.register(collector)  # type: ignore[arg-type]

    # --- the scrape --------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        if self._multiprocess is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        # Every worker's files, summed; plus the values read now, by this worker.
        registry = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        MultiProcessCollector(registry, path=str(self._multiprocess))  # type: ignore[no-untyped-call]
        for collector in self._scrape_collectors:
            registry.register(collector)  # type: ignore[arg-type]
        return generate_latest(registry), CONTENT_TYPE_LATEST


class OutboxBacklog:
    """``idp_outbox_backlog{status}``: mail and texts not yet delivered, read at scrape.

    A gauge of the database's state, so it is the same whichever worker answers;
    if the database cannot be read the metric is left out of that scrape (and
    ``idp_outbox_backlog_up`` says 0) rather than failing the whole scrape.
    """

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "idp_outbox_backlog_up", "1 if the outbox backlog could be read at this scrape."
        )
        try:
            counts = self._read()
        except Exception:  # any driver error: report "unknown", never fail the scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        backlog = GaugeMetricFamily(
            "idp_outbox_backlog",
            "Outbox messages not yet delivered, by status (pending, sending, failed).",
            labels=["status"],
        )
        for status in ("pending", "sending", "failed"):
            backlog.add_metric([status], counts.get(status, 0))
        yield backlog
