"""The console's invitations (issue 11 item 1, "Queues"): a practice creates, resends
(a new code; the old one dies) and revokes its portals' invitations; bad input and
other portals' invitations change nothing."""

from __future__ import annotations

import re

from sqlalchemy import text

from idp.flows.invitations import InvitationInput
from idp.policies.staff_roles import Role, StaffPrincipal
from idp.services import Services

from ..helpers import csrf_token
from .conftest import AT, audit_count

ROW = re.compile(r'data-invitation="(\d+)" data-status="(\w+)"')
PATIENT = {
    "patient_id": "MRN-7",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "dob": "1990-02-03",
    "zip": "02138",
    "gender": "female",
    "email": "ada@example.org",
}


def _portals(services: Services) -> None:
    with services.db.transaction() as uow:
        for slug in ("northside", "southside"):
            uow.portals.add(slug=slug, name=slug.capitalize(), now=AT)


def _code_hash(services: Services, invitation_id: int) -> str:
    with services.db.session() as session:
        query = text("SELECT code_hash FROM invitations WHERE id = :id")
        return str(session.scalar(query, {"id": invitation_id}))


def _create(client, token: str, portal: str = "northside", **changes: str):
    data = {"csrf_token": token, "portal": portal, **PATIENT, **changes}
    return client.post("/admin/invitations/create", data=data)


def _act(client, token: str, invitation: int | str, action: str, reason: str = "patient called"):
    data = {
        "csrf_token": token,
        "portal": "northside",
        "invitation": str(invitation),
        "action": action,
        "reason": reason,
    }
    return client.post("/admin/invitations/act", data=data)


def test_practice_creates_resends_and_revokes(client, as_staff, services) -> None:
    _portals(services)
    as_staff(Role.PRACTICE, portals=("northside",))
    page = client.get("/admin/invitations").text  # one portal: chosen for them
    assert "Invitations at Northside" in page and "southside" not in page
    token = csrf_token(page)
    created = _create(client, token)
    assert created.status_code == 303, created.text[:300]
    [(raw_id, status)] = ROW.findall(client.get("/admin/invitations?portal=northside").text)
    invitation = int(raw_id)
    assert status == "pending"
    old = _code_hash(services, invitation)
    resent = _act(client, token, invitation, "resend")
    assert resent.status_code == 303
    assert _code_hash(services, invitation) != old  # the old code no longer matches
    revoked = _act(client, token, invitation, "revoke", "patient moved away")
    assert revoked.status_code == 303
    page = client.get("/admin/invitations?portal=northside").text
    assert ROW.findall(page) == [(raw_id, "revoked")] and "revoked: its code" in page
    with services.db.transaction() as uow:
        events = {e.type: e for e in uow.audit.tail(200) if e.type.startswith("invitation_")}
    assert events["invitation_reissued"].actor == "staff:carol"
    assert events["invitation_reissued"].details["reason"] == "patient called"
    assert events["invitation_reissued"].details["portal"] == "northside"
    assert events["invitation_revoked"].details["staff_role"] == "practice"
    # Resending a revoked invitation is refused; it stays revoked.
    assert _act(client, token, invitation, "resend").status_code == 409


def test_bad_input_and_other_portals_change_nothing(client, as_staff, services) -> None:
    _portals(services)
    as_staff(Role.PRACTICE, portals=("northside",))
    token = csrf_token(client.get("/admin/invitations").text)
    before = audit_count(services)
    bad = _create(client, token, dob="1990-02-30", email="not-an-address")
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    assert "dob must be a real date" in bad.text
    assert _act(client, token, 1, "delete").status_code == 400
    assert _act(client, token, "x", "resend").status_code == 400
    assert _act(client, token, 424242, "resend").status_code == 404
    assert _act(client, token, 1, "revoke", reason="").status_code == 400
    assert _create(client, "", portal="northside").status_code == 400  # no CSRF token
    assert audit_count(services) == before
    # Southside's invitation is out of reach: absent, and creating there is refused.
    with services.db.transaction() as uow:
        south = uow.portals.by_slug("southside")
    assert south is not None
    created = services.staff.invitations.create(
        StaffPrincipal(actor="staff:root", role=Role.ADMIN),
        "southside",
        InvitationInput(**PATIENT),
    )
    assert created.invitation is not None
    theirs = created.invitation.id
    old = _code_hash(services, theirs)
    assert _act(client, token, theirs, "resend").status_code == 404
    assert _act(client, token, theirs, "revoke").status_code == 404
    assert _code_hash(services, theirs) == old
    before = audit_count(services, "staff_refused")
    assert _create(client, token, portal="southside").status_code == 403
    assert audit_count(services, "staff_refused") == before + 1
    with services.db.transaction() as uow:
        assert [i.status for i in uow.invitations.for_portal(south.id)] == ["pending"]
        north = uow.portals.by_slug("northside")
        assert north is not None and uow.invitations.for_portal(north.id) == []
