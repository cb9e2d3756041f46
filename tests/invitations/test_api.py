"""The invitations JSON API: bearer tokens with a dedicated scope, the caller's own portal,
clear 4xx for bad input and nothing written when refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idp.records import PortalRecord
from tests.helpers import bearer

from .conftest import PATIENT, Invites, domain_rows

KEYS = {"id", "portal", "patient_id", "status", "created_at", "expires_at", "activated_at"}


# --- authentication and authorisation --------------------------------------------------------


def test_no_token_is_401(invites: Invites, portal: PortalRecord) -> None:
    response = invites.client.post("/api/invitations", json=PATIENT)
    assert response.status_code == 401
    assert response.get_json()["error"] in ("missing_authorization", "invalid_token")
    assert domain_rows(invites)["invitations"] == 0


def test_unknown_token_is_401(invites: Invites, portal: PortalRecord) -> None:
    response = invites.create("not-a-real-token")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_token_without_the_scope_is_403(invites: Invites, portal: PortalRecord) -> None:
    system = invites.system(portal, scope="openid profile portal:invitations")
    response = invites.create(invites.token(system, scope="profile"))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert domain_rows(invites)["invitations"] == 0


def test_practice_token_cannot_use_the_admin_api(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    response = invites.create(token, path=f"/api/admin/portals/{portal.slug}/invitations")
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    created = invites.invite(token)
    for method in ("get", "delete"):
        reply = getattr(invites.client, method)(
            f"/api/admin/invitations/{created['id']}", headers=bearer(token)
        )
        assert reply.status_code == 403
    assert invites.invitation(created["id"]).status == "pending"


def test_client_without_a_portal_is_403(invites: Invites, portal: PortalRecord) -> None:
    orphan = invites.token(invites.system(None))
    response = invites.create(orphan)
    assert response.status_code == 403
    assert response.get_json()["error"] == "access_denied"
    assert invites.client.get("/api/invitations/1", headers=bearer(orphan)).status_code == 403
    assert domain_rows(invites)["invitations"] == 0


def test_another_practice_cannot_read_or_revoke(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    other = invites.practice("eastside", "Eastside Cardiology")
    theirs = invites.token(invites.system(other))
    path = f"/api/invitations/{created['id']}"
    for method in ("get", "delete"):
        reply = getattr(invites.client, method)(path, headers=bearer(theirs))
        assert reply.status_code == 404
        assert reply.get_json()["error"] == "not_found"
    # The same reply as an id that does not exist at all.
    assert invites.client.get("/api/invitations/999999", headers=bearer(theirs)).get_json() == (
        invites.client.get(path, headers=bearer(theirs)).get_json()
    )
    assert invites.invitation(created["id"]).status == "pending"
    assert invites.client.get(path, headers=bearer(token)).status_code == 200


# --- the practice's own invitations ----------------------------------------------------------


def test_create_read_and_revoke(invites: Invites, portal: PortalRecord, token: str) -> None:
    response = invites.create(token)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == KEYS
    assert body["status"] == "pending" and body["portal"] == "northside"
    assert body["expires_at"].endswith("Z") and body["activated_at"] is None
    assert response.headers["Location"] == f"/api/invitations/{body['id']}"
    # Never the code, nor the demographics the practice sent.
    assert "code" not in response.text and "1990" not in response.text

    read = invites.client.get(response.headers["Location"], headers=bearer(token))
    assert read.status_code == 200 and read.get_json() == body

    revoked = invites.client.delete(response.headers["Location"], headers=bearer(token))
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    again = invites.client.delete(response.headers["Location"], headers=bearer(token))
    assert again.status_code == 200 and again.get_json()["status"] == "revoked"
    assert invites.audit_types().count("invitation_revoked") == 1


def test_activated_invitation_cannot_be_revoked(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    invites.create_account(invites.verified(invites.only_code()))
    path = f"/api/invitations/{created['id']}"
    reply = invites.client.delete(path, headers=bearer(token))
    assert reply.status_code == 409
    read = invites.client.get(path, headers=bearer(token)).get_json()
    assert read["status"] == "activated" and read["activated_at"]


def test_audit_names_the_calling_client(invites: Invites, portal: PortalRecord, token: str) -> None:
    created = invites.invite(token)
    invites.client.delete(f"/api/invitations/{created['id']}", headers=bearer(token))
    events = [e for e in invites.audit() if e.type.startswith("invitation_")]
    assert [e.type for e in events] == ["invitation_created", "invitation_revoked"]
    for event in events:
        assert event.actor.startswith("client:")
        assert event.client_id == event.actor.removeprefix("client:")
        assert event.details["invitation_id"] == created["id"]
        assert "MRN-0042" not in json.dumps(event.details)


@pytest.mark.parametrize("invitation_id", ["0", "99999999999999999999", "2147483648"])
def test_ids_out_of_range_are_404(invites: Invites, token: str, invitation_id: str) -> None:
    for method in ("get", "delete"):
        reply = getattr(invites.client, method)(
            f"/api/invitations/{invitation_id}", headers=bearer(token)
        )
        assert reply.status_code == 404


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"dob": "1990-02-30"}, {"dob": "dob_invalid"}),
        ({"dob": "05/17/1990"}, {"dob": "dob_invalid"}),
        ({"dob": "1890-01-01"}, {"dob": "dob_invalid"}),
        ({"dob": "2999-01-01"}, {"dob": "dob_in_future"}),
        ({"dob": ""}, {"dob": "dob_required"}),
        ({"dob": "2020-01-01"}, {"dob": "dob_under_min_age"}),
        ({"zip": "1234"}, {"zip": "zip_invalid"}),
        ({"zip": "ABCDE"}, {"zip": "zip_invalid"}),
        ({"zip": "02139-43"}, {"zip": "zip_invalid"}),
        ({"email": "not-an-address"}, {"email": "email_invalid"}),
        ({"email": "a@example.test, b@example.test"}, {"email": "email_invalid"}),
        ({"email": "a\x00@example.test"}, {"email": "email_invalid"}),
        ({"gender": "banana"}, {"gender": "gender_invalid"}),
        ({"gender": ""}, {"gender": "gender_required"}),
        ({"patient_id": ""}, {"patient_id": "patient_id_required"}),
        ({"patient_id": "x" * 65}, {"patient_id": "patient_id_too_long"}),
        ({"patient_id": "MRN\n1"}, {"patient_id": "patient_id_invalid"}),
        ({"patient_id": "MRN 1"}, {"patient_id": "patient_id_invalid"}),
        ({"first_name": " "}, {"first_name": "first_name_required"}),
        ({"last_name": "x" * 101}, {"last_name": "last_name_too_long"}),
        ({"last_name": "Hop\u0000per"}, {"last_name": "last_name_invalid"}),
        (
            {"first_name": None, "email": None},
            {"first_name": "first_name_required", "email": "email_required"},
        ),
        ({"dob": 19900517}, {"dob": "invalid_type"}),
        # Shape first: a wrong type is reported before the values are checked.
        ({"zip": None, "gender": ["f"]}, {"gender": "invalid_type"}),
        ({"zipcode": "02139"}, {"zipcode": "unknown_field"}),
    ],
)
def test_bad_fields_are_400_with_fields(
    invites: Invites, token: str, changes: dict[str, Any], fields: dict[str, str]
) -> None:
    response = invites.create(token, **changes)
    assert response.status_code == 400, response.text
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert body["fields"] == fields
    assert body["error_description"]
    assert domain_rows(invites)["invitations"] == 0
    assert domain_rows(invites)["outbox"] == 0


def test_accepted_spellings_are_normalised(invites: Invites, token: str) -> None:
    created = invites.invite(token, gender="F", zip="02139-4307", patient_id=" MRN-7 ")
    invitation = invites.invitation(created["id"])
    assert (invitation.gender, invitation.zip, invitation.patient_id) == (
        "female",
        "02139",
        "MRN-7",
    )
    other = invites.invite(token, gender="U", patient_id="MRN-8")
    assert invites.invitation(other["id"]).gender == "unknown"


def test_non_json_is_415(invites: Invites, token: str) -> None:
    response = invites.client.post("/api/invitations", data=PATIENT, headers=bearer(token))
    assert response.status_code == 415
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"\xff\xfe\x00",
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_unreadable_json_is_400(invites: Invites, token: str, body: bytes) -> None:
    response = invites.client.post(
        "/api/invitations",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_repeated_fields_are_refused(invites: Invites, token: str) -> None:
    body = json.dumps(PATIENT)[:-1] + ', "dob": "1991-01-01"}'
    response = invites.client.post(
        "/api/invitations",
        data=body,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"dob": "duplicate_field"}
    assert domain_rows(invites)["invitations"] == 0


# --- staff tools (idp:admin) -------------------------------------------------------------------


@pytest.fixture
def admin(invites: Invites) -> str:
    tool = invites.system(None, scope="openid idp:admin")
    return invites.token(tool, scope="idp:admin")


def test_admin_creates_lists_and_revokes_for_any_practice(
    invites: Invites, portal: PortalRecord, admin: str
) -> None:
    response = invites.create(admin, path=f"/api/admin/portals/{portal.slug}/invitations")
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["portal"] == "northside"
    assert len(invites.mail()) == 1

    listing = invites.client.get(
        f"/api/admin/portals/{portal.slug}/invitations", headers=bearer(admin)
    ).get_json()
    assert [i["id"] for i in listing["invitations"]] == [created["id"]]
    path = f"/api/admin/invitations/{created['id']}"
    assert invites.client.get(path, headers=bearer(admin)).get_json()["status"] == "pending"
    revoked = invites.client.delete(path, headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert (
        invites.client.delete("/api/admin/invitations/424242", headers=bearer(admin)).status_code
        == 404
    )  # noqa: E501
    events = [e for e in invites.audit() if e.type.startswith("invitation_")]
    assert {e.actor for e in events} == {events[0].actor} and events[0].actor.startswith("client:")


def test_admin_unknown_portal_is_404(invites: Invites, admin: str) -> None:
    response = invites.create(admin, path="/api/admin/portals/nowhere/invitations")
    assert response.status_code == 404
    long_slug = invites.create(admin, path=f"/api/admin/portals/{'x' * 300}/invitations")
    assert long_slug.status_code == 404
    assert domain_rows(invites)["invitations"] == 0


def test_admin_bad_input_is_400(invites: Invites, portal: PortalRecord, admin: str) -> None:
    response = invites.create(
        admin, path=f"/api/admin/portals/{portal.slug}/invitations", dob="yesterday"
    )
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"dob": "dob_invalid"}
