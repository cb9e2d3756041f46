"""The audit chain's rules, on data alone: what counts as altered, deleted or inserted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from idp.audit.chain import (
    GENESIS,
    BreakKind,
    ChainedEvent,
    StoredEvent,
    canonical_json,
    checkpoint_key,
    checkpoint_mac,
    event_hash,
    verify_segment,
)

SEGMENT = "2026-11-20/0"


def _chain(n: int) -> list[StoredEvent]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        event = ChainedEvent(
            segment=SEGMENT,
            seq=i,
            at=datetime(2026, 11, 20, tzinfo=UTC) + timedelta(seconds=i),
            type="login",
            outcome="success",
            actor="s",
            subject="s",
            client_id=None,
            ip="203.0.113.1",
            user_agent=None,
            session_id=None,
            details={"b": 1, "a": "é"},
        )
        prev = event_hash(event, prev)
        out.append(StoredEvent(100 + i, event, prev))
    return out


def _verify(events: list[StoredEvent], head: tuple[int, str] | None):
    return verify_segment(SEGMENT, events, start_seq=0, start_hash=GENESIS, head=head)


def test_intact_chain_has_no_break() -> None:
    events = _chain(4)
    assert _verify(events, (4, events[-1].hash)) is None


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == b'{"a":"\\u00e9","b":1}'


@pytest.mark.parametrize(
    ("tamper", "kind", "event_id"),
    [
        (
            lambda e: [e[0], replace(e[1], event=replace(e[1].event, ip="x")), *e[2:]],
            "altered",
            102,
        ),
        (lambda e: [e[0], replace(e[1], hash="f" * 64), *e[2:]], "altered", 102),
        (lambda e: [e[0], *e[2:]], "deleted", 103),
        (lambda e: [e[0], e[1], e[1], *e[2:]], "inserted", 102),
    ],
)
def test_tampering_is_classified(tamper, kind: str, event_id: int) -> None:
    events = _chain(4)
    found = _verify(tamper(events), (4, events[-1].hash))
    assert found is not None
    assert (found.kind.value, found.event_id) == (kind, event_id)


def test_missing_tail_and_foreign_rows() -> None:
    events = _chain(4)
    found = _verify(events[:3], (4, events[-1].hash))
    assert found is not None and (found.kind, found.seq) == (BreakKind.DELETED, 4)
    found = _verify(events, (3, events[2].hash))
    assert found is not None and (found.kind, found.seq) == (BreakKind.INSERTED, 4)
    found = _verify(events, None)
    assert found is not None and found.kind == BreakKind.INSERTED


def test_checkpoint_mac_depends_on_key_and_every_field() -> None:
    key = checkpoint_key("k" * 32)
    mac = checkpoint_mac(key, segment=SEGMENT, through_seq=4, last_hash="a" * 64)
    assert mac != checkpoint_mac(key, segment=SEGMENT, through_seq=3, last_hash="a" * 64)
    assert mac != checkpoint_mac(key, segment=SEGMENT, through_seq=4, last_hash="b" * 64)
    other = checkpoint_key("j" * 32)
    assert mac != checkpoint_mac(other, segment=SEGMENT, through_seq=4, last_hash="a" * 64)
