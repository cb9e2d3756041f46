"""SQLite backend for ephemeral state, shared by every process on one machine."""

from __future__ import annotations

from idp.store.sqlite.ephemeral import SqliteEphemeralStore

__all__ = ["SqliteEphemeralStore"]
