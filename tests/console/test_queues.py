"""The console's enrollment queue (issue 11 item 1, "Queues"): a practice reviews its
portals' sign-ups, approves or rejects with a reason; bad input and other portals'
items change nothing."""

from __future__ import annotations

import re

from idp.policies.staff_roles import Role
from idp.services import Services

from ..helpers import csrf_token
from .conftest import AT, audit_count, enrollment_status, pending_enrollment

ITEM = re.compile(r'data-enrollment="(\d+)"')


def _queue(services: Services) -> tuple[int, int]:
    with services.db.transaction() as uow:
        for slug in ("northside", "southside"):
            if uow.portals.by_slug(slug) is None:
                uow.portals.add(slug=slug, name=slug.capitalize(), now=AT)
    north = pending_enrollment(services, portal="northside", username="adanorth")
    south = pending_enrollment(services, portal="southside", username="adasouth")
    return north, south


def _decide(client, token: str, enrollment: int | str, decision: str, **extra: str):
    data = {"csrf_token": token, "enrollment": str(enrollment), "decision": decision, **extra}
    return client.post("/admin/enrollments/decide", data=data)


def test_practice_sees_its_portals_queue_with_match_reasons(client, as_staff, services) -> None:
    north, south = _queue(services)
    as_staff(Role.PRACTICE, portals=("northside",))
    html = client.get("/admin/enrollments").text
    assert ITEM.findall(html) == [str(north)]
    assert "same dob" in html and "similar last name" in html and "northside" in html
    assert 'href="/admin/enrollments"' in client.get("/admin/").text


def test_practice_approves_with_a_reason_on_the_record(client, as_staff, services) -> None:
    north, _ = _queue(services)
    as_staff(Role.PRACTICE, portals=("northside",))
    token = csrf_token(client.get("/admin/enrollments").text)
    done = _decide(client, token, north, "approve", reason="called the patient back")
    assert done.status_code == 303 and done.headers["Location"] == "/admin/enrollments"
    page = client.get("/admin/enrollments").text
    assert f"Enrollment #{north} approved" in page and ITEM.findall(page) == []
    assert enrollment_status(services, north) == "approved"
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("adanorth")
        [event] = [e for e in uow.audit.tail(500) if e.type == "enrollment_approved"]
    assert account is not None and account.status == "pending"
    assert event.actor == "staff:carol"
    assert event.details["portal"] == "northside" and event.details["staff_role"] == "practice"
    assert event.details["reason"] == "called the patient back"


def test_reject_needs_a_reason_and_bad_posts_change_nothing(client, as_staff, services) -> None:
    north, south = _queue(services)
    as_staff(Role.PRACTICE, portals=("northside",))
    token = csrf_token(client.get("/admin/enrollments").text)
    before = audit_count(services)
    for response, status in (
        (_decide(client, token, north, "reject", reason=""), 400),
        (_decide(client, token, north, "reject", reason="x\u0001yz"), 400),
        (_decide(client, token, north, "delete", reason="nope nope"), 400),
        (_decide(client, token, "1; drop", "approve"), 400),
        (_decide(client, token, 99999, "approve"), 404),
        # Another portal's enrollment answers exactly like one that does not exist.
        (_decide(client, token, south, "approve", reason="not mine"), 404),
    ):
        assert response.status_code == status, response.text[:300]
    assert _decide(client, "", north, "approve").status_code == 400  # no CSRF token
    assert enrollment_status(services, north) == enrollment_status(services, south) == "pending"
    # Only the attempt on another portal's item is recorded (staff_refused).
    assert audit_count(services) == before + 1 == before + audit_count(services, "staff_refused")
    rejected = _decide(client, token, north, "reject", reason="could not confirm identity")
    assert rejected.status_code == 303 and enrollment_status(services, north) == "rejected"
    again = _decide(client, token, north, "approve", reason="changed my mind")
    assert again.status_code == 409 and enrollment_status(services, north) == "rejected"


def test_roles_without_the_queue_are_refused_and_recorded(client, as_staff, services) -> None:
    north, _ = _queue(services)
    as_staff(Role.AUDITOR)
    before = audit_count(services, "staff_refused")
    assert client.get("/admin/enrollments").status_code == 403
    token = csrf_token(client.get("/admin/").text)
    assert _decide(client, token, north, "approve", reason="try anyway").status_code == 403
    assert audit_count(services, "staff_refused") == before + 2
    assert enrollment_status(services, north) == "pending"
    assert 'href="/admin/enrollments"' not in client.get("/admin/").text
