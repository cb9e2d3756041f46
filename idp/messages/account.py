"""Texts for account pages and emails."""

from __future__ import annotations

MESSAGES: dict[str, str] = {}
