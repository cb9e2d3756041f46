"""The staff review API: bearer tokens with ``idp:admin``, decisions audited with names."""

from __future__ import annotations

from flask.testing import FlaskClient

from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions, bearer
from ..signup.conftest import DEMOGRAPHICS, PASSWORD
from .conftest import MatchingActions, audit_events, patient

CLOSE = {"zip": "02138"}
BASE = "/api/admin/enrollments"


def _token(oidc: OIDCActions, factory: Factory, scope: str) -> str:
    rp = factory.client(scope=f"openid {scope}")
    response = oidc.token(rp, {"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return str(response.get_json()["access_token"])


def _pending(signup: MatchingActions, services: Services) -> int:
    patient(services, "grace.existing")
    signup.sign_up(demographics=CLOSE)
    signup.deliver()
    with services.db.transaction() as uow:
        [enrollment] = uow.enrollments.list()
    return enrollment.id


def test_no_token_is_401_and_a_wrong_scope_403(
    client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    for method, path in (
        ("get", BASE),
        ("post", f"{BASE}/1/approve"),
        ("post", f"{BASE}/1/reject"),
    ):
        response = getattr(client, method)(path, json={"staff": "Dana", "reason": "x"})
        assert response.status_code == 401, (path, response.text)
        assert "WWW-Authenticate" in response.headers
        wrong = _token(oidc, factory, "profile")
        response = getattr(client, method)(
            path, json={"staff": "Dana", "reason": "x"}, headers=bearer(wrong)
        )
        assert response.status_code == 403, (path, response.text)
        assert response.get_json()["error"] == "insufficient_scope"
        garbage = getattr(client, method)(path, headers=bearer("not-a-token"))
        assert garbage.status_code == 401


def test_list_and_approve(
    signup: MatchingActions,
    services: Services,
    client: FlaskClient,
    oidc: OIDCActions,
    factory: Factory,
) -> None:
    enrollment_id = _pending(signup, services)
    token = _token(oidc, factory, "idp:admin")
    listed = client.get(BASE, headers=bearer(token))
    assert listed.status_code == 200
    [row] = listed.get_json()["enrollments"]
    assert row["id"] == enrollment_id and row["status"] == "pending"
    assert row["demographics"]["zip"] == "02138"
    assert row["candidate"]["username"] == "grace.existing"
    assert "password_hash" not in listed.text and "answer_hash" not in listed.text
    assert client.get(f"{BASE}?status=approved", headers=bearer(token)).get_json() == {
        "enrollments": []
    }
    assert client.get(f"{BASE}?status=bogus", headers=bearer(token)).status_code == 400

    refused = client.post(f"{BASE}/{enrollment_id}/approve", json={}, headers=bearer(token))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"
    approved = client.post(
        f"{BASE}/{enrollment_id}/approve",
        json={"staff": "Dana Reviewer", "reason": "identity checked by phone"},
        headers=bearer(token),
    )
    assert approved.status_code == 200, approved.text
    body = approved.get_json()["enrollment"]
    assert body["status"] == "approved" and body["account"]["username"] == "ghopper"
    [mail] = signup.deliver()
    assert mail["To"] == DEMOGRAPHICS["email"] and "complete your enrollment" in mail["Subject"]
    assert signup.confirm(signup.link(mail)).status_code == 200
    assert signup.login("ghopper", PASSWORD).status_code == 303
    [event] = audit_events(services, "enrollment_approved")
    assert event.actor == "staff:Dana Reviewer"
    assert event.client_id is not None and event.client_id != ""
    again = client.post(
        f"{BASE}/{enrollment_id}/reject",
        json={"staff": "Dana", "reason": "changed my mind"},
        headers=bearer(token),
    )
    assert again.status_code == 409 and again.get_json()["error"] == "already_decided"


def test_reject_and_unknown_ids(
    signup: MatchingActions,
    services: Services,
    client: FlaskClient,
    oidc: OIDCActions,
    factory: Factory,
) -> None:
    enrollment_id = _pending(signup, services)
    token = _token(oidc, factory, "idp:admin")
    missing = client.post(
        f"{BASE}/99999/reject", json={"staff": "Dana", "reason": "x y z"}, headers=bearer(token)
    )
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    no_reason = client.post(
        f"{BASE}/{enrollment_id}/reject", json={"staff": "Dana"}, headers=bearer(token)
    )
    assert no_reason.status_code == 400
    not_json = client.post(
        f"{BASE}/{enrollment_id}/reject", data="staff=Dana", headers=bearer(token)
    )
    assert not_json.status_code == 400
    rejected = client.post(
        f"{BASE}/{enrollment_id}/reject",
        json={"staff": "Dana", "reason": "the office could not confirm"},
        headers=bearer(token),
    )
    assert rejected.status_code == 200 and rejected.get_json()["enrollment"]["status"] == "rejected"
    [mail] = signup.deliver()
    assert "about your enrollment" in mail["Subject"]
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper") is None
    [event] = audit_events(services, "enrollment_rejected")
    assert event.actor == "staff:Dana" and event.subject is None


def test_username_taken_is_a_conflict_then_another_works(
    signup: MatchingActions,
    services: Services,
    client: FlaskClient,
    oidc: OIDCActions,
    factory: Factory,
) -> None:
    enrollment_id = _pending(signup, services)
    patient(services, "ghopper", email="rival@example.test", first_name="Gus", index=False)
    token = _token(oidc, factory, "idp:admin")
    taken = client.post(
        f"{BASE}/{enrollment_id}/approve", json={"staff": "Dana"}, headers=bearer(token)
    )
    assert taken.status_code == 409 and taken.get_json()["error"] == "username_taken"
    with services.db.transaction() as uow:
        assert uow.enrollments.get(enrollment_id).status == "pending"  # type: ignore[union-attr]
        assert audit_events(services, "enrollment_approved") == []
    ok = client.post(
        f"{BASE}/{enrollment_id}/approve",
        json={"staff": "Dana", "username": "grace.h"},
        headers=bearer(token),
    )
    assert ok.status_code == 200 and ok.get_json()["enrollment"]["account"]["username"] == "grace.h"
