"""Latency of the sign-up match step with 10k, 100k and 1M persons in PostgreSQL.

Why: a sign-up must compare the registrant with a handful of candidates found by
blocking keys (issue 5, item 4), never with everyone. This loads synthetic persons,
each with an account and its HMAC'd blocking keys, into a **fresh** PostgreSQL database
(random name on ``--postgres-url``, dropped at the end), growing it to each size in
``--sizes``, and at each size times the match step of ``--probes`` sign-ups: the
candidate query (:meth:`CandidateRepository.candidates`, ``WHERE key IN (…)``) plus one
:func:`~idp.policies.matching.compare_normalised` per candidate, inside one
transaction, exactly what :func:`idp.flows.registration.find_match` does.

Probes are a third each: *exact* (a loaded person as stored), *close* (a loaded person
with one data-entry error: ZIP typo, nickname, surname typo or transposed DOB digits)
and *none* (a new random person). Printed per size: load time, keys, p50/p95/mean of the
match step in milliseconds, candidates per probe (mean and max), and what the probes
found.

Each size is measured on the schema as migrated. ``--compare-without-account-index``
adds a run without ``ix_accounts_person_id`` (the schema before migration 0005), where
joining a candidate person to its account scans ``accounts``; above 100k persons that
variant gets only ``--unindexed-probes`` probes.

Loading uses COPY from two generator processes; foreign-key triggers are off during
COPY (``session_replication_role = replica``: the generator writes consistent rows) and
the migrations' indexes are rebuilt after each load, then ANALYZE.

Run from the repository root::

    .venv/bin/python -m bench.match_candidates
    .venv/bin/python -m bench.match_candidates --sizes 10000,100000 --probes 300

It prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

# Also runnable as `python bench/match_candidates.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from nicknames import NickNamer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from idp.policies.matching import Demographics, compare_normalised, normalise  # noqa: E402
from idp.store.sql.candidates import hash_keys, key_secret, person_keys  # noqa: E402
from idp.store.sql.database import Database, upgrade  # noqa: E402
from tests.matching.synthetic import _corrupt, _person  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_SIZES = "10000,100000,1000000"
CHUNK = 25_000
SAMPLE_PER_CHUNK = 40
CLOSE_OPS = ("zip_typo", "first_nickname", "last_typo", "dob_transpose")
WARMUP = 20
LOOPBACK = ("127.0.0.1", "localhost", "::1")

Sample = tuple[int, Demographics]


# --- generation (in worker processes) --------------------------------------------------------


@lru_cache(maxsize=1)
def _nicknames() -> NickNamer:
    return NickNamer()


def _field(value: object) -> str:
    return "\\N" if value is None or value == "" else str(value)


def make_chunk(args: tuple[int, int, int, str, bytes]) -> tuple[str, str, str, list[Sample]]:
    """Rows for persons ``start+1 … start+count`` as COPY text, plus a sample for probes."""
    index, start, count, seed, secret = args
    rng = random.Random(f"{seed}:{index}")
    now = datetime.now(UTC).isoformat()
    persons, accounts, keys = io.StringIO(), io.StringIO(), io.StringIO()
    sample: list[Sample] = []
    picks = set(rng.sample(range(count), min(SAMPLE_PER_CHUNK, count)))
    for i in range(count):
        pid = start + i + 1
        d = _person(rng)
        email = _field(d.email)
        persons.write(
            f"{pid}\t{d.first_name}\t{d.last_name}\t{d.dob.isoformat()}\t{d.zip}\t"
            f"{_field(d.gender)}\t{_field(d.phone)}\t{email}\t{now}\n"
        )
        accounts.write(
            f"{pid}\tbench-{pid}\tbench{pid}\tbench{pid}\t$argon2id$bench\t{email}\tt\t"
            f"{_field(d.phone)}\tf\t{pid}\tactive\tf\t{now}\t{now}\t{now}\n"
        )
        for key in hash_keys(person_keys(d), secret):
            keys.write(f"{pid}\t{key}\n")
        if i in picks:
            sample.append((pid, d))
    return persons.getvalue(), accounts.getvalue(), keys.getvalue(), sample


# --- the database -----------------------------------------------------------------------------


def _server(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"refusing a non-loopback server for a benchmark: {host!r}")
    return url


def create_database(server_url: str) -> tuple[str, str]:
    """A fresh database with a random name; returns (SQLAlchemy URL, name)."""
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"idp_bench_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def drop_database(server_url: str, name: str) -> None:
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


PERSON_COLUMNS = "id, first_name, last_name, dob, zip, gender, phone, email, created_at"
ACCOUNT_COLUMNS = (
    "id, subject, username, username_key, password_hash, email, email_verified, phone, "
    "phone_verified, person_id, status, must_change_password, created_at, updated_at, "
    "password_changed_at"
)


def load(
    url: str, pool: Pool, *, start: int, count: int, seed: int, secret: bytes
) -> tuple[list[Sample], float]:
    """Add persons ``start+1 … start+count``; returns the sample and the seconds taken."""
    began = time.perf_counter()
    jobs = [
        (start // CHUNK + n, start + n * CHUNK, min(CHUNK, count - n * CHUNK), seed, secret)
        for n in range((count + CHUNK - 1) // CHUNK)
    ]
    sample: list[Sample] = []
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("SET session_replication_role = replica")  # FK triggers off for COPY
        # Bulk load without indexes, then build them once (as a restore would).
        for index in LOAD_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        with conn.cursor() as cur:
            for persons, accounts, keys, picked in pool.imap(make_chunk, jobs):
                with cur.copy(f"COPY persons ({PERSON_COLUMNS}) FROM STDIN") as copy:
                    copy.write(persons)
                with cur.copy(f"COPY accounts ({ACCOUNT_COLUMNS}) FROM STDIN") as copy:
                    copy.write(accounts)
                with cur.copy("COPY person_blocking_keys (person_id, key) FROM STDIN") as copy:
                    copy.write(keys)
                sample += picked
        for index, ddl in LOAD_INDEXES.items():
            conn.execute(f"CREATE INDEX {index} ON {ddl}")
        conn.execute("SELECT setval(pg_get_serial_sequence('persons', 'id'), max(id)) FROM persons")
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('accounts', 'id'), max(id)) FROM accounts"
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE persons")
        conn.execute("VACUUM ANALYZE accounts")
        conn.execute("VACUUM ANALYZE person_blocking_keys")
    return sample, time.perf_counter() - began


# The migrations' indexes that bulk loading drops and rebuilds.
LOAD_INDEXES = {
    "ix_person_blocking_keys_key": "person_blocking_keys (key)",
    "ix_person_blocking_keys_person_id": "person_blocking_keys (person_id)",
    "ix_accounts_person_id": "accounts (person_id)",
}


def set_account_index(url: str, *, present: bool) -> None:
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        if present:
            conn.execute("CREATE INDEX IF NOT EXISTS ix_accounts_person_id ON accounts (person_id)")
            conn.execute("ANALYZE accounts")
        else:
            conn.execute("DROP INDEX IF EXISTS ix_accounts_person_id")


def count_keys(url: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM person_blocking_keys").fetchone()
    return int(row[0]) if row else 0


# --- probes and timing ------------------------------------------------------------------------


def probes(sample: Sequence[Sample], n: int, seed: int) -> list[tuple[str, Demographics]]:
    """A third each: exact copies, one-error copies, new people (shuffled)."""
    rng = random.Random(f"probes:{seed}:{len(sample)}")
    full = [d for _, d in sample if d.email and d.gender]
    out: list[tuple[str, Demographics]] = []
    for i in range(n):
        kind = ("exact", "close", "none")[i % 3]
        if kind == "exact":
            out.append((kind, rng.choice(full)))
        elif kind == "close":
            base = rng.choice(full)
            changed = base
            for _ in range(5):  # an op can leave it unchanged (no nickname known)
                changed = _corrupt(rng, base, rng.choice(CLOSE_OPS), _nicknames())
                if changed != base:
                    break
            out.append((kind, changed))
        else:
            out.append((kind, replace(_person(rng), first_name=_person(rng).first_name)))
    rng.shuffle(out)
    return out


def time_probes(
    db: Database, secret: str, cases: Sequence[tuple[str, Demographics]]
) -> tuple[list[float], list[int], Counter[tuple[str, str]]]:
    """Seconds per match step, candidates per probe, and (probe kind, answer) counts."""
    latencies: list[float] = []
    counts: list[int] = []
    found: Counter[tuple[str, str]] = Counter()
    for n, (kind, probe) in enumerate([*cases[:WARMUP], *cases]):
        began = time.perf_counter()
        with db.transaction() as uow:
            candidates = uow.candidates.candidates(probe, secret=secret)
            normalised = normalise(probe)
            results = [
                compare_normalised(normalised, normalise(c.demographics)) for c in candidates
            ]
        elapsed = time.perf_counter() - began
        if n < WARMUP:
            continue
        latencies.append(elapsed)
        counts.append(len(candidates))
        kinds = {r.kind.value for r in results}
        answer = next((k for k in ("exact", "close") if k in kinds), "none")
        found[(kind, answer)] += 1
    return latencies, counts, found


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * pct // 100)) - 1] if ordered else float("nan")


def _pct(found: Counter[tuple[str, str]], kind: str) -> str:
    total = sum(v for (k, _), v in found.items() if k == kind)
    hit = found[(kind, kind)]
    return f"{kind} {hit}/{total}"


# --- main -------------------------------------------------------------------------------------


class Pool:
    """``multiprocessing.Pool`` typed loosely (imap only)."""

    def __init__(self, processes: int) -> None:
        self._pool = multiprocessing.get_context("fork").Pool(processes)

    def imap(
        self, func: object, jobs: Sequence[tuple[int, int, int, str, bytes]]
    ) -> Iterator[tuple[str, str, str, list[Sample]]]:
        return self._pool.imap(func, jobs)  # type: ignore[arg-type]

    def close(self) -> None:
        self._pool.close()
        self._pool.join()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="persons, comma-separated")
    parser.add_argument("--probes", type=int, default=200, help="timed sign-ups per size")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="a PostgreSQL server")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--processes", type=int, default=2, help="generator processes")
    parser.add_argument(
        "--unindexed-probes",
        type=int,
        default=30,
        help="probes for the as-migrated schema above 100k persons (each scans accounts)",
    )
    parser.add_argument(
        "--compare-without-account-index",
        action="store_true",
        help="also time the schema without ix_accounts_person_id (before migration 0005)",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    server = _server(args.postgres_url)
    secret = secrets.token_urlsafe(32)
    hmac_key = key_secret(secret)

    url, name = create_database(server)
    print(f"database {name} on {urlsplit(server).hostname}; sizes {sizes}; {args.probes} probes")
    pool = Pool(args.processes)
    db: Database | None = None
    rows: list[str] = []
    try:
        upgrade(url)
        db = Database.from_url(url)
        loaded, sample, total_load = 0, [], 0.0
        for size in sizes:
            picked, seconds = load(
                url, pool, start=loaded, count=size - loaded, seed=args.seed, secret=hmac_key
            )
            sample += picked
            total_load += seconds
            loaded = size
            keys = count_keys(url)
            print(
                f"\nloaded {size:,} persons (+{seconds:.1f} s, {total_load:.1f} s in all), "
                f"{keys:,} keys ({keys / size:.2f} per person)"
            )
            cases = probes(sample, args.probes, args.seed)
            variants = [False, True] if args.compare_without_account_index else [True]
            for indexed in variants:
                set_account_index(url, present=indexed)
                db.dispose()
                few = not indexed and size > 100_000
                run = cases[: args.unindexed_probes] if few else cases
                latencies, counts, found = time_probes(db, secret, run)
                label = "as migrated" if indexed else "no ix_accounts_person_id"
                line = (
                    f"| {size:>9,} | {label:<23} | {len(latencies):4d} | "
                    f"{percentile(latencies, 50) * 1000:7.2f} | "
                    f"{percentile(latencies, 95) * 1000:7.2f} | "
                    f"{statistics.fmean(latencies) * 1000:7.2f} | "
                    f"{statistics.fmean(counts):5.2f} | {max(counts):3d} | "
                    f"{_pct(found, 'exact')}, {_pct(found, 'close')}, {_pct(found, 'none')} |"
                )
                print(line)
                rows.append(line)
            set_account_index(url, present=False)
        print("\nmatch step (candidate query + compare), milliseconds per sign-up:\n")
        print("| persons | schema | p50 | p95 | mean | cand. mean | cand. max | found/probes |")
        print("|---:|---|---:|---:|---:|---:|---:|---|")
        for line in rows:
            print(line)
        print(f"\ntotal load time {total_load:.1f} s for {sizes[-1]:,} persons")
    finally:
        pool.close()
        if db is not None:
            db.dispose()
        drop_database(server, name)
        print(f"dropped {name}")


if __name__ == "__main__":
    main()
