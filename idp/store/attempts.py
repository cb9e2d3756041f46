"""Failed-credential counters in the ephemeral store, atomic across processes."""

from __future__ import annotations

from idp.policies.lockout import LockoutRules
from idp.store.interfaces import EphemeralStore

# Hard-cap counters outlive any lock period; a month of quiet resets them.
TOTAL_FAILURES_TTL = 30 * 24 * 3600


class AttemptCounter:
    """Failed-credential counts in the ephemeral store, atomic across processes."""

    def __init__(self, store: EphemeralStore, rules: LockoutRules) -> None:
        self._store = store
        self._rules = rules

    def reserve(self, key: str) -> int:
        return self._store.hit(f"attempts:{key}", ttl=self._rules.window_seconds)

    def start_lock(self, key: str) -> None:
        # The counter itself becomes the lock: it stays above the limit until it expires.
        self._store.expire(f"attempts:{key}", ttl=self._rules.lock_seconds)

    def record_failure(self, key: str) -> int:
        return self._store.hit(f"failures-total:{key}", ttl=TOTAL_FAILURES_TTL)

    def clear(self, key: str) -> None:
        self._store.delete(f"attempts:{key}", f"failures-total:{key}")

    def locked_for(self, key: str) -> float | None:
        """Seconds left on a temporary lock, or None (for staff tools, never for replies)."""
        raw = self._store.get(f"attempts:{key}")
        if raw is None or int(raw) < self._rules.max_failures:
            return None
        return self._store.ttl(f"attempts:{key}")

    def unlock(self, key: str) -> None:
        """Staff unlock: both the temporary lock and the hard-cap count go."""
        self.clear(key)
