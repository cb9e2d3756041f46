"""Patient lookup, the patient page and the help desk's actions through the console."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask.testing import FlaskClient

from idp.policies.staff_roles import Role
from idp.services import Services

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, form_values
from .conftest import audit_count

AT_ROW = re.compile(r'<a href="/admin/patients/view\?user=([^"]+)">')


@pytest.fixture
def patients(services: Services, factory: Factory) -> None:
    with services.db.transaction() as uow:
        portal = uow.portals.add(slug="northside", name="Northside", now=services.clock())
    grace = factory.account(
        "grace", first_name="Grace", last_name="Hopper", dob=date(1990, 2, 3), email="g@example.org"
    )
    factory.account("grace2", first_name="Grace", last_name="Hopper", dob=date(1991, 2, 3))
    with services.db.transaction() as uow:
        uow.portal_links.link(grace.id, portal.id, "MRN-0042", now=services.clock())


def lookup(browser: FlaskClient, status: int = 200, **params: str) -> str:
    response = browser.get("/admin/patients", query_string=params)
    assert response.status_code == status, response.text[:300]
    return response.text


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"username": "GRACE"}, ["grace"]),
        ({"email": "G@example.org"}, ["grace"]),
        ({"mrn": "MRN-0042", "portal": "northside"}, ["grace"]),
        ({"last_name": "hopper", "dob": "1991-02-03"}, ["grace2"]),
        ({"last_name": "Hopper", "first_name": "Grace", "dob": "1990-02-03"}, ["grace"]),
        ({"last_name": "Hopper", "dob": "1970-01-01"}, []),
    ],
)
def test_lookup_by_each_criterion(client, as_staff, patients, services, params, found) -> None:
    as_staff(Role.SUPPORT)
    before = audit_count(services, "patient_lookup")
    html = lookup(client, **params)
    assert AT_ROW.findall(html) == found
    if found == ["grace"]:
        assert "northside (MRN-0042)" in html
    assert audit_count(services, "patient_lookup") == before + 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"last_name": "Hopper", "dob": "1990-02-30"}, "dob must be a date"),
        ({"username": "grace", "email": "g@example.org"}, "exactly one of"),
        ({"email": "g@example.org", "dob": "1990-02-03"}, "go with last_name"),
        ({"mrn": "MRN-0042"}, "go together"),
        ({"last_name": "Hopper"}, "needs the birth date"),
        ({"last_name": "Hopper", "first_name": "Grace"}, "needs the birth date"),
        ({"username": "x" * 300}, "at most"),
        ({"username": "bad\u0001name"}, "printable"),
    ],
)
def test_bad_lookups_are_refused(client, as_staff, patients, services, params, message):
    as_staff(Role.SUPPORT)
    before = audit_count(services)
    assert message in lookup(client, 400, **params)
    assert audit_count(services) == before


def _page(browser: FlaskClient, user: str = "grace") -> str:
    response = browser.get("/admin/patients/view", query_string={"user": user})
    assert response.status_code == 200, response.text[:300]
    return response.text


def _act(browser: FlaskClient, action: str, user: str = "grace", **fields: str):
    token = csrf_token(_page(browser, user))
    data = {"csrf_token": token, "user": user, "action": action, **fields}
    return browser.post("/admin/patients/action", data=data)


def test_patient_page_shows_status_links_and_activity(
    client, as_staff, patients, services, oidc: OIDCActions
) -> None:
    oidc.login("/login", username="grace", password="wrong password!")
    client.delete_cookie("idp_session")
    as_staff(Role.SUPPORT)
    html = _page(client)
    assert "Grace Hopper" in html and 'data-status="active"' in html
    assert "Northside" in html and "MRN-0042" in html
    assert 'data-event="login" data-outcome="failure"' in html
    assert audit_count(services, "patient_viewed") == 1
    assert client.get("/admin/patients/view?user=nobody").status_code == 404


def test_unlock_with_a_reason_then_the_patient_signs_in(
    client, as_staff, patients, services: Services, oidc: OIDCActions
) -> None:
    with services.db.transaction() as uow:
        grace = uow.accounts.by_username("grace")
        uow.accounts.set_status(grace.id, "locked", now=services.clock())
    as_staff(Role.SUPPORT)
    assert 'data-status="locked"' in _page(client)
    # No reason: refused, still locked, nothing recorded.
    refused = _act(client, "unlock")
    assert refused.status_code == 400 and "reason is required" in refused.text
    assert audit_count(services, "account_unlocked") == 0
    done = _act(client, "unlock", reason="Caller verified by date of birth")
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).text
    assert "Unlocked" in page and 'data-status="active"' in page
    with services.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(50) if e.type == "account_unlocked"]
    assert event.actor == "staff:carol"
    assert event.details["reason"] == "Caller verified by date of birth"
    assert event.details["staff_role"] == "support"
    # The patient signs in (a fresh browser).
    patient = OIDCActions(client.application.test_client(), oidc.factory)
    assert patient.login("/login", username="grace", password=PASSWORD).status_code == 303


def test_change_email_close_and_reopen(client, as_staff, patients, services: Services) -> None:
    as_staff(Role.ADMIN)
    bad = _act(client, "change_email", email="not an address", reason="Patient asked")
    assert bad.status_code == 400
    ok = _act(client, "change_email", email="grace@new.example", reason="Patient asked")
    assert ok.status_code == 303
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("grace").email == "grace@new.example"
    assert _act(client, "close", reason="Patient asked").status_code == 303
    assert 'data-status="closed"' in _page(client)
    # Closing twice is a conflict: the page says so and nothing changes.
    again = _act(client, "close", reason="Twice over")
    assert again.status_code == 409 and "already closed" in again.text
    assert _act(client, "reopen", reason="Closed by mistake").status_code == 303
    assert 'data-status="active"' in _page(client)


def test_roles_and_bad_actions(client, as_staff, patients, services: Services) -> None:
    as_staff(Role.AUDITOR)
    assert client.get("/admin/patients").status_code == 403
    assert client.get("/admin/patients/view?user=grace").status_code == 403
    token = csrf_token(client.get("/admin/").text)
    data = {"csrf_token": token, "user": "grace", "action": "unlock", "reason": "because"}
    assert client.post("/admin/patients/action", data=data).status_code == 403
    assert audit_count(services, "account_unlocked") == 0


def test_unknown_action_and_missing_csrf(client, as_staff, patients, services) -> None:
    as_staff(Role.SUPPORT)
    assert _act(client, "delete_everything", reason="x" * 5).status_code == 400
    data = {"user": "grace", "action": "unlock", "reason": "Caller verified"}
    assert client.post("/admin/patients/action", data=data).status_code == 400
    assert audit_count(services, "account_unlocked") == 0


def test_a_refused_action_keeps_its_reason_and_address(
    client, as_staff, patients, services: Services
) -> None:
    """Issue 14, item 6: the refused form shows what was typed; the other forms stay empty."""
    as_staff(Role.ADMIN)
    bad = _act(client, "change_email", email="not an address", reason="Patient asked")
    assert bad.status_code == 400
    kept = form_values(bad.text)
    assert kept["email"] == "not an address"
    reasons = re.findall(r'id="reason-(\w+)" name="reason"[^>]*value="([^"]*)"', bad.text)
    assert ("change_email", "Patient asked") in reasons
    assert all(value == "" for action, value in reasons if action != "change_email")
