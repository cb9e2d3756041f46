"""Accounts and their practice identifiers as UserInfo last read them, per process.

Why: UserInfo read the account, its person and the practice link from SQL on
every call, about half of its cost (issue 12), although they change rarely.

How it stays exact: every value is stored with the user-data version
(``idp.store.user_data``) that the request read *before* loading it from SQL, and
is used only by a request that reads that same version. Every commit that writes
accounts, persons or practice links changes the version afterwards, so a value
loaded before the change carries a version that no request sees any more; the
request that reads the new version loads afresh. The version is read in the same
round trip as the access token (``AccessTokenStore.lookup``), so checking it costs
nothing extra.

Backstops: an entry older than ``max_age`` is loaded again (a writer that died
between its commit and the announcement, an edit made outside the provider), and
nothing loaded in the first ``settle`` seconds after this process first saw a
version is kept, so a read replica that trails the primary by less than that
cannot leave a stale copy behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from idp.records import AccountRecord

MAX_AGE_SECONDS = 60.0
SETTLE_SECONDS = 1.0
MAX_ENTRIES = 20_000


@dataclass
class _Entry:
    version: str | None
    loaded_at: float
    account: AccountRecord | None = None
    # portal id -> the account's patient identifier there (None: no active link)
    patient_ids: dict[int, str | None] = field(default_factory=dict)


class UserDirectory:
    """A per-process cache of accounts and practice links, keyed by the user-data version.

    ``max_age`` 0 turns it off (the in-process ephemeral store: a command in another
    process could not announce its changes to this one).
    """

    def __init__(
        self,
        *,
        max_age: float = MAX_AGE_SECONDS,
        settle: float = SETTLE_SECONDS,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age
        # Public so a test can make every load keepable at once.
        self.settle = settle
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._version: str | None = None
        self._version_seen_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self._max_age > 0

    def account(
        self, version: str | None, account_id: int, load: Callable[[int], AccountRecord | None]
    ) -> AccountRecord | None:
        """The account as of ``version`` (read before calling), from here or ``load``,
        without its password hash (kept in no cache)."""
        now = self._monotonic()
        entry = self._live(version, account_id, now)
        if entry is not None and entry.account is not None:
            return entry.account
        record = load(account_id)
        if record is not None:
            # Nothing served from here checks a password: its hash stays in SQL only.
            record = replace(record, password_hash="")
        if record is not None and self._keepable(now):
            with self._lock:
                self._entry(version, account_id, now, entry).account = record
        return record

    def patient_id(
        self,
        version: str | None,
        account_id: int,
        portal_id: int,
        load: Callable[[], str | None],
    ) -> str | None:
        """The account's identifier at a practice as of ``version``, from here or ``load``."""
        now = self._monotonic()
        entry = self._live(version, account_id, now)
        if entry is not None and portal_id in entry.patient_ids:
            return entry.patient_ids[portal_id]
        value = load()
        if self._keepable(now):
            with self._lock:
                self._entry(version, account_id, now, entry).patient_ids[portal_id] = value
        return value

    def _live(self, version: str | None, account_id: int, now: float) -> _Entry | None:
        """The entry to use, if any; a version not seen before drops every entry."""
        if not self.enabled:
            return None
        with self._lock:
            if version != self._version or self._version_seen_at is None:
                self._version = version
                self._version_seen_at = now
                self._entries = {}
                return None
            entry = self._entries.get(account_id)
        if entry is None or entry.version != version or now - entry.loaded_at >= self._max_age:
            return None
        return entry

    def _keepable(self, now: float) -> bool:
        seen = self._version_seen_at
        return self.enabled and seen is not None and now - seen >= self.settle

    def _entry(
        self, version: str | None, account_id: int, now: float, current: _Entry | None
    ) -> _Entry:
        """The entry to add to (call with the lock held): ``current`` if still valid."""
        entry = self._entries.get(account_id)
        if entry is not None and entry is current:
            return entry
        if len(self._entries) >= self._max_entries:
            self._entries = {}
        entry = _Entry(version=version, loaded_at=now)
        if version == self._version:
            self._entries[account_id] = entry
        return entry
