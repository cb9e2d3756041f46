"""A teen's own account claims the record made for them as a child (grants stay); a teen
account sharing a phone or email with a representative is flagged to staff (audit event
and ``idp proxy flags``) and can never take over the record; confidential flags by CLI
and API alike. Bad input exits 2 (CLI) or 4xx (API) and changes nothing."""

from __future__ import annotations

import json
from datetime import date

from flask import Flask

from idp.flows.proxy_notices import ProxyNoticeFlow
from idp.records import PortalRecord
from tests.account.conftest import FIREFOX, Browser
from tests.helpers import bearer
from tests.invitations.test_cli import Run

from .conftest import Practice, years_ago


def _claim(run: Run, username: str, patient_id: str = "MRN-7", code: int = 0) -> str:
    args = ["--portal", "northside", "--patient-id", patient_id, "--username", username]
    return str(run("patients", "claim", *args, "--staff", "Joy", "--json", code=code).output)


def test_teen_claims_the_record_and_keeps_its_grants(
    app: Flask, run: Run, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    practice.add_patient(ehr, dob=years_ago(14))
    grace = practice.parent(phone="+16175550100")
    grant = practice.grant(admin).get_json()
    assert grant["level"] == "teen_limited"
    dob = date.fromisoformat(years_ago(14))
    practice.factory.account("tim", first_name="Tim", last_name="Hopper", dob=dob)
    practice.factory.account("older", first_name="Tim", dob=date.fromisoformat(years_ago(15)))
    practice.factory.account("shared", first_name="Tim", dob=dob, phone="+16175550100")
    before = practice.rows()

    refused = {
        "older": "dob mismatch",
        "shared": "contact shared with representative",
        "grace": "dob mismatch",
        "nobody": "unknown account",
    }
    for username, message in refused.items():
        output = _claim(run, username, code=2)
        assert message in output, output
    assert "unknown patient" in _claim(run, "tim", patient_id="MRN-404", code=2)
    assert practice.rows() == before
    assert practice.audit("patient_claimed") == []

    claimed = json.loads(_claim(run, "tim"))
    assert claimed == {"portal": "northside", "username": "tim", "live_grants": 1}
    view = practice.flow().get(grant["id"])
    with practice.services.db.transaction() as uow:
        tim = uow.accounts.by_username("tim")
    assert view.patient_subject == tim.subject
    assert view.grant.patient_person_id == tim.person.id  # the same person, not a copy
    assert view.decision.level.value == "teen_limited"
    assert practice.rows()["proxy_grants"] == before["proxy_grants"]
    (event,) = practice.audit("patient_claimed")
    assert (event.actor, event.subject) == ("staff:Joy", tim.subject)

    # Tim now sees who can see his record; Grace still acts for him, as before.
    browser = Browser(app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.7")
    browser.sign_in("tim")
    page = browser.get("/account/proxy")
    assert f'data-grant="{grant["id"]}" data-status="active"' in page.text
    # Grace's own credentials open Grace's account, never Tim's.
    mine, held = practice.flow().list_for_account(grace)
    assert mine == [] and [v.grant.id for v in held] == [grant["id"]]

    # A record is claimed once.
    assert "not a person record" in _claim(run, "tim", code=2)


def test_young_child_cannot_be_claimed(
    run: Run, practice: Practice, northside: PortalRecord, ehr: str
) -> None:
    practice.add_patient(ehr, dob=years_ago(9))
    practice.factory.account("tim", first_name="Tim", dob=date.fromisoformat(years_ago(9)))
    before = practice.rows()
    assert "patient under teen age" in _claim(run, "tim", code=2)
    assert practice.rows() == before


def test_teen_account_sharing_a_phone_with_the_parent_is_flagged(
    run: Run, practice: Practice, northside: PortalRecord, admin: str
) -> None:
    teen = practice.factory.account(
        "sam",
        first_name="Sam",
        dob=date.fromisoformat(years_ago(15)),
        phone="+16175550100",
    )
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(teen.id, northside.id, "MRN-7", practice.services.clock())
    practice.parent("grace", phone="(617) 555-0100")
    practice.parent("alan", first_name="Alan", phone="+16175550199")
    flagged = practice.grant(admin).get_json()
    other = practice.grant(admin, representative="alan").get_json()
    assert flagged["shared_contact"] is True and other["shared_contact"] is False

    (event,) = practice.audit("proxy_shared_contact_flagged")
    assert event.subject == teen.subject
    assert event.details["grant_id"] == flagged["id"]
    # Once per grant: later changes and the periodic job do not repeat it.
    practice.client.post(
        f"/api/admin/proxy-grants/{flagged['id']}/approve",
        json={"staff": "Dr Who", "teen_signed": True},
        headers=bearer(admin),
    )
    assert ProxyNoticeFlow.from_services(practice.services).run().flagged == 0
    assert len(practice.audit("proxy_shared_contact_flagged")) == 1

    rows = json.loads(run("proxy", "flags", "--json").output)
    assert [r["id"] for r in rows] == [flagged["id"]]
    assert rows[0]["representative"] == "grace"
    assert json.loads(run("proxy", "flags", "--portal", "northside", "--json").output) == rows
    assert "no portal" in run("proxy", "flags", "--portal", "nowhere", code=2).output


def test_shared_contact_found_by_the_periodic_job(
    practice: Practice, northside: PortalRecord, admin: str
) -> None:
    teen = practice.factory.account(
        "sam", first_name="Sam", dob=date.fromisoformat(years_ago(15)), phone="+16175550111"
    )
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(teen.id, northside.id, "MRN-7", practice.services.clock())
    grace = practice.parent("grace", phone="+16175550100")
    practice.grant(admin)
    assert practice.audit("proxy_shared_contact_flagged") == []
    # The teen later types the parent's number into their own account.
    with practice.services.db.transaction() as uow:
        uow.accounts.set_phone(teen.id, grace.phone, verified=False, now=practice.services.clock())
    notices = ProxyNoticeFlow.from_services(practice.services)
    assert notices.run().flagged == 1
    assert notices.run().flagged == 0
    assert len(practice.audit("proxy_shared_contact_flagged")) == 1


def test_confidential_flags_by_cli_and_api_agree(
    run: Run, practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    practice.add_patient(ehr)
    practice.parent()
    grant = practice.grant(admin).get_json()
    common = ["--portal", "northside", "--patient-id", "MRN-7"]
    before = practice.rows()
    # Bad input: a category that does not exist, a change without a reason.
    assert run("patients", "confidential", *common, "--category", "secrets", code=2)
    out = run("patients", "confidential", *common, "--category", "results", code=2).output
    assert "--reason is required" in out
    assert practice.rows() == before
    set_ = run(
        "patients",
        "confidential",
        *common,
        "--category",
        "results",
        "--category",
        "visits",
        "--reason",
        "minor_consent",
        "--staff",
        "Dr Who",
        "--json",
    )
    assert json.loads(set_.output)["confidential"] == ["results", "visits"]
    api = practice.client.get("/api/patients/MRN-7/confidential", headers=bearer(ehr))
    assert api.status_code == 200, api.text
    assert api.get_json()["confidential"] == ["results", "visits"]
    listed = practice.client.get(f"/api/admin/proxy-grants/{grant['id']}", headers=bearer(admin))
    assert {"results", "visits"}.isdisjoint(listed.get_json()["categories"])
    # The API replaces the set; the CLI reads back what the API wrote.
    practice.client.put(
        "/api/patients/MRN-7/confidential",
        json={"categories": ["medications"], "reason": "minor_consent"},
        headers=bearer(ehr),
    )
    shown = json.loads(run("patients", "confidential", *common, "--json").output)
    assert shown["confidential"] == ["medications"]
