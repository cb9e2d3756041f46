"""Redis backends, shared by every process of a multi-process deployment."""

from __future__ import annotations

from idp.store.redis.ephemeral import RedisEphemeralStore, RedisUnavailableError

__all__ = ["RedisEphemeralStore", "RedisUnavailableError"]
