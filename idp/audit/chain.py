"""The hash chain that makes the audit trail tamper-evident (issue 11, item 4).

Every event carries ``hash = SHA-256(canonical JSON of its fields + previous hash)``.
One chain for the whole trail would make every writer in every process wait for
one row, so the trail is cut into *segments*: one per UTC day and per shard
(``2026-12-04/3``). A transaction picks one shard and appends to that segment's
chain while holding the segment's head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serialises writers anyway), so concurrent writers on other
shards never wait and writers on the same shard can never fork the chain.

When retention purges the start of a segment it leaves a *checkpoint*: the last
purged sequence number and hash, signed with HMAC-SHA256 under a key derived
from the deployment's secret key (HKDF), so verification can resume from it and
a forged checkpoint is detected.

Everything here is pure: no database, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

GENESIS = "0" * 64
# Writers on different shards never contend; eight keeps a day's segments few.
SHARDS = 8


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def segment_for(at: datetime, shard: int) -> str:
    # date().isoformat(): what strftime("%Y-%m-%d") gives for years 1000-9999 (every
    # event is stamped with the clock's now), at a fifth of strftime's cost; the group
    # committer asks this for every event it writes (issue 12).
    return f"{at.astimezone(UTC).date().isoformat()}/{shard}"


def segment_day(segment: str) -> date:
    return date.fromisoformat(segment.split("/", 1)[0])


@dataclass(frozen=True, slots=True)
class ChainedEvent:
    """The fields an event's hash covers, as they are stored (and read back)."""

    segment: str
    seq: int
    at: datetime
    type: str
    outcome: str
    actor: str
    subject: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    session_id: str | None
    details: Mapping[str, Any] | None

    def payload(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "seq": self.seq,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "type": self.type,
            "outcome": self.outcome,
            "actor": self.actor,
            "subject": self.subject,
            "client_id": self.client_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "session_id": self.session_id,
            "details": dict(self.details) if self.details else None,
        }


def event_hash(event: ChainedEvent, prev_hash: str) -> str:
    return hashlib.sha256(canonical_json({"event": event.payload(), "prev": prev_hash})).hexdigest()


# --- checkpoints ---------------------------------------------------------------------------


def checkpoint_key(secret_key: str) -> bytes:
    """A key for checkpoint MACs only, so no other use of the secret key can forge one."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp audit checkpoint v1"
    ).derive(secret_key.encode())


def checkpoint_mac(key: bytes, *, segment: str, through_seq: int, last_hash: str) -> str:
    message = canonical_json({"segment": segment, "through_seq": through_seq, "hash": last_hash})
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- verification --------------------------------------------------------------------------


class BreakKind(StrEnum):
    ALTERED = "altered"  # an event's fields or hash no longer match its chain
    DELETED = "deleted"  # a sequence number is missing
    INSERTED = "inserted"  # an event the chain does not account for
    CHECKPOINT = "checkpoint"  # a retention checkpoint's signature does not match


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event: ChainedEvent
    hash: str


@dataclass(frozen=True, slots=True)
class ChainBreak:
    kind: BreakKind
    segment: str
    event_id: int | None
    at: datetime | None
    seq: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "segment": self.segment,
            "event_id": self.event_id,
            "at": self.at.isoformat() if self.at else None,
            "seq": self.seq,
            "detail": self.detail,
        }


def verify_segment(
    segment: str,
    events: Iterable[StoredEvent],
    *,
    start_seq: int,
    start_hash: str,
    head: tuple[int, str] | None,
) -> ChainBreak | None:
    """The first break in one segment's chain, or None.

    ``events`` come ordered by sequence number; ``start_*`` is the genesis or the
    retention checkpoint; ``head`` is the segment's head row (last seq and hash).
    """
    expected, prev = start_seq + 1, start_hash
    for stored in events:
        ev = stored.event

        def brk(kind: BreakKind, detail: str, at: StoredEvent = stored) -> ChainBreak:
            return ChainBreak(kind, segment, at.id, at.event.at, at.event.seq, detail)

        if head is None:
            return brk(BreakKind.INSERTED, "the segment has no head: no writer started it")
        if ev.seq < expected:
            return brk(BreakKind.INSERTED, f"sequence {ev.seq} is already taken or purged")
        if ev.seq > expected:
            missing = f"{expected}" if ev.seq == expected + 1 else f"{expected}-{ev.seq - 1}"
            return brk(BreakKind.DELETED, f"event(s) {missing} missing before this one")
        if ev.seq > head[0]:
            return brk(BreakKind.INSERTED, f"sequence {ev.seq} is past the head ({head[0]})")
        if event_hash(ev, prev) != stored.hash:
            return brk(BreakKind.ALTERED, "fields or hash differ from what was chained")
        expected, prev = expected + 1, stored.hash
    last = expected - 1
    if head is not None and head[0] > last:
        missing = f"{last + 1}" if head[0] == last + 1 else f"{last + 1}-{head[0]}"
        return ChainBreak(
            BreakKind.DELETED,
            segment,
            None,
            None,
            last + 1,
            f"event(s) {missing} missing at the end",
        )
    if head is not None and head[1] != prev:
        return ChainBreak(
            BreakKind.ALTERED, segment, None, None, last, "the head's hash differs from the chain"
        )
    return None
