"""The console column of the role table: each role reaches exactly its pages and sees
exactly its portals' events (issue 11, "How it is verified": role tests)."""

from __future__ import annotations

import re

import pytest

from idp.policies.staff_roles import Role
from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions, csrf_token
from .conftest import audit_count

ROW = re.compile(r'data-event-id="\d+"')
RANGE = {"from": "2026-11-20", "to": "2026-11-21"}
PAGES = ("/admin/", "/admin/audit", "/admin/overview")

# role -> the status of each page, then of the export
TABLE = {
    Role.ADMIN: ((200, 200, 200), 200),
    Role.AUDITOR: ((200, 200, 200), 200),
    Role.PRACTICE: ((200, 200, 200), 200),
    Role.SUPPORT: ((200, 403, 403), 403),
}


@pytest.mark.parametrize("role", list(TABLE))
def test_each_role_reaches_exactly_its_pages(client, as_staff, trail, services, role) -> None:
    as_staff(role, portals=("northside",) if role is Role.PRACTICE else ())
    pages, export = TABLE[role]
    assert tuple(client.get(p, query_string=RANGE).status_code for p in PAGES) == pages
    token = csrf_token(client.get("/admin/").text)
    before = audit_count(services, "audit_exported")
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == export
    assert audit_count(services, "audit_exported") == before + (export == 200)
    home = client.get("/admin/").text
    assert ('href="/admin/audit"' in home) is (pages[1] == 200)


def test_practice_sees_only_its_portals_events(client, as_staff, trail, services) -> None:
    as_staff(Role.PRACTICE, portals=("northside",))
    html = client.get("/admin/audit", query_string={"to": "2026-11-21"}).text
    assert len(ROW.findall(html)) == 2 and "Bob Jones" not in html
    assert "You see the events of your portals only: northside" in html
    # Another portal's events are refused, not quietly empty; only the refusal is recorded.
    before = audit_count(services)
    refused = client.get("/admin/audit", query_string={"portal": "southside"})
    assert refused.status_code == 403 and "southside" in refused.text
    assert audit_count(services) == before + 1 == audit_count(services, "staff_refused") + before
    # The export is confined the same way.
    token = csrf_token(html)
    out = client.post("/admin/audit/export", data={"csrf_token": token, "format": "jsonl"})
    assert [line for line in out.get_data(as_text=True).splitlines() if "Bob Jones" in line] == []
    assert len(out.get_data(as_text=True).splitlines()) == 2
    # The overview counts only its portal's events.
    overview = client.get("/admin/overview", query_string=RANGE).text
    assert "Sign-ins: 1 in all" in overview and "Lockouts: 0 in all" in overview


def test_a_patient_is_refused_and_a_stranger_sent_to_sign_in(
    client, oidc: OIDCActions, factory: Factory, trail
) -> None:
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 303 and response.headers["Location"] == "/login"
    factory.account("patty")
    oidc.sign_in("patty")
    for page in PAGES:
        assert client.get(page).status_code == 403
    assert client.post("/admin/audit/export", data={"format": "csv"}).status_code in (400, 403)


def test_support_cannot_export_even_with_a_token(client, as_staff, trail, services: Services):
    as_staff(Role.SUPPORT)
    token = csrf_token(client.get("/admin/").text)
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == 403 and "text/csv" not in response.content_type


def test_practice_with_two_portals_reads_both_and_nothing_else(client, as_staff, trail) -> None:
    as_staff(Role.PRACTICE, portals=("northside", "southside"))
    html = client.get("/admin/audit", query_string={"to": "2026-11-21"}).text
    # Every event of either portal's clients; the password reset carried no client.
    assert len(ROW.findall(html)) == 5 and "password_reset" not in html
    assert client.get("/admin/audit", query_string={"portal": "southside"}).status_code == 200
