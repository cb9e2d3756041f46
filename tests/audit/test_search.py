"""``idp audit search|export``: every filter, keyset pages, readable users, audited reads,
and bad input refused with exit 2 and nothing written."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from idp.records import AuditEntry
from idp.services import Services

from ..conftest import Factory

AT = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def trail(services: Services, factory: Factory) -> dict[str, str]:
    """Five events about two patients, over two portals' clients and three networks."""
    with services.db.transaction() as uow:
        portal = uow.portals.add(slug="northside", name="Northside", now=AT)
    north = factory.client(portal_id=portal.id)
    other = factory.client(name="Other")
    alice = factory.account("alice", first_name="Alice", last_name="Smith")
    bob = factory.account("bob", first_name="Bob", last_name="Jones")
    events = [
        (9, "login", "failure", alice.subject, alice.subject, north.client_id, "203.0.113.5"),
        (10, "login", "success", alice.subject, alice.subject, north.client_id, "203.0.113.5"),
        (11, "login", "failure", bob.subject, bob.subject, other.client_id, "198.51.100.7"),
        (36, "password_reset_issued", "success", "staff:carol", bob.subject, None, None),
        (37, "login", "success", bob.subject, bob.subject, other.client_id, "2001:db8::1"),
    ]
    for n, (hour, kind, outcome, actor, subject, client_id, ip) in enumerate(events, 1):
        with services.db.transaction() as uow:
            uow.audit.record(
                AuditEntry(
                    type=kind,
                    outcome=outcome,
                    actor=actor,
                    subject=subject,
                    client_id=client_id,
                    ip=ip,
                    user_agent='=HYPERLINK("http://evil")' if n == 1 else "Firefox",
                    details={"n": n},
                ),
                now=AT.replace(day=20 + hour // 24, hour=hour % 24),
            )
    return {"north": north.client_id, "other": other.client_id, "bob": bob.subject}


def _found(run, *args: str) -> list[int]:
    out = json.loads(run("audit", "search", "--json", "--to", "2026-11-21", *args).output)
    return [e["details"]["n"] for e in out["events"]]


def _audit_rows(services: Services) -> int:
    with services.db.session() as session:
        return int(session.scalar(text("SELECT COUNT(*) FROM audit_events")) or 0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), [5, 4, 3, 2, 1]),
        (("--from", "2026-11-21"), [5, 4]),
        (("--to", "2026-11-20"), [3, 2, 1]),
        (("--from", "2026-11-20T09:30:00", "--to", "2026-11-20T11:00:00Z"), [2]),
        (("--user", "alice"), [2, 1]),
        (("--user", " ALICE "), [2, 1]),
        (("--user", "Jones"), [5, 4, 3]),
        (("--user", "bob jones"), [5, 4, 3]),
        (("--user", "Alice Jones"), []),
        (("--type", "password_reset_issued"), [4]),
        (("--type", "password_reset_issued", "--type", "login", "--user", "bob"), [5, 4, 3]),
        (("--outcome", "failure"), [3, 1]),
        (("--portal", "northside"), [2, 1]),
        (("--ip", "203.0.113.0/24"), [2, 1]),
        (("--ip", "198.51.100.7"), [3]),
        (("--ip", "2001:db8::/32"), [5]),
        (("--ip", "10.0.0.0/8"), []),
        (("--actor", "carol"), [4]),
        (("--actor", "staff:carol"), [4]),
        (("--outcome", "success", "--ip", "203.0.113.5"), [2]),
    ],
)
def test_each_filter(run, trail, args: tuple[str, ...], expected: list[int]) -> None:
    assert _found(run, *args) == expected


def test_client_and_subject_filters(run, trail) -> None:
    assert _found(run, "--client", trail["other"]) == [5, 3]
    assert _found(run, "--user", trail["bob"]) == [5, 4, 3]


