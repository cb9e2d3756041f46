from __future__ import annotations

from idp.messages import MESSAGES, duplicate_ids, message


def test_message_ids_are_unique_across_areas() -> None:
    assert duplicate_ids() == set()


def test_every_message_has_text() -> None:
    assert all(text.strip() for text in MESSAGES.values())
    assert message("invalid_credentials") != "invalid_credentials"
