"""Time as a dependency: flows take a clock so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware UTC (naive datetimes are refused by the store)."""
    return datetime.now(UTC)