def test_rows_name_the_user_not_the_subject(run, trail) -> None:
    out = json.loads(run("audit", "search", "--json", "--user", "alice", "--limit", "1").output)
    [event] = out["events"]
    assert (event["user_id"], event["name"], event["type"]) == ("alice", "Alice Smith", "login")
    text_out = run("audit", "search", "--user", "alice").output
    assert "user=alice (Alice Smith)" in text_out


def test_keyset_pages_cover_everything_once(run, trail) -> None:
    seen: list[int] = []
    args = ["audit", "search", "--json", "--to", "2026-11-21", "--limit", "2"]
    page = json.loads(run(*args).output)
    while True:
        seen += [e["details"]["n"] for e in page["events"]]
        if page["next"] is None:
            break
        page = json.loads(run(*args, "--after", page["next"]).output)
    assert seen == [5, 4, 3, 2, 1]


def test_every_search_is_audited(run, trail, services: Services) -> None:
    run("audit", "search", "--outcome", "failure", "--ip", "203.0.113.0/24")
    out = json.loads(run("audit", "search", "--json", "--type", "audit_searched").output)
    [event] = out["events"]
    assert event["actor"].startswith("cli:")
    assert event["details"] == {
        "filters": {"outcome": "failure", "ip": "203.0.113.0/24"},
        "results": 1,
        # the shell's user acts with the admin role (idp.cli_staff), issue 11
        "operation": "audit_search",
        "staff_role": "admin",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01"), "from: "),
        (("--to", "yesterday"), "to: "),
        (("--from", "2026-11-21", "--to", "2026-11-20"), "must be after"),
        (("--ip", "300.1.2.3/8"), "ip: "),
        (("--ip", "10.0.0.0/33"), "ip: "),
        (("--outcome", "failed"), "outcome: "),
        (("--type", "Login;DROP"), "type: "),
        (("--user", ""), "user: must not be empty"),
        (("--user", "x" * 200), "user: "),
        (("--portal", "nowhere"), "portal: no portal"),
        (("--after", "garbage"), "after: "),
        (("--limit", "0"), "--limit"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    run, trail, services: Services, args: tuple[str, ...], message: str
) -> None:
    before = _audit_rows(services)
    assert message in run("audit", "search", *args, code=2).output
    if args[0] not in ("--after", "--limit"):  # search-only options
        assert message in run("audit", "export", "--format", "csv", *args, code=2).output
    assert _audit_rows(services) == before


def test_export_bad_format_and_output(run, trail, services: Services, tmp_path: Path) -> None:
    before = _audit_rows(services)
    run("audit", "export", "--format", "xml", code=2)
    run("audit", "export", "--format", "csv", "--output", str(tmp_path / "no" / "x.csv"), code=2)
    assert _audit_rows(services) == before


def test_export_csv_streams_the_filtered_set(run, trail, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    run("audit", "export", "--format", "csv", "--user", "alice", "--output", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [json.loads(r["details"])["n"] for r in rows] == [2, 1]
    assert rows[1]["user_id"] == "alice" and rows[1]["name"] == "Alice Smith"
    # A stranger's user agent cannot become a spreadsheet formula.
    assert rows[1]["user_agent"] == '\'=HYPERLINK("http://evil")'
    out = json.loads(run("audit", "search", "--json", "--type", "audit_exported").output)
    [event] = out["events"]
    assert event["details"] == {
        "filters": {"user": "alice"},
        "format": "csv",
        "operation": "audit_export",
        "staff_role": "admin",
    }


def test_export_jsonl_to_stdout(run, trail) -> None:
    output = run("audit", "export", "--format", "jsonl", "--to", "2026-11-21").output
    lines: list[dict[str, Any]] = [json.loads(line) for line in output.splitlines()]
    assert [e["details"]["n"] for e in lines] == [5, 4, 3, 2, 1]
    assert lines[0]["ip"] == "2001:db8::1" and lines[0]["name"] == "Bob Jones"
