"""In-process backends, for a single-process deployment and for tests."""

from __future__ import annotations

from idp.store.memory.ephemeral import MemoryEphemeralStore

__all__ = ["MemoryEphemeralStore"]
