"""The one normal form of a user ID, shared by the SQL store, counters and flows."""

from __future__ import annotations


def username_key(username: str) -> str:
    """User IDs are unique case-insensitively (DESIGN.md)."""
    return username.strip().casefold()
