"""How fast the provider answers when Redis is healthy, killed or hung (issue 8, item 2).

Why: with Redis down every request should get a 503 at once, and with Redis hung
(SIGSTOP: connections are accepted, nothing is answered) within
``IDP_REDIS_TIMEOUT``, not after the kernel's TCP timeout with the worker held all
along. This starts a private ``redis-server`` on a free port (never the machine's
shared one), a provider on it (SQLite for durable state, or ``--backend
postgres-redis`` for a fresh PostgreSQL database; the ephemeral store is always the
private Redis), and times client_credentials token requests in three phases::

    .venv/bin/python -m bench.outage_latency [--n 40] [--timeout 2] [--threads 2]

Printed per phase: n, statuses, p50/p95/max in milliseconds. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments, backend_from, percentile  # noqa: E402
from tests.live import Backend, LiveClient, LiveProvider, live_provider  # noqa: E402
from tests.servers import OwnRedis, own_redis  # noqa: E402


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def _token(provider: LiveProvider, client: LiveClient) -> int:
    response = requests.post(
        provider.endpoint("/token"),
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret or ""),
        timeout=60,
    )
    return response.status_code


def _measure(
    provider: LiveProvider, client: LiveClient, phase: Phase, n: int, threads: int
) -> None:
    lock = threading.Lock()
    left = [n]

    def run() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            start = time.perf_counter()
            status = _token(provider, client)
            elapsed = time.perf_counter() - start
            with lock:
                phase.latencies.append(elapsed)
                phase.statuses[status] += 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _report(phase: Phase) -> None:
    values = phase.latencies
    statuses = ", ".join(f"{code}×{count}" for code, count in sorted(phase.statuses.items()))
    print(
        f"{phase.name:<14} n={len(values):<4} p50={percentile(values, 50) * 1000:8.1f} ms"
        f"  p95={percentile(values, 95) * 1000:8.1f} ms  max={max(values) * 1000:8.1f} ms"
        f"  [{statuses}]"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_arguments(parser)
    parser.add_argument("--n", type=int, default=40, help="requests per phase")
    parser.add_argument("--timeout", type=float, default=2.0, help="IDP_REDIS_TIMEOUT")
    parser.add_argument("--threads", type=int, default=2, help="client threads")
    args = parser.parse_args(argv)
    chosen = backend_from(args)
    with own_redis() as redis_server:
        backend = Backend(postgres_url=chosen.postgres_url, redis_url=redis_server.url())
        env = {"IDP_REDIS_TIMEOUT": str(args.timeout)}
        with live_provider(backend=backend, workers=args.workers, extra_env=env) as provider:
            client = provider.add_client(redirect_uris=["http://127.0.0.1:9/cb"])
            print(
                f"backend={backend.name} workers={provider.workers} "
                f"IDP_REDIS_TIMEOUT={args.timeout}s threads={args.threads}"
            )
            _measure(provider, client, Phase("warm-up"), 10, args.threads)
            phases = [Phase("healthy"), Phase("redis killed"), Phase("redis hung")]
            _measure(provider, client, phases[0], args.n, args.threads)
            redis_server.kill()
            _measure(provider, client, phases[1], args.n, args.threads)
            redis_server.start()
            _hang(redis_server)
            try:
                _measure(provider, client, phases[2], args.n, args.threads)
            finally:
                redis_server.thaw()
            for phase in phases:
                _report(phase)


def _hang(redis_server: OwnRedis) -> None:
    """Freeze Redis once the provider's breaker from the kill phase has closed."""
    time.sleep(3)
    redis_server.freeze()


if __name__ == "__main__":
    main()
