"""Failed-credential counters in the ephemeral store, atomic across processes.

A counter is ``max_failures`` *slots* per key plus a *lock marker*:

* ``reserve`` takes the first free slot with SET NX before the credential is
  checked, so concurrent guesses can never be more than the free slots (the race
  that let parallel password checks bypass Zitadel's lockout, GHSA-7h8m-vrxx-vr4m).
  A slot taken in flight lives :data:`IN_FLIGHT_SECONDS` at most, so a request
  that dies without releasing it (a killed worker) holds it only that long.
* ``keep`` turns the slot into a recorded failure that lives for the window;
  ``release`` frees a slot whose attempt did not fail (a right credential, or an
  exception such as a database that is down: issue 8, item 3).
* ``start_lock`` sets the lock marker with TTL ``lock_seconds`` and empties the
  slots. The marker is the only thing that makes a key "locked", so no lock can
  outlast the lock setting, whatever happened to the requests that counted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from idp.policies.lockout import LockoutRules
from idp.store.interfaces import EphemeralStore

# Hard-cap counters outlive any lock period; a month of quiet resets them.
TOTAL_FAILURES_TTL = 30 * 24 * 3600
# Longest time a reservation can stay taken without being kept or released: well above a
# request's time even on a loaded machine (argon2 + round trips; a shorter TTL let a slow
# guess's slot be taken by another, checking one more than the limit), and far below the
# FAQ's 15-minute lock. Only a request whose process died holds a slot this long.
IN_FLIGHT_SECONDS = 60
_FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Slot:
    """One reserved attempt: which slot, and the token proving it is still ours."""

    key: str
    number: int
    token: str


class AttemptCounter:
    """Failed-credential slots and locks in the ephemeral store, atomic across processes."""

    def __init__(self, store: EphemeralStore, rules: LockoutRules, *, scope: str = "") -> None:
        self._store = store
        self._rules = rules
        # Separates counters that share a key space but not a limit (per-address budgets).
        self._scope = scope

    @property
    def rules(self) -> LockoutRules:
        return self._rules

    @property
    def store(self) -> EphemeralStore:
        return self._store

    def _slot(self, key: str, number: int) -> str:
        return f"attempt:{self._scope}{key}:{number}"

    def _lock(self, key: str) -> str:
        return f"lock:{self._scope}{key}"

    def _total(self, key: str) -> str:
        return f"failures-total:{self._scope}{key}"

    def reserve(self, key: str, *, hard_cap: int | None = None) -> Slot | None:
        """Take a free slot before checking a credential; None: refuse it unchecked.

        ``hard_cap``: also refuse when the key's hard-cap count (:meth:`total`) is at
        or above it.

        Each try takes a slot (SET NX) and reads the lock marker (and the count) after
        it, in one round trip (issue 12 item 3): a lock started before the slot was
        taken is seen, and one started after it empties the slots (start_lock sets
        the marker first), so a check never runs under a lock. A slot taken while
        locked or capped goes straight back.
        """
        token = secrets.token_hex(8)
        reads = [self._lock(key)] if hard_cap is None else [self._lock(key), self._total(key)]
        for number in range(1, self._rules.max_failures + 1):
            slot = Slot(key, number, token)
            stored, (lock, *total) = self._store.put_new_then_get(
                self._slot(key, number), token, ttl=IN_FLIGHT_SECONDS, read=reads
            )
            capped = hard_cap is not None and int(total[0] or 0) >= hard_cap
            if lock is not None or capped:
                if stored:
                    self.release(slot)
                return None
            if stored:
                return slot
        return None

    def release(self, slot: Slot) -> None:
        """Free a slot whose attempt did not fail; a kept or reused slot stays as it is
        (compare and delete in one atomic step: the slot still holds our token)."""
        self._store.delete_if(self._slot(slot.key, slot.number), slot.token)

    def keep(self, slot: Slot) -> int:
        """Record the slot's attempt as a failure for the window; returns failures held."""
        self._store.put(self._slot(slot.key, slot.number), _FAILED, ttl=self._rules.window_seconds)
        return self.failures(slot.key)

    def failures(self, key: str) -> int:
        """Failures recorded on the key's slots (attempts in flight are not failures).

        All slots in one round trip (get_many), not one GET per slot: every failed
        attempt counts them (issue 12 item 3), and an address's budget has many slots.
        """
        slots = self._store.get_many(
            *(self._slot(key, n) for n in range(1, self._rules.max_failures + 1))
        )
        return sum(value == _FAILED for value in slots)

    def start_lock(self, key: str) -> bool:
        """Lock the key for ``lock_seconds``; True for the one call that started it."""
        started = self._store.put_new(self._lock(key), "1", ttl=self._rules.lock_seconds)
        if started:
            # Set before emptying the slots: a reservation racing in sees the marker.
            self._store.delete(
                *(self._slot(key, n) for n in range(1, self._rules.max_failures + 1))
            )
        return started

    def record_failure(self, key: str) -> int:
        """Count one failure toward the hard cap (kept for a quiet month)."""
        return self._store.hit(self._total(key), ttl=TOTAL_FAILURES_TTL)

    def total(self, key: str) -> int:
        raw = self._store.get(self._total(key))
        return int(raw) if raw is not None else 0

    def clear(self, key: str) -> None:
        """A success: the key's slots, lock and hard-cap count all go."""
        self._store.delete(*self._keys(key))

    def _keys(self, key: str) -> list[str]:
        """The key's lock marker, hard-cap count and slots: what :meth:`clear` deletes."""
        return [
            self._lock(key),
            self._total(key),
            *(self._slot(key, n) for n in range(1, self._rules.max_failures + 1)),
        ]

    def locked_for(self, key: str) -> float | None:
        """Seconds left on a temporary lock, or None (for staff tools, never for replies)."""
        return self._store.ttl(self._lock(key))

    def note_device_lock(self, key: str, device_id: str) -> None:
        """Remember a locked device of a user ID, so that unlocking the user ID ends it."""
        self._store.add_member(f"device-locks:{key}", device_id, ttl=self._rules.lock_seconds)

    def unlock(self, key: str) -> None:
        """Staff unlock or recovery: every lock and both hard-cap counts of a user ID go.

        Also every successful sign-in's: the user ID's keys and its trusted hard-cap
        count go in one DEL (one round trip, not two; issue 12 item 3).
        """
        self._store.delete(*self._keys(key), self._total(trusted_key(key)))
        for device_id in self._store.members(f"device-locks:{key}"):
            self.clear(device_key(device_id))
            self._store.remove_member(f"device-locks:{key}", device_id)


def trusted_key(key: str) -> str:
    """Where failures from a user ID's own devices count toward the hard cap."""
    return f"trusted:{key}"


def device_key(device_id: str) -> str:
    """One device cookie's own slots and lock (OWASP device cookies)."""
    return f"device:{device_id}"
