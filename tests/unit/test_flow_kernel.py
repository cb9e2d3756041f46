"""The flow kernel: the state table is enforced, the store binds and takes once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.flows.base import IllegalTransition, StateMachine
from idp.flows.hooks import ResetLockoutHook, SuccessContext, run_hooks
from idp.flows.store import FlowStore, _key
from idp.records import AccountRecord, RequestMeta
from idp.store.memory import MemoryEphemeralStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MACHINE = StateMachine({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()})


def _store() -> tuple[FlowStore, MemoryEphemeralStore]:
    ephemeral = MemoryEphemeralStore()
    return FlowStore(ephemeral, lambda: NOW), ephemeral


def test_machine_refuses_a_skipped_state() -> None:
    MACHINE.check("a", "b")
    with pytest.raises(IllegalTransition):
        MACHINE.check("a", "c")
    with pytest.raises(IllegalTransition):
        MACHINE.check("c", "a")


def test_machine_refuses_a_table_naming_unknown_states() -> None:
    with pytest.raises(ValueError):
        StateMachine({"a": frozenset({"nowhere"})})


def test_load_checks_kind_state_and_binding() -> None:
    flows, _ = _store()
    record = flows.start("k", "a", ttl=60, binding="browser-1", context={"x": 1})
    assert flows.load(record.id, "k", {"a"}, binding="browser-1") == record
    assert flows.load(record.id, "other", {"a"}, binding="browser-1") is None
    assert flows.load(record.id, "k", {"b"}, binding="browser-1") is None
    assert flows.load(record.id, "k", {"a"}, binding="browser-2") is None


@pytest.mark.parametrize("bad", ["", "short", "x" * 43 + "!", "../" * 15, "é" * 43])
def test_malformed_ids_are_unknown(bad: str) -> None:
    flows, _ = _store()
    assert flows.load(bad, "k", {"a"}, binding="b") is None
    assert flows.finish(bad, "k", {"a"}, binding="b") is None


def test_the_store_key_is_not_the_id() -> None:
    flows, ephemeral = _store()
    record = flows.start("k", "a", ttl=60, binding="b")
    assert ephemeral.get(record.id) is None
    assert ephemeral.get(_key(record.id)) is not None
    assert record.id not in _key(record.id)


def test_advance_enforces_the_table_and_keeps_the_deadline() -> None:
    flows, ephemeral = _store()
    record = flows.start("k", "a", ttl=60, binding="b")
    key = _key(record.id)
    ephemeral.expire(key, ttl=20)
    with pytest.raises(IllegalTransition):
        flows.advance(record, "c", MACHINE)
    moved = flows.advance(record, "b", MACHINE, context={"y": 2})
    assert moved is not None and moved.state == "b" and moved.context == {"y": 2}
    remaining = ephemeral.ttl(key)
    assert remaining is not None and remaining <= 20


def test_finish_is_single_use() -> None:
    flows, _ = _store()
    record = flows.start("k", "a", ttl=60, binding="b")
    assert flows.finish(record.id, "k", {"a"}, binding="b") is not None
    assert flows.finish(record.id, "k", {"a"}, binding="b") is None
    assert flows.load(record.id, "k", {"a"}, binding="b") is None


def test_finish_by_another_browser_gets_nothing() -> None:
    flows, _ = _store()
    record = flows.start("k", "a", ttl=60, binding="b")
    assert flows.finish(record.id, "k", {"a"}, binding="intruder") is None
    # Nor can it discard the flow: its own browser still finishes it.
    assert flows.finish(record.id, "k", {"a"}, binding="b") is not None


def test_finish_in_the_wrong_state_or_kind_leaves_the_flow() -> None:
    flows, _ = _store()
    record = flows.start("k", "a", ttl=60, binding="b")
    assert flows.finish(record.id, "k", {"b"}, binding="b") is None
    assert flows.finish(record.id, "other", {"a"}, binding="b") is None
    assert flows.finish(record.id, "k", {"a"}, binding="b") is not None


def test_hooks_run_in_order() -> None:
    seen: list[str] = []
    account = AccountRecord(
        id=1,
        subject="s",
        username="u",
        password_hash="h",
        email=None,
        email_verified=False,
        phone=None,
        phone_verified=False,
        status="active",
        must_change_password=False,
        person=None,
        created_at=NOW,
        password_changed_at=NOW,
    )
    ctx = SuccessContext(tx=None, account=account, meta=RequestMeta(), now=NOW, event="e")
    ctx.settle.append(lambda: seen.append("settled"))
    run_hooks([lambda c: seen.append("first"), ResetLockoutHook()], ctx)
    assert seen == ["first", "settled"]
    assert ctx.settle == []
