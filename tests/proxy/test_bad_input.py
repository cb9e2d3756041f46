"""Bad input is refused with a clear 4xx and changes nothing: no row, no mail, no event."""

from __future__ import annotations

import pytest

from idp.records import PortalRecord
from tests.helpers import bearer

from .conftest import Practice, years_ago


@pytest.fixture
def enrolled(practice: Practice, northside: PortalRecord, ehr: str) -> dict[str, int]:
    assert practice.add_patient(ehr).status_code == 201
    practice.parent()
    practice.mail()
    return practice.rows()


def test_unknown_portal(practice: Practice, enrolled: dict[str, int], admin: str) -> None:
    response = practice.grant(admin, slug="nowhere")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert practice.rows() == enrolled


def test_mrn_of_another_portal(practice: Practice, enrolled: dict[str, int], admin: str) -> None:
    other = practice.portal("eastside", "Eastside Cardiology")
    before = practice.rows()
    response = practice.grant(admin, slug=other.slug)  # MRN-7 is Northside's
    assert response.status_code == 404
    assert response.get_json()["code"] == "unknown_patient"
    # Another practice's system cannot flag Northside's patient either.
    theirs = practice.token(other, "portal:patients")
    flagged = practice.client.put(
        "/api/patients/MRN-7/confidential",
        json={"categories": ["results"], "reason": "minor_consent"},
        headers=bearer(theirs),
    )
    assert flagged.status_code == 404
    assert practice.rows() == before
    assert practice.mail() == []


def test_under_18_representative(practice: Practice, enrolled: dict[str, int], admin: str) -> None:
    practice.parent("kid", age=17)
    before = practice.rows()
    response = practice.grant(admin, representative="kid")
    assert response.status_code == 400
    assert response.get_json()["code"] == "representative_under_age"
    assert practice.rows() == before
    assert practice.mail() == []


@pytest.mark.parametrize(
    "fields",
    [
        {"first_name": "Tim\x00"},
        {"patient_id": "MRN\x00-8"},
        {"last_name": "Hop\u2028per"},
        {"dob": "2020-02-30"},
        {"dob": years_ago(-1)},
        {"zip": "0213"},
        {"gender": "\x00"},
        {"patient_id": "MRN 8"},
        {"patient_id": "x" * 65},
        {"nickname": "Timmy"},
        {"first_name": 7},
    ],
)
def test_bad_patient_is_refused(
    practice: Practice, enrolled: dict[str, int], ehr: str, fields: dict[str, object]
) -> None:
    response = practice.add_patient(ehr, **{"patient_id": "MRN-8", **fields})
    assert response.status_code == 400, response.text
    assert practice.rows() == enrolled


def test_taken_mrn_is_409(practice: Practice, enrolled: dict[str, int], ehr: str) -> None:
    response = practice.add_patient(ehr, first_name="Other")
    assert response.status_code == 409
    assert response.get_json()["code"] == "patient_id_taken"
    assert practice.rows() == enrolled


@pytest.mark.parametrize(
    "fields",
    [
        {"evidence": "form\x00"},
        {"staff": "Nurse\x00Joy"},
        {"relationship": "friend"},
        {"patient_id": "\x00"},
        {"teen_signed": "yes"},
        {"ends_on": "tomorrow"},
        {"representative": "nobody"},
    ],
)
def test_bad_grant_is_refused(
    practice: Practice, enrolled: dict[str, int], admin: str, fields: dict[str, object]
) -> None:
    response = practice.grant(admin, **fields)
    assert 400 <= response.status_code < 500, response.text
    assert practice.rows() == enrolled
    assert practice.mail() == []


def test_wrong_scope(practice: Practice, northside: PortalRecord, enrolled: dict[str, int]) -> None:
    invitations_only = practice.token(northside, "portal:invitations")
    response = practice.add_patient(invitations_only, patient_id="MRN-9")
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    patients_only = practice.token(northside, "portal:patients")
    assert practice.grant(patients_only).status_code == 403
    assert practice.rows() == enrolled


def test_second_live_grant_is_409(practice: Practice, enrolled: dict[str, int], admin: str) -> None:
    assert practice.grant(admin).status_code == 201
    practice.mail()
    before = practice.rows()
    again = practice.grant(admin)
    assert again.status_code == 409
    assert again.get_json()["code"] == "grant_exists"
    assert practice.rows() == before


def test_child_grant_needs_a_parent_or_guardian(
    practice: Practice, enrolled: dict[str, int], admin: str
) -> None:
    response = practice.grant(admin, relationship="other")
    assert response.status_code == 400
    assert response.get_json()["code"] == "relationship_not_for_minor"
    assert practice.rows() == enrolled
