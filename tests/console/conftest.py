"""Console fixtures: a trail of events over two portals, and a browser acting as staff.

Until the staff session lands (staff branch), nothing in the provider signs staff
in, so ``as_staff`` places a principal on ``g`` before each request of this test's
app, the way the staff session will; everything behind it (roles, flows, audit,
templates) is the real code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask, g
from sqlalchemy import text

from idp.policies.staff_roles import Role, StaffPrincipal
from idp.records import AuditEntry
from idp.services import Services
from idp.web.admin.guard import STAFF_KEY

from ..conftest import Factory

AT = datetime(2026, 11, 20, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


@pytest.fixture
def as_staff(app: Flask) -> Callable[..., StaffPrincipal]:
    """``as_staff(Role.AUDITOR)``: every later request of ``client`` is by this principal."""

    def become(role: Role, *, name: str = "carol", portals: set[str] | None = None):
        principal = StaffPrincipal(
            actor=f"staff:{name}",
            role=role,
            portals=frozenset(portals) if portals is not None else None,
        )
        funcs = app.before_request_funcs.setdefault(None, [])
        funcs[:] = [f for f in funcs if getattr(f, "console_test", False) is False]

        def place() -> None:
            setattr(g, STAFF_KEY, principal)

        place.console_test = True  # type: ignore[attr-defined]
        funcs.insert(0, place)
        return principal

    return become


@pytest.fixture
def trail(services: Services, factory: Factory) -> dict[str, str]:
    """Six events about two patients over two portals' clients and three networks."""
    with services.db.transaction() as uow:
        north = uow.portals.add(slug="northside", name="Northside", now=AT)
        south = uow.portals.add(slug="southside", name="Southside", now=AT)
    north_rp = factory.client(name="North", portal_id=north.id)
    south_rp = factory.client(name="South", portal_id=south.id)
    alice = factory.account("alice", first_name="Alice", last_name="Smith")
    bob = factory.account("bob", first_name="Bob", last_name="Jones")
    events = [
        (9, "login", "failure", alice.subject, north_rp.client_id, "203.0.113.5"),
        (10, "login", "success", alice.subject, north_rp.client_id, "203.0.113.5"),
        (11, "login", "failure", bob.subject, south_rp.client_id, "198.51.100.7"),
        (12, "account_locked", "success", bob.subject, south_rp.client_id, "198.51.100.7"),
        (36, "password_reset", "success", bob.subject, None, None),
        (37, "login", "success", bob.subject, south_rp.client_id, "2001:db8::1"),
    ]
    for n, (hour, kind, outcome, subject, client_id, ip) in enumerate(events, 1):
        with services.db.transaction() as uow:
            uow.audit.record(
                AuditEntry(
                    type=kind,
                    outcome=outcome,
                    actor=subject,
                    subject=subject,
                    client_id=client_id,
                    ip=ip,
                    user_agent=FIREFOX,
                    details={"n": n, "reason": "invalid_credentials"}
                    if outcome == "failure"
                    else {"n": n},
                ),
                now=AT.replace(day=20 + hour // 24, hour=hour % 24),
            )
    return {
        "north": north_rp.client_id,
        "south": south_rp.client_id,
        "alice": alice.subject,
        "bob": bob.subject,
    }


def audit_count(services: Services, event: str | None = None) -> int:
    query = "SELECT COUNT(*) FROM audit_events" + (" WHERE type = :t" if event else "")
    with services.db.session() as session:
        return int(session.scalar(text(query), {"t": event}) or 0)
