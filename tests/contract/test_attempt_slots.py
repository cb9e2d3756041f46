"""The lockout's slots and lock marker on every ephemeral backend (issue 8, item 3)."""

from __future__ import annotations

from idp.policies.lockout import LockoutRules
from idp.store.attempts import AttemptCounter
from idp.store.interfaces import EphemeralStore

RULES = LockoutRules(max_failures=3, lock_seconds=900)


def test_slots_run_out_at_the_limit_and_released_ones_come_back(
    ephemeral: EphemeralStore,
) -> None:
    counter = AttemptCounter(ephemeral, RULES)
    slots = [counter.reserve("k") for _ in range(3)]
    assert [s.number for s in slots if s] == [1, 2, 3]
    assert counter.reserve("k") is None  # refused unchecked: no slot left
    counter.release(slots[1])
    again = counter.reserve("k")
    assert again is not None and again.number == 2


def test_kept_failures_start_one_lock_that_ends_by_itself(ephemeral: EphemeralStore) -> None:
    counter = AttemptCounter(ephemeral, RULES)
    held = []
    for _ in range(3):
        slot = counter.reserve("k")
        assert slot is not None
        held.append(counter.keep(slot))
        counter.release(slot)  # a kept slot is not released
    assert held == [1, 2, 3]
    assert counter.start_lock("k") is True
    assert counter.start_lock("k") is False  # only one caller starts it (one notice)
    assert counter.reserve("k") is None
    left = counter.locked_for("k")
    assert left is not None and 0 < left <= RULES.lock_seconds
    # The marker alone is the lock: no slot outlives it.
    assert counter.failures("k") == 0
    counter.unlock("k")
    assert counter.reserve("k") is not None


def test_a_reused_slot_is_not_released_by_its_first_holder(ephemeral: EphemeralStore) -> None:
    counter = AttemptCounter(ephemeral, LockoutRules(max_failures=1))
    first = counter.reserve("k")
    assert first is not None
    counter.release(first)
    second = counter.reserve("k")
    assert second is not None
    counter.release(first)  # late: must not free the second holder's slot
    assert counter.reserve("k") is None
