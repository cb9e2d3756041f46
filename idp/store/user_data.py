"""One version number for what UserInfo shows: accounts, persons and practice links.

Why: UserInfo read the account (and the practice link) from SQL on every call,
the largest part of its cost (issue 12). Each provider process now keeps what it
read (``idp.oidc.user_directory``), tagged with the version current when it read
it, and every UserInfo call reads the version together with the access token
(one round trip, ``AccessTokenStore.lookup``): a cached record is used only while
the version is unchanged, so a closed account, a changed email or an ended link
shows at once, in every process.

Who bumps it: every transaction that writes the ``accounts``, ``persons`` or
``portal_links`` tables, right after its commit (``idp.store.sql.user_data_changes``
watches the SQL sessions, so no writer can forget). The value is random, not a
counter: a writer needs no read, and an expired key (absent) is just one more
value that differs from what the caches hold.
"""

from __future__ import annotations

import logging
import secrets
import time

from idp.store.interfaces import EphemeralStore

VERSION_KEY = "userdata:version"
# The key need only outlive every process's memory of a value (caches also re-read
# anything older than a minute, idp.oidc.user_directory.MAX_AGE_SECONDS).
VERSION_TTL = 30 * 24 * 3600

_log = logging.getLogger("idp.store")


def announce_user_data_change(store: EphemeralStore) -> None:
    """Tell every process that cached user data is stale (call after the commit)."""
    store.put(VERSION_KEY, secrets.token_hex(8), ttl=VERSION_TTL)


class Announcer:
    """:func:`announce_user_data_change` that never raises: the change has committed.

    A store that refuses (SQLite busy past its timeout, a Redis blip) is asked again
    twice; a final failure is logged and reported by the return value. Caches then
    notice at the latest when their entries age out (a minute), and a Redis outage
    fails the UserInfo calls themselves meanwhile.
    """

    ATTEMPTS = 3
    PAUSE_SECONDS = 0.05

    def __init__(self, store: EphemeralStore) -> None:
        self._store = store

    def __call__(self) -> bool:
        for attempt in range(self.ATTEMPTS):
            try:
                announce_user_data_change(self._store)
                return True
            except Exception as error:  # any store failure: the commit stands
                failure = error.__class__.__name__
            if attempt + 1 < self.ATTEMPTS:
                time.sleep(self.PAUSE_SECONDS)
        _log.error("user data change not announced (caches age out in a minute): %s", failure)
        return False
