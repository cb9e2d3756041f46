"""Keys named by fields of a stored JSON value: the "follow" half of ``get_linked``.

Why: an access token's record names its grant and its account, and each has a
revocation marker of its own. Reading the record and then the markers took two
round trips to Redis on every introspection and UserInfo call (issue 12). With
:meth:`~idp.store.interfaces.EphemeralStore.get_linked` the store reads the record
and the keys it points to in one step (one Lua script on Redis). This module is
the rule every backend follows, so that they agree on which key a value names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

# (field, key prefix): read ``prefix + str(value[field])``; a field of None reads the
# prefix itself as a fixed key (a version number every request wants as well).
Link = tuple[str | None, str]


def linked_key(document: object, link: Link) -> str | None:
    """The key ``link`` names in ``document`` (a decoded JSON value), or None.

    Only a string or an integer field names a key: null, a boolean, a float, a
    list or a missing field names none (the Lua script applies the same rule).
    """
    field, prefix = link
    if field is None:
        return prefix
    if not isinstance(document, dict):
        return None
    value = document.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return prefix + str(value)


def linked_keys(raw: str, links: Sequence[Link]) -> list[str | None]:
    """Every key ``links`` name in the JSON text ``raw`` (None where none is named)."""
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    return [linked_key(document, link) for link in links]
