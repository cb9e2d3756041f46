"""URL converters: path parameters the databases can hold, or a 404 before any view."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# Primary keys are INTEGER columns: signed 32-bit on PostgreSQL (SQLite's are 64-bit,
# but the same schema must hold on both), so a larger id names no row anywhere. A
# 64-bit bound let /dev/outbox/524822375185977 reach PostgreSQL: "integer out of range",
# a 500.
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` bounded to what a primary key column can hold.

    Werkzeug's converter takes any number of digits; a 40-digit id reached the
    query and the driver raised OverflowError (a 500) instead of finding nothing.
    A larger id names no row: 404, as for any unknown id (Werkzeug's own ``max``
    would skip the rule and answer 405 where another method shares the path).
    """

    def to_python(self, value: str) -> int:
        number: int = super().to_python(value)
        if number > MAX_ROW_ID:
            raise NotFound()
        return number
