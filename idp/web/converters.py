"""URL converters: path parameters the databases can hold, or a 404 before any view."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

# Both SQLite INTEGER and PostgreSQL BIGINT are signed 64-bit.
MAX_ROW_ID = 2**63 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` bounded to what a primary key column can hold.

    Werkzeug's converter takes any number of digits; a 40-digit id reached the
    query and the driver raised OverflowError (a 500) instead of finding nothing.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)
