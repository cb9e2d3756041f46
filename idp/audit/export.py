"""Audit rows as people read them, and their CSV and JSON Lines exports.

Exports write row by row to a text stream, so a year of events never sits in
memory: the store streams rows in, this writes them out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("csv", "jsonl")
COLUMNS = (
    "id",
    "at",
    "type",
    "outcome",
    "user_id",
    "name",
    "actor",
    "client_id",
    "ip",
    "user_agent",
    "subject",
    "details",
)
# Spreadsheets run a cell starting with these as a formula (CSV injection, OWASP);
# user agents and user IDs are typed by strangers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One event with the account it concerns named (user ID and name, not a subject)."""

    id: int
    at: datetime
    type: str
    outcome: str
    actor: str
    subject: str | None
    user_id: str | None
    name: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat(),
            "type": self.type,
            "outcome": self.outcome,
            "user_id": self.user_id,
            "name": self.name,
            "actor": self.actor,
            "client_id": self.client_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "subject": self.subject,
            "details": self.details,
        }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(rows: Iterable[AuditRow], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        data = row.as_dict()
        writer.writerow([_cell(data[c]) for c in COLUMNS])
        count += 1
    return count


def write_jsonl(rows: Iterable[AuditRow], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row.as_dict(), default=str) + "\n")
        count += 1
    return count


def write_export(fmt: str, rows: Iterable[AuditRow], out: TextIO) -> int:
    """Write every row in ``fmt`` (one of FORMATS); the number written."""
    return write_csv(rows, out) if fmt == "csv" else write_jsonl(rows, out)


def iter_export(fmt: str, rows: Iterable[AuditRow], *, batch: int = 500) -> Iterator[str]:
    """The export as text chunks of ``batch`` rows, for a streamed HTTP response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    pending = 0
    for row in rows:
        data = row.as_dict()
        if writer is not None:
            writer.writerow([_cell(data[c]) for c in COLUMNS])
        else:
            buffer.write(json.dumps(data, default=str) + "\n")
        pending += 1
        if pending == batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    tail = buffer.getvalue()
    if tail:
        yield tail
