"""Proxy grants end to end: a child without an account, a teen's co-signature, an adult's
own grant, revocation by either side and expiry, each mailed to both sides over SMTP."""

from __future__ import annotations

import pytest

from idp.flows.patients import ProxyRefusal
from idp.flows.proxy_views import GrantView
from idp.records import AccountRecord, PortalRecord, RequestMeta
from tests.helpers import bearer

from .conftest import Practice, text_of, years_ago


def _recipients(practice: Practice) -> dict[str, str]:
    return {m["To"]: text_of(m) for m in practice.mail()}


def test_staff_grant_for_a_child_without_an_account(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    created = practice.add_patient(ehr)
    assert created.status_code == 201, created.text
    assert created.get_json() == {"portal": "northside", "patient_id": "MRN-7", "account": False}
    parent = practice.parent()

    response = practice.grant(admin)
    assert response.status_code == 201, response.text
    grant = response.get_json()
    assert grant["status"] == "active"
    assert grant["level"] == "full"
    assert grant["patient_id"] == "MRN-7"
    assert grant["evidence"] == "form PCR-2026-001"
    assert grant["approved_by"] == "staff:Nurse Joy"
    assert [e["action"] for e in grant["history"]] == ["granted"]
    assert "results" in grant["categories"]

    mails = _recipients(practice)
    # The child has no account and no address: only the representative is told.
    assert list(mails) == ["grace@example.test"]
    assert "You can now act for Tim at Northside Pediatrics with full access" in " ".join(
        mails["grace@example.test"].split()
    )
    (event,) = practice.audit("proxy_granted")
    assert event.subject.startswith("person:")
    assert event.details["evidence"] == "form PCR-2026-001"
    assert event.details["representative"] == parent.subject


def test_teen_cosignature_recorded_by_staff(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    assert practice.add_patient(ehr, dob=years_ago(14)).status_code == 201
    practice.parent()
    pending = practice.grant(admin, full_access=True).get_json()
    assert pending["status"] == "pending_cosignature"
    assert pending["level"] == "none"
    assert [m["Subject"] for m in practice.mail()] == [
        "Proxy access pending at Northside Pediatrics"
    ]

    path = f"/api/admin/proxy-grants/{pending['id']}/approve"
    # Without the teen's signature nothing moves.
    refused = practice.client.post(path, json={"staff": "Dr Who"}, headers=bearer(admin))
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "teen_signature_missing"

    approved = practice.client.post(
        path, json={"staff": "Dr Who", "teen_signed": True}, headers=bearer(admin)
    )
    assert approved.status_code == 200, approved.text
    body = approved.get_json()
    assert body["status"] == "active"
    assert body["level"] == "teen_full"
    assert body["teen_cosigned_by"] == "staff:Dr Who"
    assert body["approved_by"] == "staff:Dr Who"
    assert [e["action"] for e in body["history"]] == ["granted", "approved"]
    assert [m["To"] for m in practice.mail()] == ["grace@example.test"]
    assert practice.audit("proxy_approved")[0].actor.startswith("client:")


def test_teen_without_full_access_is_limited(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    assert practice.add_patient(ehr, dob=years_ago(15)).status_code == 201
    practice.parent()
    grant = practice.grant(admin).get_json()
    assert grant["status"] == "active"
    assert grant["level"] == "teen_limited"
    assert grant["categories"] == ["allergies", "appointments", "immunizations", "messages"]


def test_confidential_flags_win_over_the_level(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    practice.add_patient(ehr)
    parent = practice.parent()
    grant = practice.grant(admin).get_json()
    flagged = practice.client.put(
        "/api/patients/MRN-7/confidential",
        json={"categories": ["results", "medications"], "reason": "minor_consent"},
        headers=bearer(ehr),
    )
    assert flagged.status_code == 200, flagged.text
    assert flagged.get_json()["confidential"] == ["medications", "results"]
    with practice.services.db.transaction() as uow:
        person_id = uow.patients.find(northside, "MRN-7").person.id
    access = practice.flow().access(
        representative_account_id=parent.id, patient_person_id=person_id, portal_id=northside.id
    )
    assert access is not None and access.level.value == "full"
    assert {c.value for c in access.categories}.isdisjoint({"results", "medications"})
    assert "confidential_withheld" in access.reasons
    listed = practice.client.get(f"/api/admin/proxy-grants/{grant['id']}", headers=bearer(admin))
    assert listed.get_json()["confidential"] == ["medications", "results"]
    assert practice.audit("confidential_flags_changed")[0].details["added"] == [
        "medications",
        "results",
    ]


def _adult_grant(
    practice: Practice, northside: PortalRecord
) -> tuple[AccountRecord, AccountRecord, GrantView]:
    patient = practice.parent("ada", age=70, first_name="Ada")
    son = practice.parent("charles", age=45, first_name="Charles")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(patient.id, northside.id, "MRN-ADA", practice.services.clock())
    view = practice.flow().grant_by_patient(
        patient, northside, representative="charles", relationship="other", meta=RequestMeta()
    )
    return patient, son, view


def test_revoke_by_either_side(practice: Practice, northside: PortalRecord) -> None:
    patient, son, view = _adult_grant(practice, northside)
    assert view.decision.level.value == "adult"
    assert set(_recipients(practice)) == {"ada@example.test", "charles@example.test"}
    stranger = practice.parent("mallory", age=30)
    flow = practice.flow()
    with pytest.raises(ProxyRefusal) as refused:
        flow.revoke(view.grant.id, actor="x", meta=RequestMeta(), reason="no", by_account=stranger)
    assert (refused.value.code, refused.value.status) == ("not_found", 404)
    # The patient ends it.
    ended = flow.revoke(
        view.grant.id,
        actor="x",
        meta=RequestMeta(),
        reason="changed my mind",
        by_account=patient,
    )
    assert ended.grant.status == "revoked"
    assert ended.grant.ended_by == patient.subject
    mails = _recipients(practice)
    assert set(mails) == {"ada@example.test", "charles@example.test"}
    assert "can no longer act for Ada" in mails["ada@example.test"]
    # A new grant, ended by the representative this time.
    again = flow.grant_by_patient(
        patient, northside, representative="charles", relationship="other", meta=RequestMeta()
    )
    practice.mail()
    ended = flow.revoke(
        again.grant.id, actor="x", meta=RequestMeta(), reason="stepping down", by_account=son
    )
    assert ended.grant.status == "revoked"
    assert practice.audit("proxy_revoked")[-1].actor == son.subject
    assert set(_recipients(practice)) == {"ada@example.test", "charles@example.test"}


def test_adult_grant_expires_after_18_months(practice: Practice, northside: PortalRecord) -> None:
    patient, son, view = _adult_grant(practice, northside)
    practice.mail()
    flow = practice.flow()
    assert flow.expire_due() == 0
    practice.services.clock.advance(549 * 86400)  # type: ignore[attr-defined]  # 18 months + a bit
    access = flow.access(
        representative_account_id=son.id,
        patient_person_id=view.grant.patient_person_id,
        portal_id=northside.id,
    )
    assert access is not None and not access.allowed
    assert access.reasons == ("adult_grant_expired",)
    assert flow.expire_due() == 1
    assert flow.expire_due() == 0  # idempotent
    expired = flow.get(view.grant.id)
    assert expired.grant.status == "expired"
    assert [e.action for e in expired.history] == ["granted", "expired"]
    mails = practice.mail()
    assert {m["To"] for m in mails} == {"ada@example.test", "charles@example.test"}
    assert all("expired" in m["Subject"] for m in mails)


def test_teen_cosigns_from_own_account_then_staff_approve(
    practice: Practice, northside: PortalRecord, admin: str
) -> None:
    teen = practice.parent("sam", age=15, first_name="Sam", email="sam@example.test")
    parent = practice.parent()
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(teen.id, northside.id, "MRN-7", practice.services.clock())
    pending = practice.grant(admin, full_access=True).get_json()
    assert pending["status"] == "pending_cosignature"
    assert set(_recipients(practice)) == {"grace@example.test", "sam@example.test"}
    flow = practice.flow()
    # The parent cannot sign for the teen.
    with pytest.raises(ProxyRefusal):
        flow.cosign_by_teen(pending["id"], parent, meta=RequestMeta())
    signed = flow.cosign_by_teen(pending["id"], teen, meta=RequestMeta())
    assert signed.grant.status == "pending_approval"
    assert signed.grant.teen_cosigned_by == f"account:{teen.subject}"
    assert signed.decision.level.value == "none"
    approved = practice.client.post(
        f"/api/admin/proxy-grants/{pending['id']}/approve",
        json={"staff": "Dr Who"},
        headers=bearer(admin),
    ).get_json()
    assert (approved["status"], approved["level"]) == ("active", "teen_full")
    assert [e["action"] for e in approved["history"]] == ["granted", "cosigned", "approved"]
