"""Dates in the reader's language: CLDR month names and order in Spanish, strftime in English."""

from __future__ import annotations

from datetime import UTC, date, datetime

from idp.i18n import format_when, message_locale

MOMENT = datetime(2026, 12, 5, 16, 3, tzinfo=UTC)


def test_spanish_dates_use_spanish_month_names_and_order() -> None:
    with message_locale("es"):
        assert format_when(MOMENT, "%d %B %Y at %H:%M UTC") == (
            "5 de diciembre de 2026 a las 16:03 UTC"
        )
        assert format_when(MOMENT, "%d %b %Y, %H:%M UTC") == "5 dic 2026, 16:03 UTC"
        assert format_when(date(2026, 1, 9), "%d %b %Y") == "9 ene 2026"
        # A pattern without a Spanish form is written as strftime writes it, not dropped.
        assert format_when(MOMENT, "%Y-%m-%d") == "2026-12-05"


def test_english_dates_are_unchanged() -> None:
    assert format_when(MOMENT, "%d %B %Y at %H:%M UTC") == "05 December 2026 at 16:03 UTC"
    with message_locale("xx"):
        assert format_when(MOMENT, "%d %b %Y") == "05 Dec 2026"
