"""The console's proxy approval queue (issue 11 item 1, "Queues"): a practice approves
(recording the teen's signature) or rejects its portals' pending grants, with reasons;
another portal's grant and bad input change nothing."""

from __future__ import annotations

import re

import pytest

from idp.policies.staff_roles import Role
from idp.records import PortalRecord

from ..console.conftest import sign_in_staff
from ..helpers import csrf_token
from .conftest import Practice, years_ago


@pytest.fixture
def as_staff(oidc, factory, services, client):
    """The console's signed-in staff member (tests/console/conftest.py)."""
    return lambda role, **kw: sign_in_staff(oidc, factory, services, client, role, **kw)


ITEM = re.compile(r'data-grant="(\d+)" data-status="(\w+)"')


def _pending(practice: Practice, ehr: str, admin: str, slug: str = "northside") -> int:
    assert practice.add_patient(ehr, dob=years_ago(14)).status_code == 201
    practice.parent()
    response = practice.grant(admin, slug=slug, full_access=True)
    assert response.status_code == 201, response.text
    return int(response.get_json()["id"])


def _decide(client, token: str, grant: int | str, decision: str, **extra: str):
    data = {"csrf_token": token, "grant": str(grant), "decision": decision, **extra}
    return client.post("/admin/proxy-grants/decide", data=data)


def _status(practice: Practice, grant: int) -> str:
    return practice.flow().get(grant).grant.status


def test_practice_approves_with_the_teens_signature(
    client, as_staff, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    grant = _pending(practice, ehr, admin)
    as_staff(Role.PRACTICE, portals=("northside",))
    page = client.get("/admin/proxy-grants").text
    assert ITEM.findall(page) == [(str(grant), "pending_cosignature")]
    assert "form PCR-2026-001" in page and "I hold the teen" in page
    token = csrf_token(page)
    # Without the signature nothing moves (the flow's own rule).
    refused = _decide(client, token, grant, "approve", reason="checked the form")
    assert refused.status_code == 409 and _status(practice, grant) == "pending_cosignature"
    done = _decide(client, token, grant, "approve", reason="checked the form", teen_signed="yes")
    assert done.status_code == 303 and _status(practice, grant) == "active"
    assert "approved" in client.get("/admin/proxy-grants").text
    [event] = practice.audit("proxy_approved")
    assert event.actor == "staff:carol" and event.details["staff"] == "staff:carol"
    assert event.details["reason"] == "checked the form"
    assert event.details["staff_role"] == "practice" and event.details["portal"] == "northside"


def test_reject_needs_a_reason_and_other_portals_are_absent(
    client, as_staff, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    grant = _pending(practice, ehr, admin)
    practice.portal("southside", "Southside Clinic")
    as_staff(Role.PRACTICE, portals=("southside",))
    page = client.get("/admin/proxy-grants").text
    assert ITEM.findall(page) == []  # Northside's grant is not theirs
    token = csrf_token(page)
    assert _decide(client, token, grant, "approve", teen_signed="yes").status_code == 404
    assert _decide(client, token, grant, "reject", reason="not ours").status_code == 404
    assert _decide(client, token, grant, "maybe").status_code == 400
    assert _decide(client, token, "x", "approve").status_code == 400
    assert _status(practice, grant) == "pending_cosignature"


def test_reject_by_admin_and_auditor_refused(
    client, as_staff, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    grant = _pending(practice, ehr, admin)
    as_staff(Role.ADMIN)
    token = csrf_token(client.get("/admin/proxy-grants").text)
    assert _decide(client, token, grant, "reject", reason="").status_code == 400
    assert _status(practice, grant) == "pending_cosignature"
    done = _decide(client, token, grant, "reject", reason="relationship not proven")
    assert done.status_code == 303 and _status(practice, grant) == "revoked"
    [event] = practice.audit("proxy_revoked")
    assert event.details["reason"] == "relationship not proven"
    assert event.details["operation"] == "proxy_approve"


def test_auditor_is_refused_and_recorded(
    client, as_staff, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    grant = _pending(practice, ehr, admin)
    as_staff(Role.AUDITOR)
    assert client.get("/admin/proxy-grants").status_code == 403
    token = csrf_token(client.get("/admin/").text)
    assert _decide(client, token, grant, "approve", teen_signed="yes").status_code == 403
    assert len(practice.audit("staff_refused")) == 2
    assert _status(practice, grant) == "pending_cosignature"
