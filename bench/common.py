"""What both benchmarks share: backend choice, percentiles, a signed-in token."""

from __future__ import annotations

import argparse
import base64
import hashlib
import math
import os
import secrets
import statistics
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from tests.e2e.webclient import PatientBrowser, query
from tests.live import Backend, LiveAccount, LiveClient, LiveProvider

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("embedded", "postgres-redis"),
        default="embedded",
        help="embedded: SQLite + the SQLite ephemeral store; postgres-redis: PostgreSQL + Redis",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("IDP_TEST_DATABASE_URL") or DEFAULT_POSTGRES,
        help="PostgreSQL server for postgres-redis (a fresh database is created and dropped)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("IDP_TEST_REDIS_URL") or DEFAULT_REDIS,
        help="Redis for postgres-redis",
    )
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")


def backend_from(args: argparse.Namespace) -> Backend:
    """The chosen backend; refuses anything but loopback (benchmarks stay on this machine)."""
    if args.backend == "embedded":
        return Backend()
    for url in (args.postgres_url, args.redis_url):
        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK and not host.startswith("127."):
            raise SystemExit(f"refusing a non-loopback server for a benchmark: {host!r}")
    return Backend(postgres_url=args.postgres_url, redis_url=args.redis_url)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds, from seconds."""
    return {
        "p50": percentile(values, 50) * 1000,
        "p95": percentile(values, 95) * 1000,
        "mean": (statistics.fmean(values) * 1000) if values else math.nan,
    }


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_in_tokens(
    live: LiveProvider, client: LiveClient, account: LiveAccount, *, scope: str
) -> dict[str, Any]:
    """A code-flow sign-in through the real pages; returns the token response."""
    verifier, challenge = _pkce()
    with requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10) as r:
        metadata = r.json()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with PatientBrowser() as browser:
        journey = browser.authorize(
            metadata["authorization_endpoint"] + "?" + urlencode(params),
            stop_at=client.redirect_uri,
            username=account.username,
            password=account.password,
        )
    code = query(journey.final_url)["code"]
    with requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret or ""),
        timeout=30,
    ) as response:
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]
