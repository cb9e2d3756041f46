"""User-visible text keyed by stable message IDs; templates and tests use the IDs.

One module per area so that each feature keeps its own texts; IDs must be
unique across modules (a test checks it).
"""

from __future__ import annotations

from idp.i18n import translate

from . import account, core, invitations, recovery, signup

_SOURCES = (
    core.MESSAGES,
    signup.MESSAGES,
    account.MESSAGES,
    recovery.MESSAGES,
    invitations.MESSAGES,
)

MESSAGES: dict[str, str] = {}
for _source in _SOURCES:
    MESSAGES.update(_source)

SCOPE_DESCRIPTIONS = core.SCOPE_DESCRIPTIONS


def message(message_id: str) -> str:
    """The text in the active language (the page's, or the message being written)."""
    text = MESSAGES.get(message_id)
    if text is None:
        return message_id
    # Fixed limits are filled in here; any other {placeholder} is left for the caller.
    return translate(text).format_map(_KeepOthers(signup.LIMITS))


class _KeepOthers(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def duplicate_ids() -> set[str]:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for source in _SOURCES:
        duplicates |= seen & set(source)
        seen |= set(source)
    return duplicates
