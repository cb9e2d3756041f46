"""Checks of what staff type: reasons, names, user IDs. Each raises InvalidInput."""

from __future__ import annotations

from idp.i18n import translate

from .errors import InvalidInput

MIN_REASON = 3
MAX_REASON = 500
MAX_NAME = 64


def check_reason(text: str | None, *, required: bool = True) -> str | None:
    """A reason as the audit keeps it: whitespace folded, 3-500 printable characters."""
    if text is None or not text.strip():
        if required:
            raise InvalidInput(
                translate("a reason is required ({MIN_REASON}-{MAX_REASON} characters)").format(
                    MIN_REASON=MIN_REASON, MAX_REASON=MAX_REASON
                )
            )
        return None
    value = " ".join(text.split())
    if not MIN_REASON <= len(value) <= MAX_REASON or any(
        ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in text
    ):
        raise InvalidInput(
            translate("the reason must be {MIN_REASON}-{MAX_REASON} printable characters").format(
                MIN_REASON=MIN_REASON, MAX_REASON=MAX_REASON
            )
        )
    return value


def check_name(text: str, *, what: str = "staff name") -> str:
    value = " ".join(text.split())
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput(
            translate("the {what} must be 1-{MAX_NAME} printable characters").format(
                what=what, MAX_NAME=MAX_NAME
            )
        )
    return value


def check_username(text: str) -> str:
    value = text.strip()
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            translate("a user ID is 1-{MAX_NAME} printable characters").format(MAX_NAME=MAX_NAME)
        )
    return value
