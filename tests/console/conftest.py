"""Console fixtures: a trail of events over two portals, and a browser acting as staff.

Staff sign in the real way (password, then an authenticator code) through the
provider's login; the console's gate is ``idp.web.staff_session``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from idp.policies.staff_roles import Role, StaffPrincipal
from idp.records import AuditEntry
from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions
from ..second_factor import enrol_totp, submit_code, totp_now
from ..staff.conftest import make_staff

AT = datetime(2026, 11, 20, tzinfo=UTC)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def sign_in_staff(
    oidc: OIDCActions,
    factory: Factory,
    services: Services,
    client: FlaskClient,
    role: Role,
    *,
    name: str = "carol",
    portals: tuple[str, ...] = (),
) -> StaffPrincipal:
    """A staff account with an authenticator app signs in to ``client`` with password
    and code, as the console requires."""
    account = factory.account(username=name)
    make_staff(services, account, role.value, *portals)
    secret = enrol_totp(services, account.id)
    parked = oidc.login("/login", username=name)
    assert parked.headers["Location"] == "/login/second-factor", parked.text
    done = submit_code(client, totp_now(services, secret))
    assert done.status_code == 303, done.text
    return StaffPrincipal(actor=f"staff:{name}", role=role, portals=frozenset(portals) or None)


@pytest.fixture
def as_staff(
    oidc: OIDCActions, factory: Factory, services: Services, client: FlaskClient
) -> Callable[..., StaffPrincipal]:
    """``as_staff(Role.AUDITOR)``: :func:`sign_in_staff` on the test's client."""

    def become(role: Role, *, name: str = "carol", portals: tuple[str, ...] = ()):
        return sign_in_staff(oidc, factory, services, client, role, name=name, portals=portals)

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


def pending_enrollment(
    services: Services, *, portal: str | None, username: str, candidate: int | None = None
) -> int:
    """An enrollment waiting for review, as a close-match sign-up leaves it."""
    with services.db.transaction() as uow:
        portal_row = uow.portals.by_slug(portal) if portal else None
        record = uow.enrollments.add(
            email=f"{username}@example.org",
            candidate_account_id=candidate,
            now=AT,
            portal_id=portal_row.id if portal_row else None,
            data={
                "username": username,
                "password_hash": services.hashing.hash("correct horse battery"),
                "answers": [],
                "demographics": {
                    "first_name": "Ada",
                    "last_name": username.capitalize(),
                    "dob": "1990-02-03",
                    "zip": "02138",
                    "gender": "female",
                },
                "terms_accepted_at": AT.isoformat(),
                "match_reasons": ["same_dob", "similar_last_name"],
                "match_score": 7.5,
                "phone_verified": None,
            },
        )
    return record.id


def enrollment_status(services: Services, enrollment_id: int) -> str:
    with services.db.transaction() as uow:
        record = uow.enrollments.get(enrollment_id)
    assert record is not None
    return record.status
