"""Audit export in bounded memory: 1,000,000 generated events, streamed out.

Fills a fresh database (PostgreSQL with COPY, or SQLite with executemany) with
chained audit events, one a second, two hundred named patients, then runs
``idp audit export``'s code path (filter, join to user ID and name, CSV to a file)
and the console's (the staff audit operation, which records the export, then CSV
in the chunks the HTTP response streams) in a fresh child process per run, for the
newest 0, 100k and all events, interleaved ``--repeat`` times. Prints rows/s
(median) and each run's peak RSS (VmHWM): if memory is bounded, peak RSS at 1M is
about what it is at 100k. Also times ``idp audit verify`` over the whole trail once.

    .venv/bin/python -m bench.audit_export                      # PostgreSQL on loopback
    .venv/bin/python -m bench.audit_export --backend embedded   # SQLite file
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/audit_export.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import add_backend_arguments, backend_from
from idp.audit.chain import GENESIS, SHARDS, ChainedEvent, checkpoint_key, event_hash, segment_for
from idp.audit.export import iter_export, write_export
from idp.audit.search import AuditFilter
from idp.flows.staff.audit_trail import AuditTrail
from idp.policies.staff_roles import Role, StaffPrincipal
from idp.records import AuditEntry, RequestMeta
from idp.store.sql.database import Database, upgrade
from idp.store.sql.repositories import NewPerson
from tests.live import _database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = (
    "at, type, outcome, actor, subject, client_id, ip, user_agent, session_id, details, "
    "segment, seq, hash"
)
TYPES = ("login", "login", "login", "logout", "token_refreshed", "password_reset_requested")
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def generated(
    n: int, subjects: list[str], heads: dict[str, tuple[int, str]]
) -> Iterator[tuple[Any, ...]]:
    """Event i at T0 + i seconds, chained exactly as AuditLog.record chains it; ``heads``
    ends with each segment's last sequence number and hash."""
    for i in range(n):
        at = T0 + timedelta(seconds=i)
        segment = segment_for(at, i % SHARDS)
        seq, prev = heads.get(segment, (0, GENESIS))
        subject = subjects[i % len(subjects)]
        failed = i % 7 == 0
        event = ChainedEvent(
            segment=segment,
            seq=seq + 1,
            at=at,
            type=TYPES[i % len(TYPES)],
            outcome="failure" if failed else "success",
            actor=subject,
            subject=subject,
            client_id=f"client-{i % 5}",
            ip=f"203.0.{(i >> 8) % 256}.{i % 256}",
            user_agent=UA,
            session_id=None,
            details={"reason": "invalid_credentials"} if failed else None,
        )
        digest = event_hash(event, prev)
        heads[segment] = (seq + 1, digest)
        details = json.dumps(event.details) if event.details else None
        yield (
            at,
            event.type,
            event.outcome,
            event.actor,
            event.subject,
            event.client_id,
            event.ip,
            event.user_agent,
            None,
            details,
            segment,
            seq + 1,
            digest,
        )


