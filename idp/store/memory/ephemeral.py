"""In-process :class:`~idp.store.interfaces.EphemeralStore` for a single process.

It mirrors the Redis backend operation for operation (TTLs rounded to whole
milliseconds, counters stored as decimal strings, the same integer rules as
INCR) so that code tested against it behaves the same against Redis; both pass
``tests/contract/test_ephemeral_store.py``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence

from idp.store.linked import Link, linked_keys

# Redis INCR accepts only a canonical signed 64-bit decimal: no "+", no spaces,
# no leading zeros, no "-0", ASCII digits only. int() is laxer, so check first.
_REDIS_INT = re.compile(r"0|-?[1-9][0-9]*", re.ASCII)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _ttl_ms(ttl: float) -> int:
    """Whole milliseconds, at least 1, as Redis PX stores them (so both agree)."""
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, round(ttl * 1000))


class MemoryEphemeralStore:
    """Dict of ``key -> (value, deadline)`` behind one lock.

    One lock (not per-key locks) keeps every method trivially atomic, which is
    the whole point of the interface; the critical sections are tiny. Expired
    entries are dropped when touched and by a full sweep every
    ``_SWEEP_EVERY`` writes, so keys nobody reads again (abandoned logins) do
    not accumulate.
    """

    _SWEEP_EVERY = 1024

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        # Monotonic by default: wall-clock jumps must not resurrect or kill entries.
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}
        self._sets: dict[str, tuple[set[str], float]] = {}
        self._writes = 0

    def ping(self) -> None:
        """Nothing to reach; present so start-up code can treat backends alike."""

    def close(self) -> None:
        """Nothing to release; present so callers can treat backends alike."""

    # -- helpers (call with the lock held) -------------------------------------

    def _live(self, key: str, now: float) -> tuple[str, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= now:
            del self._entries[key]
            return None
        return entry

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes >= self._SWEEP_EVERY:
            self._writes = 0
            expired = [k for k, (_, deadline) in self._entries.items() if deadline <= now]
            for k in expired:
                del self._entries[k]
            for k in [k for k, (_, deadline) in self._sets.items() if deadline <= now]:
                del self._sets[k]

    # -- EphemeralStore ---------------------------------------------------------

    def put(self, key: str, value: str, *, ttl: float) -> None:
        """Store ``value`` under ``key``, replacing any previous value and TTL."""
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            self._entries[key] = (value, now + ms / 1000)
            self._wrote(now)

    def put_new(self, key: str, value: str, *, ttl: float) -> bool:
        """Store only if ``key`` is absent; True if this call stored it."""
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._entries[key] = (value, now + ms / 1000)
            self._wrote(now)
            return True

    def get(self, key: str) -> str | None:
        """The live value, or None when absent or expired."""
        with self._lock:
            entry = self._live(key, self._clock())
            return None if entry is None else entry[0]

    def get_many(self, *keys: str) -> list[str | None]:
        with self._lock:
            now = self._clock()
            return [None if (e := self._live(k, now)) is None else e[0] for k in keys]

    def get_linked(self, key: str, links: Sequence[Link]) -> tuple[str | None, list[str | None]]:
        """The value and the keys it names, read under one lock (``idp.store.linked``)."""
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                return None, []
            found = []
            for name in linked_keys(entry[0], links):
                linked = None if name is None else self._live(name, now)
                found.append(None if linked is None else linked[0])
            return entry[0], found

    def take(self, key: str) -> str | None:
        """Return and delete under the lock, so a one-time code is used at most once."""
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is None:
                return None
            del self._entries[key]
            return entry[0]

    def put_new_then_get(
        self, key: str, value: str, *, ttl: float, read: Sequence[str]
    ) -> tuple[bool, list[str | None]]:
        """put_new and the reads under one hold of the lock: nothing comes between."""
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            stored = self._live(key, now) is None
            if stored:
                self._entries[key] = (value, now + ms / 1000)
                self._wrote(now)
            return stored, [None if (e := self._live(k, now)) is None else e[0] for k in read]

    def delete_if(self, key: str, value: str) -> bool:
        """Compare and delete under the lock."""
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is None or entry[0] != value:
                return False
            del self._entries[key]
            return True

    def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed (a repeated key counts once)."""
        with self._lock:
            now = self._clock()
            count = 0
            for key in keys:
                if self._live(key, now) is not None:
                    del self._entries[key]
                    count += 1
            return count

    def hit(self, key: str, *, ttl: float) -> int:
        """Increment a counter; the deadline is set on creation and never moved.

        Like INCR, an existing value keeps its TTL and must be a canonical 64-bit
        integer, else ValueError (the Redis backend raises the same).
        """
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                self._entries[key] = ("1", now + ms / 1000)
                self._wrote(now)
                return 1
            value, deadline = entry
            if not _REDIS_INT.fullmatch(value) or not _INT64_MIN <= int(value) <= _INT64_MAX:
                raise ValueError(f"value of {key!r} is not an integer or out of range")
            count = int(value) + 1
            if count > _INT64_MAX:
                raise ValueError(f"incrementing {key!r} would overflow")
            self._entries[key] = (str(count), deadline)
            return count

    def expire(self, key: str, *, ttl: float) -> bool:
        """Move the deadline of a live key; False when it is absent."""
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                return False
            self._entries[key] = (entry[0], now + ms / 1000)
            return True

    def ttl(self, key: str) -> float | None:
        """Seconds left (whole milliseconds, as PTTL reports), or None when absent."""
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                return None
            return math.floor((entry[1] - now) * 1000) / 1000

    def _live_set(self, key: str, now: float) -> set[str] | None:
        entry = self._sets.get(key)
        if entry is not None and entry[1] <= now:
            del self._sets[key]
            return None
        return None if entry is None else entry[0]

    def add_member(self, key: str, member: str, *, ttl: float) -> None:
        """SADD plus a deadline that only moves later (like EXPIRE ... GT)."""
        ms = _ttl_ms(ttl)
        with self._lock:
            now = self._clock()
            members = self._live_set(key, now)
            deadline = now + ms / 1000
            if members is None:
                self._sets[key] = ({member}, deadline)
                return
            members.add(member)
            self._sets[key] = (members, max(deadline, self._sets[key][1]))

    def members(self, key: str) -> set[str]:
        with self._lock:
            members = self._live_set(key, self._clock())
            return set(members) if members else set()

    def remove_member(self, key: str, member: str) -> bool:
        with self._lock:
            members = self._live_set(key, self._clock())
            if not members or member not in members:
                return False
            members.discard(member)
            if not members:
                del self._sets[key]
            return True
