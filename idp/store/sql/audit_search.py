"""Audit search on SQL: an :class:`AuditFilter` as one SELECT, paged by keyset or streamed.

Events are joined to the account (user ID) and person (name) they concern, so
readers never see bare subjects. Pages use the (at, id) keyset, never OFFSET;
exports stream with ``yield_per`` (a server-side cursor on PostgreSQL), so memory
stays bounded however many rows match.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Any

from sqlalchemy import Select, and_, case, cast, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import CIDR, INET
from sqlalchemy.orm import Session

from idp.audit.export import AuditRow
from idp.audit.overview import COUNTED_TYPES, OverviewEvent, OverviewRange
from idp.audit.search import AuditFilter, Cursor

from . import models as m

_E, _A, _P = m.AuditEvent, m.Account, m.Person
_SQLITE_IP_IN = "idp_ip_in_network"


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: list[AuditRow]
    next: Cursor | None  # None on the last page


def _ip_in_network(ip: str | None, network: str) -> bool:
    """SQLite has no address type: test membership in Python (stored text may be anything)."""
    try:
        return ip is not None and ip_address(ip) in ip_network(network)
    except ValueError:
        return False


def _user_condition(value: str) -> Any:
    from idp.store.usernames import username_key

    words = value.lower().split()
    by_name = (
        and_(func.lower(_P.first_name) == words[0], func.lower(_P.last_name) == words[-1])
        if len(words) > 1
        else func.lower(_P.last_name) == words[0]
    )
    return or_(_A.username_key == username_key(value), _E.subject == value, by_name)


def _network_condition(session: Session, f: AuditFilter) -> Any:
    network = f.network
    assert network is not None
    if network.num_addresses == 1:
        return _E.ip == str(network.network_address)
    if session.get_bind().dialect.name == "postgresql":
        # Only text that looks like an address reaches the cast (a bad one would abort).
        return case(
            (
                _E.ip.regexp_match(r"^[0-9A-Fa-f:.]+$"),
                cast(_E.ip, INET).op("<<=")(cast(literal(str(network)), CIDR)),
            ),
            else_=false(),
        )
    driver = session.connection().connection.driver_connection
    driver.create_function(_SQLITE_IP_IN, 2, _ip_in_network, deterministic=True)  # type: ignore[union-attr]
    return getattr(func, _SQLITE_IP_IN)(_E.ip, str(network)) == 1


def _portal_clients(slugs: tuple[str, ...]) -> Select[Any]:
    """The client IDs of these portals (an event belongs to a portal through its client)."""
    return (
        select(m.Client.client_id)
        .join(m.Portal, m.Portal.id == m.Client.portal_id)
        .where(m.Portal.slug.in_(slugs))
    )


def build_query(session: Session, f: AuditFilter) -> Select[*tuple[Any, ...]]:
    """The filtered events, newest first, each with its account's user ID and name."""
    query = (
        select(
            _E.id,
            _E.at,
            _E.type,
            _E.outcome,
            _E.actor,
            _E.subject,
            _A.username,
            _P.first_name,
            _P.last_name,
            _E.client_id,
            _E.ip,
            _E.user_agent,
            _E.details,
        )
        .outerjoin(_A, _A.subject == _E.subject)
        .outerjoin(_P, _P.id == _A.person_id)
        .order_by(_E.at.desc(), _E.id.desc())
    )
    if f.since:
        query = query.where(_E.at >= f.since)
    if f.until:
        query = query.where(_E.at < f.until)
    if f.user:
        query = query.where(_user_condition(f.user))
    if f.types:
        query = query.where(_E.type.in_(f.types))
    if f.outcome:
        query = query.where(_E.outcome == f.outcome)
    if f.client_id:
        query = query.where(_E.client_id == f.client_id)
    if f.portal:
        query = query.where(_E.client_id.in_(_portal_clients((f.portal,))))
    if f.scope is not None:
        query = query.where(_E.client_id.in_(_portal_clients(tuple(f.scope))))
    if f.network:
        query = query.where(_network_condition(session, f))
    if f.actor:
        query = query.where(or_(_E.actor == f.actor, _E.actor == f"staff:{f.actor}"))
    return query


def _row(r: Any) -> AuditRow:
    name = " ".join(p for p in (r.first_name, r.last_name) if p) or None
    return AuditRow(
        id=r.id,
        at=r.at,
        type=r.type,
        outcome=r.outcome,
        actor=r.actor,
        subject=r.subject,
        user_id=r.username,
        name=name,
        client_id=r.client_id,
        ip=r.ip,
        user_agent=r.user_agent,
        details=r.details or {},
    )


def search(session: Session, f: AuditFilter, *, limit: int, after: Cursor | None) -> AuditPage:
    """One page of at most ``limit`` rows after ``after`` (None: the newest)."""
    query = build_query(session, f)
    if after is not None:
        query = query.where(or_(_E.at < after.at, and_(_E.at == after.at, _E.id < after.id)))
    rows = [_row(r) for r in session.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, Cursor(rows[-1].at, rows[-1].id) if more and rows else None)


def stream(session: Session, f: AuditFilter, *, batch: int = 2000) -> Iterator[AuditRow]:
    """Every matching row, newest first, fetched ``batch`` at a time."""
    result = session.execute(build_query(session, f).execution_options(yield_per=batch))
    try:
        for r in result:
            yield _row(r)
    finally:
        result.close()


def overview_events(
    session: Session, rng: OverviewRange, *, scope: frozenset[str] | None, batch: int = 5000
) -> Iterator[OverviewEvent]:
    """The counted events of the range with their portal's slug (narrow rows, streamed)."""
    query = (
        select(_E.at, _E.type, _E.outcome, _E.ip, _E.details, m.Portal.slug)
        .outerjoin(m.Client, m.Client.client_id == _E.client_id)
        .outerjoin(m.Portal, m.Portal.id == m.Client.portal_id)
        .where(_E.at >= rng.since, _E.at < rng.until, _E.type.in_(COUNTED_TYPES))
    )
    if scope is not None:
        query = query.where(m.Portal.slug.in_(tuple(scope)))
    result = session.execute(query.execution_options(yield_per=batch))
    try:
        for r in result:
            yield OverviewEvent(r.at, r.type, r.outcome, r.slug, r.ip, r.details or {})
    finally:
        result.close()
