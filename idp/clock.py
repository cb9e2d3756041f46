"""Time as a dependency: flows take a clock so tests can move it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware UTC (naive datetimes are refused by the store)."""
    return datetime.now(UTC)


class FileOffsetClock:
    """Test only (``IDP_TEST_CLOCK_FILE``, refused unless ``IDP_ENV=test``): wall-clock
    time plus an offset in seconds read from a file at every call.

    A live server's workers are separate processes; a browser test moves their clock by
    writing one number to the file (past a child's 13th birthday, say) instead of
    waiting for years. A missing or empty file is no offset.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    def offset(self) -> float:
        try:
            raw = self._path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0.0
        return float(raw) if raw else 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())
