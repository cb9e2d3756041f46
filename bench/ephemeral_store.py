"""What each ephemeral-store backend costs per operation, as the provider uses them.

Why: the embedded default moved from process memory to a SQLite file shared with
the `idp` command (issue 8, item 13); a sign-in makes a handful of these calls
(lockout hit, session put, interaction get/take), so this shows what that costs
next to memory and Redis. Prints the median microseconds per call of each
operation for each backend, over interleaved rounds (the backends take turns
within every round, so drift hits all alike), and the throughput of the lockout
counter (``hit``) from 4 threads. Run from the repository root::

    .venv/bin/python -m bench.ephemeral_store [--rounds 30] [--ops 200] [--redis-url URL]

Redis is skipped (with a note) when it is not reachable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_REDIS  # noqa: E402
from idp.store.interfaces import EphemeralStore  # noqa: E402
from idp.store.memory import MemoryEphemeralStore  # noqa: E402
from idp.store.redis import RedisEphemeralStore  # noqa: E402
from idp.store.sqlite import SqliteEphemeralStore  # noqa: E402

OPERATIONS: dict[str, Callable[[EphemeralStore, int], object]] = {  # name -> one call
    "put": lambda s, i: s.put(f"k{i}", "v" * 200, ttl=60),
    "get": lambda s, i: s.get(f"k{i}"),
    "take": lambda s, i: s.take(f"k{i}"),
    "hit": lambda s, i: s.hit("lock:counter", ttl=60),
    "add_member": lambda s, i: s.add_member("idx", f"m{i % 20}", ttl=60),
}


Operation = Callable[[EphemeralStore, int], object]


def _per_call_us(store: EphemeralStore, op: Operation, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        op(store, i)
    return (time.perf_counter() - started) / n * 1e6


def _hits_per_second(store: EphemeralStore, threads: int, n: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: [store.hit("race", ttl=60) for _ in range(n)], range(threads)))
    return threads * n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--ops", type=int, default=200, help="calls per operation per round")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="idp-bench-ephemeral-"))
    stores: dict[str, EphemeralStore] = {
        "memory": MemoryEphemeralStore(),
        "sqlite": SqliteEphemeralStore(tmp / "ephemeral.sqlite3"),
    }
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    prefix = f"bench:{uuid.uuid4().hex}:"
    try:
        client.ping()
        stores["redis"] = RedisEphemeralStore(client, prefix=prefix)
    except redis.RedisError as exc:
        print(f"note: Redis at {args.redis_url} skipped ({exc})")

    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, op in OPERATIONS.items():
            for backend, store in stores.items():
                samples.setdefault((backend, name), []).append(_per_call_us(store, op, args.ops))
    print(f"median µs per call over {args.rounds} interleaved rounds of {args.ops} calls")
    print(f"{'operation':<12}" + "".join(f"{b:>10}" for b in stores))
    for name in OPERATIONS:
        cells = "".join(f"{statistics.median(samples[(b, name)]):>10.1f}" for b in stores)
        print(f"{name:<12}{cells}")
    rates = {b: _hits_per_second(s, threads=4, n=500) for b, s in stores.items()}
    print("lockout hits/s from 4 threads: " + ", ".join(f"{b} {r:,.0f}" for b, r in rates.items()))

    if "redis" in stores:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    client.close()
    for store in stores.values():
        store.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
