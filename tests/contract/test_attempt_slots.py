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


def test_reserve_under_a_hard_cap_refuses_at_the_cap_and_unlock_clears_it(
    ephemeral: EphemeralStore,
) -> None:
    """The hard-cap count is read with the lock marker (one round trip): at the cap a
    reservation is refused unchecked, below it one is taken, and unlock resets both
    the user ID's count and its owner's trusted count."""
    counter = AttemptCounter(ephemeral, RULES)
    assert counter.record_failure("k") == 1
    assert counter.record_failure("k") == 2
    below = counter.reserve("k", hard_cap=3)
    assert below is not None
    counter.release(below)
    assert counter.record_failure("k") == 3
    assert counter.reserve("k", hard_cap=3) is None
    assert counter.reserve("k") is not None  # without a cap only the lock counts
    assert counter.record_failure("trusted:k") == 1
    counter.unlock("k")
    assert counter.total("k") == 0
    assert counter.total("trusted:k") == 0
    assert counter.reserve("k", hard_cap=3) is not None


def test_reserve_under_a_hard_cap_still_refuses_while_locked(ephemeral: EphemeralStore) -> None:
    counter = AttemptCounter(ephemeral, RULES)
    assert counter.start_lock("k") is True
    assert counter.reserve("k", hard_cap=99) is None
