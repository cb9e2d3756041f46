"""Registered clients by ``client_id``, cached in each process, invalidated everywhere.

Why: every token, introspection and revocation request authenticates its client,
and looking the client up in SQL was the largest single cost of a token request
(issue 12: 42 % of wall time under client_credentials load). Clients change
rarely (``idp clients add|remove``), so each worker keeps the records it has read.

How a change reaches every worker: whoever changes a client (after the change has
committed) writes a new random *version* into the ephemeral store, which every
process of the deployment shares (Redis, or the embedded SQLite store). Each
process reads that one key at most every ``check_every`` seconds (0.5 s) and drops
its whole cache when the value differs from the one it last saw. A removed client
is therefore refused by every worker within about half a second of the command,
with one cheap GET per worker per half second instead of a SQL query per request.

A backstop bounds staleness should a writer die between its commit and the bump:
entries older than ``max_age`` are read again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from idp.records import ClientRecord
from idp.store.interfaces import EphemeralStore

VERSION_KEY = "clients:version"
# The version key only needs to outlive every process's memory of it; when it
# expires the value changes (to absent), which is one extra cache drop.
VERSION_TTL = 30 * 24 * 3600
CHECK_SECONDS = 0.5
MAX_AGE_SECONDS = 60.0


def announce_client_change(store: EphemeralStore) -> None:
    """Tell every process to drop its cached clients (call after the change commits)."""
    store.put(VERSION_KEY, secrets.token_hex(8), ttl=VERSION_TTL)


class ClientDirectory:
    """A per-process cache of :class:`ClientRecord` in front of a SQL lookup."""

    def __init__(
        self,
        store: EphemeralStore,
        *,
        check_every: float = CHECK_SECONDS,
        max_age: float = MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._check_every = check_every
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[ClientRecord, float]] = {}
        self._version: str | None = None
        self._checked_at: float | None = None
        # Bumped at every drop: a lookup that started before a drop must not put
        # what it read (possibly before the change committed) into the new cache.
        self._generation = 0

    def lookup(
        self, client_id: str, load: Callable[[str], ClientRecord | None]
    ) -> ClientRecord | None:
        """The live client, from the cache or from ``load`` (SQL); unknown ones are not cached."""
        now = self._monotonic()
        self._check_version(now)
        entry = self._entries.get(client_id)
        if entry is not None and now - entry[1] < self._max_age:
            return entry[0]
        generation = self._generation
        record = load(client_id)
        if record is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries[client_id] = (record, now)
        return record

    def changed(self) -> None:
        """A client changed here: announce it to every process, and drop ours now."""
        announce_client_change(self._store)
        self._drop()

    def _check_version(self, now: float) -> None:
        checked = self._checked_at
        if checked is not None and now - checked < self._check_every:
            return
        version = self._store.get(VERSION_KEY)
        with self._lock:
            self._checked_at = now
            if version != self._version:
                self._version = version
                self._entries = {}
                self._generation += 1

    def _drop(self) -> None:
        with self._lock:
            self._entries = {}
            self._generation += 1
