"""Token endpoint throughput and latency: client_credentials and refresh_token.

Why: every portal page view may end in a token call, and refresh rotation writes
to SQL on each call (claim the old token, store the new one, audit), so it is the
provider's hottest write path. This prints requests/s and p50/p95 per grant, with
a few client threads on loopback. Run from the repository root::

    .venv/bin/python -m bench.token_throughput [--backend embedded|postgres-redis]
        [--threads 4] [--count 2000] [--seconds 20]

Each run is bounded by ``--count`` requests and ``--seconds`` per grant, whichever
comes first. For refresh_token every thread signs in once through the real pages,
then refreshes in a chain: each request uses the token the previous one returned.
Threads keep their HTTP connection alive, as a portal's client library would.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

# Also runnable as `python bench/token_throughput.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    add_backend_arguments,
    backend_from,
    signed_in_tokens,
    summary,
)
from tests.live import LiveClient, LiveProvider, live_provider  # noqa: E402

# Builds the next request body from the previous successful response (None at first).
BodyMaker = Callable[[dict[str, Any] | None], dict[str, str]]


@dataclass
class Budget:
    """A shared request budget: count and deadline, whichever ends first."""

    count: int
    deadline: float
    _taken: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            if self._taken >= self.count or time.monotonic() >= self.deadline:
                return False
            self._taken += 1
            return True


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def worker(
    token_url: str,
    client: LiveClient,
    make_body: BodyMaker,
    budget: Budget,
    out: Result,
    chained: bool,
) -> None:
    """Send requests until the budget runs out; a chain stops at its first error."""
    last: dict[str, Any] | None = None
    with requests.Session() as http:
        http.auth = (client.client_id, client.client_secret or "")
        while budget.take():
            started = time.perf_counter()
            with http.post(token_url, data=make_body(last), timeout=30) as response:
                elapsed = time.perf_counter() - started
                ok = response.status_code == 200
                body = response.json() if ok else None
            if not ok:
                out.errors += 1
                if chained:
                    return  # the next refresh token is unknown: this chain is over
                continue
            out.latencies.append(elapsed)
            last = body


def run_grant(
    name: str,
    token_url: str,
    client: LiveClient,
    makers: Sequence[BodyMaker],
    args: argparse.Namespace,
    *,
    chained: bool,
) -> None:
    budget = Budget(count=args.count, deadline=time.monotonic() + args.seconds)
    results = [Result() for _ in makers]
    threads = [
        threading.Thread(target=worker, args=(token_url, client, maker, budget, result, chained))
        for maker, result in zip(makers, results, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = [value for result in results for value in result.latencies]
    errors = sum(result.errors for result in results)
    s = summary(latencies)
    rate = len(latencies) / elapsed if elapsed else 0.0
    print(
        f"  {name:<19} {len(latencies):>6} {errors:>6} {elapsed:>7.1f} {rate:>8.1f} "
        f"{s['p50']:>8.1f} {s['p95']:>8.1f}"
    )


def client_credentials_body(_last: dict[str, Any] | None) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": "profile"}


def refresh_chain(first_refresh_token: str) -> BodyMaker:
    """Each call uses the refresh token from the previous response (rotation)."""

    def make(last: dict[str, Any] | None) -> dict[str, str]:
        token = last["refresh_token"] if last else first_refresh_token
        return {"grant_type": "refresh_token", "refresh_token": token}

    return make


def bench(args: argparse.Namespace, live: LiveProvider) -> None:
    client = live.add_client(redirect_uris=["http://127.0.0.1:9/callback"])
    with requests.get(live.endpoint("/.well-known/openid-configuration"), timeout=10) as r:
        token_url = r.json()["token_endpoint"]
    chains = []
    for _ in range(args.threads):
        account = live.add_account()
        tokens = signed_in_tokens(live, client, account, scope="openid offline_access")
        chains.append(refresh_chain(tokens["refresh_token"]))
    print(
        f"  {'grant':<19} {'ok':>6} {'errors':>6} {'secs':>7} {'req/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8}"
    )
    makers = [client_credentials_body] * args.threads
    run_grant("client_credentials", token_url, client, makers, args, chained=False)
    run_grant("refresh_token", token_url, client, chains, args, chained=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--count", type=int, default=2000, help="max requests per grant")
    parser.add_argument("--seconds", type=float, default=20.0, help="max seconds per grant")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    backend = backend_from(args)
    with live_provider(backend=backend, workers=args.workers) as live:
        print(
            f"token endpoint: backend={args.backend} ({backend.name}), "
            f"gunicorn workers={live.workers} x 4 threads, client threads={args.threads}, "
            f"bounded by {args.count} requests / {args.seconds:.0f}s per grant, loopback"
        )
        bench(args, live)
    return 0


if __name__ == "__main__":
    sys.exit(main())