def fill(db: Database, n: int) -> float:
    """Insert ``n`` chained events and their segment heads; seconds taken."""
    start = time.perf_counter()
    subjects = []
    with db.transaction() as uow:
        for k in range(200):
            account = uow.accounts.add(
                username=f"patient{k}",
                password_hash="not-a-hash",
                email=None,
                now=T0,
                person=NewPerson(first_name=f"Pat{k}", last_name=f"Ient{k}"),
            )
            subjects.append(account.subject)
    raw = db.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        cursor = driver.cursor()
        heads: dict[str, tuple[int, str]] = {}
        rows = generated(n, subjects, heads)
        if db.engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * 13)
            sql = f"INSERT INTO audit_events ({COLUMNS}) VALUES ({marks})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                # As SQLAlchemy's SQLite DateTime stores it (naive UTC, microseconds),
                # so range filters compare like the provider's own rows.
                stamp = row[0].replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                batch.append((stamp, *row[1:]))
                if len(batch) == 20000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            cursor.executemany(sql, batch)
        cursor.executemany(
            "INSERT INTO audit_chain_heads (segment, seq, last_hash) VALUES "
            + ("(%s, %s, %s)" if db.engine.dialect.name == "postgresql" else "(?, ?, ?)"),
            [(s, seq, h) for s, (seq, h) in heads.items()],
        )
        driver.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def export_once(url: str, rows: int, via: str) -> dict[str, Any]:
    """Child process: stream the newest ``rows`` events as CSV to /dev/null."""
    db = Database.from_url(url)
    total = int(sys.argv[sys.argv.index("--total") + 1])
    # Only generated types: the console path's own "audit_exported" events come later.
    wanted = AuditFilter(
        since=T0 + timedelta(seconds=total - rows), types=tuple(sorted(set(TYPES)))
    )
    start = time.perf_counter()
    with open(os.devnull, "w", newline="") as out:
        if via == "console":
            reads = AuditTrail(db=db, clock=lambda: datetime.now(UTC))
            reader = StaffPrincipal(actor="staff:bench", role=Role.AUDITOR)
            stream = reads.export(reader, wanted, fmt="csv", meta=RequestMeta())
            count = -1  # the header line
            for chunk in iter_export("csv", stream):
                out.write(chunk)
                count += chunk.count("\r\n")
        else:
            with db.transaction() as uow:
                count = write_export("csv", uow.audit.stream(wanted), out)
    seconds = time.perf_counter() - start
    db.dispose()
    return {"rows": count, "seconds": seconds, "peak_rss_kib": peak_rss_kib()}


def run_child(url: str, rows: int, total: int, via: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.audit_export", "--child", url]
    cmd += ["--rows", str(rows), "--total", str(total), "--via", via]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_arguments(parser)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate")
    parser.add_argument("--small", type=int, default=100_000, help="the smaller export")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per size")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--via", default="cli", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(export_once(args.child, args.rows, args.via)))
        return
    backend = backend_from(args)
    with tempfile.TemporaryDirectory() as tmp, _database(backend, Path(tmp)) as url:
        upgrade(url)
        db = Database.from_url(url)
        seconds = fill(db, args.events)
        print(f"backend: {db.engine.dialect.name}; generated {args.events:,} chained events")
        print(f"  bulk insert: {seconds:.1f} s ({args.events / seconds:,.0f} events/s)")
        sizes = (0, args.small, args.events)
        paths = ("cli", "console")
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {
            (p, n): [] for p in paths for n in sizes
        }
        for _ in range(args.repeat):
            for n in sizes:  # interleaved, so drift hits every size and path alike
                for p in paths:
                    runs[p, n].append(run_child(url, n, args.events, p))
        print(f"CSV export in a fresh process each run (median of {args.repeat}):")
        for p in paths:
            for n in sizes:
                found = runs[p, n]
                rate = statistics.median(r["rows"] / r["seconds"] for r in found) if n else 0.0
                assert all(r["rows"] == n for r in found), found
                rss = [r["peak_rss_kib"] / 1024 for r in found]
                print(
                    f"  {p:<8}{n:>9,} rows: {rate:>9,.0f} rows/s   peak RSS "
                    + ", ".join(f"{x:.1f}" for x in rss)
                    + " MiB"
                )
        start = time.perf_counter()
        with db.transaction() as uow:
            found = uow.audit.verify(key=checkpoint_key("bench-secret-key-" + "x" * 32))
            uow.audit.record(AuditEntry(type="bench", outcome="success", actor="bench"), now=T0)
        verify_s = time.perf_counter() - start
        print(
            f"idp audit verify over {args.events:,} events: {verify_s:.1f} s "
            f"({args.events / verify_s:,.0f} events/s), {'intact' if found is None else found}"
        )
        db.dispose()


if __name__ == "__main__":
    main()
