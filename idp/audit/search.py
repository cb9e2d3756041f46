"""Audit search: the filters, their validation and the page cursor (issue 11, items 2 and 5).

The staff console, the admin API and ``idp audit search|export`` all parse their
input here, so a filter means the same thing everywhere and bad input is refused
(with the field named) before anything is read or written. Running the query is
the store's job (``idp/store/sql/audit_search.py``). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

# Every outcome the flows record; anything else is a typing mistake, not an empty result.
OUTCOMES = ("success", "failure", "denied", "error", "pending")
MAX_PAGE = 1000
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_TEXT = 128


class FilterError(ValueError):
    """Bad search input; ``field`` names the option, the message says what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to look for; every field is optional and they combine with AND.

    ``since`` is inclusive and ``until`` exclusive; ``user`` is a user ID, an
    account subject or a person's name; ``network`` matches an address or a CIDR
    block; ``actor`` is who acted (``staff:<name>`` may be given as ``<name>``).
    """

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    types: tuple[str, ...] = ()
    outcome: str | None = None
    client_id: str | None = None
    portal: str | None = None
    network: IPv4Network | IPv6Network | None = None
    actor: str | None = None
    # The reader's confinement (a practice's staff: their portals' events only); not
    # typed by the reader, so not part of ``as_dict``'s filters. None: every event.
    scope: frozenset[str] | None = None

    def within(self, portals: frozenset[str] | None) -> AuditFilter:
        """This filter confined to ``portals`` (None leaves it as it is)."""
        return self if portals is None else replace(self, scope=portals)

    def as_dict(self) -> dict[str, Any]:
        """The filter as recorded in the ``audit_searched``/``audit_exported`` event."""
        values = {
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "user": self.user,
            "type": list(self.types) or None,
            "outcome": self.outcome,
            "client": self.client_id,
            "portal": self.portal,
            "ip": str(self.network) if self.network else None,
            "actor": self.actor,
        }
        return {k: v for k, v in values.items() if v is not None}


def _moment(field: str, value: str, *, end: bool) -> datetime:
    """``YYYY-MM-DD`` (a whole UTC day: its start, or for ``--to`` the next day's start)
    or an ISO 8601 date-time (UTC unless it carries an offset)."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(field, f"{value!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise FilterError(field, "must not be empty")
    if len(value) > _MAX_TEXT or any(ord(c) < 32 for c in value):
        raise FilterError(field, f"must be at most {_MAX_TEXT} printable characters")
    return value


def parse_filter(
    *,
    since: str | None = None,
    until: str | None = None,
    user: str | None = None,
    types: tuple[str, ...] | list[str] = (),
    outcome: str | None = None,
    client: str | None = None,
    portal: str | None = None,
    ip: str | None = None,
    actor: str | None = None,
) -> AuditFilter:
    """Validate raw input (strings from a form, a query string or the command line)."""
    start = _moment("from", since, end=False) if since else None
    end = _moment("to", until, end=True) if until else None
    if start and end and start >= end:
        raise FilterError("to", "must be after --from")
    for t in types:
        if not _TYPE.match(t):
            raise FilterError("type", f"{t!r} is not an event type (snake_case)")
    if outcome is not None and outcome not in OUTCOMES:
        raise FilterError("outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES)}")
    network = None
    if ip is not None:
        try:
            network = ip_network(ip.strip(), strict=False)
        except ValueError:
            raise FilterError("ip", f"{ip!r} is not an IP address or CIDR network") from None
    return AuditFilter(
        since=start,
        until=end,
        user=_text("user", user),
        types=tuple(dict.fromkeys(types)),
        outcome=outcome,
        client_id=_text("client", client),
        portal=_text("portal", portal),
        network=network,
        actor=_text("actor", actor),
    )


# --- pages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts (keyset: the last row's time and id, newest first),
    so a page costs the same however deep it is, and new events do not shift pages."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat(timespec='microseconds')}~{self.id}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            at, _, ident = value.partition("~")
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None or not ident.isdigit():
                raise ValueError
            return cls(moment.astimezone(UTC), int(ident))
        except ValueError:
            raise FilterError("after", "is not a cursor from a previous page") from None
