"""Fixed-window request throttles in the ephemeral store (per IP, per email, per identity).

Used where the public can make us do work or send mail: the reply when a limit
is hit is the same whether or not the target exists (security invariant 4).
"""

from __future__ import annotations

import hashlib

from idp.store.interfaces import EphemeralStore


class Throttle:
    def __init__(self, store: EphemeralStore) -> None:
        self._store = store

    @staticmethod
    def _key(scope: str, subject: str) -> str:
        # Hash the subject: throttle keys must not put emails or addresses in Redis.
        digest = hashlib.sha256(subject.strip().casefold().encode("utf-8", "replace")).hexdigest()
        return f"throttle:{scope}:{digest[:32]}"

    def allow(self, scope: str, subject: str, *, limit: int, window: int) -> bool:
        """Count one use; False once more than ``limit`` happened in the window."""
        return self._store.hit(self._key(scope, subject), ttl=window) <= limit

    def exceeded(self, scope: str, subject: str, *, limit: int) -> bool:
        """True when the limit is already used up (without counting this look)."""
        raw = self._store.get(self._key(scope, subject))
        return raw is not None and int(raw) >= limit

    def reset(self, scope: str, subject: str) -> None:
        self._store.delete(self._key(scope, subject))
