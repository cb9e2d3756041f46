"""The user-data version is announced after a commit, never failing the commit's caller."""

from __future__ import annotations

from typing import Any

from idp.store.memory import MemoryEphemeralStore
from idp.store.user_data import VERSION_KEY, Announcer


class Flaky(MemoryEphemeralStore):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def put(self, key: str, value: str, *, ttl: float) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("busy")
        super().put(key, value, ttl=ttl)


def test_each_announcement_is_a_new_version() -> None:
    store = MemoryEphemeralStore()
    seen: set[Any] = {store.get(VERSION_KEY)}
    for _ in range(3):
        assert Announcer(store)() is True
        seen.add(store.get(VERSION_KEY))
    assert None in seen and len(seen) == 4


def test_a_busy_store_is_asked_again() -> None:
    store = Flaky(failures=2)
    assert Announcer(store)() is True
    assert store.get(VERSION_KEY) is not None


def test_a_store_that_keeps_failing_is_reported_not_raised() -> None:
    store = Flaky(failures=5)
    assert Announcer(store)() is False
    assert store.get(VERSION_KEY) is None
