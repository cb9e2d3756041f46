"""The JSON admin API's patient, support and audit operations (issue 11 item 3), each
response checked against idp/web/admin_openapi.json; and the document against the
app's routes, both ways, so that it stays true.

The operations are the console's: the same audit events, the same refusals
(``staff_refused``), and bad input changes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions, bearer
from ..openapi_check import SPEC, check
from ..second_factor import enrol_totp
from .conftest import audit_count, pending_enrollment
from .test_roles import _invitation_input, _prepare

WHY = "caller verified by phone"


def token(oidc: OIDCActions, factory: Factory, scope: str, portal_id: int | None = None) -> str:
    rp = factory.client(
        scope=f"openid {scope}", grant_types=["client_credentials"], portal_id=portal_id
    )
    response = oidc.token(rp, {"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return str(response.get_json()["access_token"])


@pytest.fixture
def admin(oidc: OIDCActions, factory: Factory) -> dict[str, str]:
    return bearer(token(oidc, factory, "idp:admin"))


@pytest.fixture
def support(oidc: OIDCActions, factory: Factory) -> dict[str, str]:
    return bearer(token(oidc, factory, "idp:support"))


def _status(services: Services, username: str) -> str:
    with services.db.transaction() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None
    return str(account.status)


# --- patients ---------------------------------------------------------------------------------


def test_lookup_and_record(client, support, services, trail) -> None:
    before = audit_count(services, "patient_lookup")
    found = check(client.get("/api/admin/patients/search?username=alice", headers=support))
    assert found.status_code == 200
    assert [p["username"] for p in found.get_json()["patients"]] == ["alice"]
    assert audit_count(services, "patient_lookup") == before + 1
    by_email = check(
        client.get("/api/admin/patients/search?email=bob@example.test", headers=support)
    )
    assert [p["username"] for p in by_email.get_json()["patients"]] == ["bob"]
    none = check(client.get("/api/admin/patients/search?username=nobody", headers=support))
    assert none.get_json() == {"patients": []}

    record = check(client.get("/api/admin/patients/bob", headers=support))
    body = record.get_json()
    assert body["username"] == "bob" and body["subject"] == trail["bob"]
    assert record.headers["Cache-Control"] == "no-store"  # a patient's record stays out of caches
    assert {e["type"] for e in body["recent"]} >= {"login", "account_locked"}
    assert audit_count(services, "patient_viewed") == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "username=alice&email=alice@example.test",
        "last_name=Smith",
        "last_name=Smith&dob=not-a-date",
        "portal=northside",
        "colour=red",
        "username=alice&username=bob",
        "username=" + "x" * 300,
    ],
)
def test_bad_lookup_is_400_and_unrecorded(client, support, services, trail, query) -> None:
    before = audit_count(services)
    response = check(client.get(f"/api/admin/patients/search?{query}", headers=support))
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] == "invalid_request"
    assert audit_count(services) == before


def test_unknown_patient_is_404(client, support, services) -> None:
    before = audit_count(services)
    assert check(client.get("/api/admin/patients/nobody", headers=support)).status_code == 404
    post = client.post("/api/admin/patients/nobody/unlock", json={"reason": WHY}, headers=support)
    assert check(post).status_code == 404
    assert audit_count(services) == before


def test_support_actions(client, support, services, factory, smtp) -> None:
    account = factory.account("dave", email="dave@example.test")
    enrol_totp(services, account.id)
    base = "/api/admin/patients/dave"

    unlocked = check(client.post(f"{base}/unlock", json={"reason": WHY}, headers=support))
    assert unlocked.get_json() == {"username": "dave", "action": "unlock"}
    assert audit_count(services, "account_unlocked") == 1

    changed = check(
        client.post(
            f"{base}/email", json={"email": "dave@new.example", "reason": WHY}, headers=support
        )
    )
    assert changed.status_code == 200 and changed.get_json()["email"] == "dave@new.example"
    same = client.post(
        f"{base}/email", json={"email": "dave@new.example", "reason": WHY}, headers=support
    )
    assert check(same).status_code == 409

    link = check(client.post(f"{base}/reset-link", json={"reason": WHY}, headers=support))
    assert link.status_code == 200 and link.get_json()["sent_to"]
    assert audit_count(services, "reset_link_issued") == 1

    reset = check(client.post(f"{base}/mfa-reset", json={"reason": WHY}, headers=support))
    assert reset.status_code == 200 and reset.get_json()["removed"] == 1
    again = client.post(f"{base}/mfa-reset", json={"reason": WHY}, headers=support)
    assert check(again).status_code == 409  # no second factor left

    early = client.post(f"{base}/reopen", json={"reason": WHY}, headers=support)
    assert check(early).status_code == 409  # not closed
    closed = check(client.post(f"{base}/close", json={"reason": WHY}, headers=support))
    assert closed.status_code == 200 and _status(services, "dave") == "closed"
    twice = client.post(f"{base}/close", json={"reason": WHY}, headers=support)
    assert check(twice).status_code == 409
    link_closed = client.post(f"{base}/reset-link", json={"reason": WHY}, headers=support)
    assert check(link_closed).status_code == 409
    reopened = check(client.post(f"{base}/reopen", json={"reason": WHY}, headers=support))
    assert reopened.status_code == 200 and _status(services, "dave") == "active"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("unlock", {}),
        ("unlock", {"reason": "no"}),
        ("unlock", {"reason": WHY, "extra": 1}),
        ("close", {"reason": 42}),
        ("close", ["not", "an", "object"]),
        ("email", {"reason": WHY}),
        ("email", {"email": "not an address", "reason": WHY}),
        ("mfa-reset", {"reason": "x\x00y z"}),
        ("reopen", None),
    ],
)
def test_bad_action_input_changes_nothing(client, support, services, factory, action, body) -> None:
    factory.account("erin")
    before = audit_count(services)
    response = check(client.post(f"/api/admin/patients/erin/{action}", json=body, headers=support))
    assert response.status_code == 400, response.text
    assert audit_count(services) == before and _status(services, "erin") == "active"


# --- audit ------------------------------------------------------------------------------------


def test_audit_search_pages_newest_first(client, admin, services, trail) -> None:
    first = check(client.get("/api/admin/audit?type=login&limit=2", headers=admin)).get_json()
    assert [e["details"]["n"] for e in first["events"]] == [6, 3]
    assert first["next"]
    after = quote(first["next"])
    second = check(
        client.get(f"/api/admin/audit?type=login&limit=2&after={after}", headers=admin)
    ).get_json()
    assert [e["details"]["n"] for e in second["events"]] == [2, 1]
    narrowed = check(
        client.get(
            "/api/admin/audit?from=2026-11-20&to=2026-11-20T23:59:59Z&outcome=failure"
            "&ip=203.0.113.0/24&user=alice&portal=northside&client=" + trail["north"],
            headers=admin,
        )
    ).get_json()
    assert [e["details"]["n"] for e in narrowed["events"]] == [1]
    assert audit_count(services, "audit_searched") == 3


@pytest.mark.parametrize(
    "query",
    [
        "outcome=maybe",
        "ip=not-an-ip",
        "from=yesterday",
        "from=2026-11-22&to=2026-11-21",
        "after=garbage",
        "limit=0",
        "limit=many",
        "portal=nowhere",
        "kind=login",
    ],
)
def test_bad_audit_search_is_400(client, admin, services, trail, query) -> None:
    before = audit_count(services)
    response = check(client.get(f"/api/admin/audit?{query}", headers=admin))
    assert response.status_code == 400, response.text
    assert audit_count(services) == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_audit_export_streams(client, admin, services, trail, fmt) -> None:
    response = check(client.get(f"/api/admin/audit/export?format={fmt}&user=bob", headers=admin))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith(f'.{fmt}"')
    lines = response.get_data(as_text=True).splitlines()
    if fmt == "jsonl":
        assert [json.loads(line)["details"]["n"] for line in lines] == [6, 5, 4, 3]
    else:
        assert lines[0].startswith("id,at,type") and len(lines) == 5
    assert audit_count(services, "audit_exported") == 1


@pytest.mark.parametrize("query", ["", "format=xml", "format=csv&outcome=maybe"])
def test_bad_export_is_400(client, admin, services, trail, query) -> None:
    before = audit_count(services)
    response = check(client.get(f"/api/admin/audit/export?{query}", headers=admin))
    assert response.status_code == 400
    assert audit_count(services) == before


def test_a_practice_token_reads_only_its_portal(client, oidc, factory, services, trail) -> None:
    with services.db.transaction() as uow:
        north = uow.portals.by_slug("northside")
    assert north is not None
    practice = bearer(token(oidc, factory, "idp:practice", portal_id=north.id))
    own = check(client.get("/api/admin/audit", headers=practice)).get_json()
    assert sorted(e["details"]["n"] for e in own["events"] if "n" in e["details"]) == [1, 2]
    assert trail["south"] not in {e["client_id"] for e in own["events"]}
    before = audit_count(services, "staff_refused")
    other = check(client.get("/api/admin/audit?portal=southside", headers=practice))
    assert other.status_code == 403
    export = check(
        client.get("/api/admin/audit/export?format=csv&portal=southside", headers=practice)
    )
    assert export.status_code == 403
    lookup = check(client.get("/api/admin/patients/search?username=alice", headers=practice))
    assert lookup.status_code == 403
    assert audit_count(services, "staff_refused") == before + 3


@pytest.mark.parametrize(
    ("scope", "method", "path", "body"),
    [
        ("idp:auditor", "get", "/api/admin/patients/search?username=alice", None),
        ("idp:auditor", "get", "/api/admin/patients/alice", None),
        ("idp:auditor", "post", "/api/admin/patients/alice/unlock", {"reason": WHY}),
        ("idp:support", "get", "/api/admin/audit", None),
        ("idp:support", "get", "/api/admin/audit/export?format=csv", None),
        ("idp:practice", "post", "/api/admin/patients/alice/close", {"reason": WHY}),
    ],
)
def test_roles_without_the_operation_are_refused(
    client, oidc, factory, services, trail, scope, method, path, body
) -> None:
    headers = bearer(token(oidc, factory, scope))
    before = audit_count(services)
    response = check(getattr(client, method)(path, json=body, headers=headers))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert audit_count(services) == before + 1
    assert audit_count(services, "staff_refused") == 1
    assert _status(services, "alice") == "active"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}]
)
def test_no_or_bad_token_is_401(client, services, trail, headers) -> None:
    before = audit_count(services)
    for method, path in [
        ("get", "/api/admin/patients/search?username=alice"),
        ("get", "/api/admin/patients/alice"),
        ("post", "/api/admin/patients/alice/close"),
        ("get", "/api/admin/audit"),
        ("get", "/api/admin/audit/export?format=csv"),
    ]:
        response = check(getattr(client, method)(path, json={"reason": WHY}, headers=headers))
        assert response.status_code == 401, (path, response.text)
    assert audit_count(services) == before
    assert _status(services, "alice") == "active"


def test_a_client_token_without_staff_scope_is_refused(client, oidc, factory, trail) -> None:
    headers = bearer(token(oidc, factory, "portal:invitations"))
    response = check(client.get("/api/admin/audit", headers=headers))
    assert response.status_code == 403


# --- the document -----------------------------------------------------------------------------


def test_the_document_is_served_as_kept(client) -> None:
    response = check(client.get("/api/admin/openapi.json"))
    assert response.get_json() == json.loads(SPEC.read_text())
    assert response.get_json()["openapi"].startswith("3.1")


def _documented() -> set[tuple[str, str]]:
    doc = json.loads(SPEC.read_text())
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }


def _routed(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/admin/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                found.add((method, path))
    return found


def test_every_admin_route_is_documented_and_every_documented_one_exists(app) -> None:
    routed, documented = _routed(app), _documented()
    assert routed - documented == set(), "routes missing from admin_openapi.json"
    assert documented - routed == set(), "documented operations with no route"


def test_every_documented_operation_names_its_responses() -> None:
    doc: dict[str, Any] = json.loads(SPEC.read_text())
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path == "/api/admin/openapi.json":
                continue
            assert {"401", "403"} <= set(op["responses"]), (method, path)
            assert op["security"] and op["security"][0]["bearer"], (method, path)


# --- the earlier operations: every one, success and refusals, against the document ------------


def test_every_earlier_operation_answers_as_documented(
    client, oidc, factory, services, admin
) -> None:
    ids = _prepare(services, factory)
    second = pending_enrollment(services, portal="northside", username="enrollee2")
    with services.db.transaction() as uow:
        south = uow.portals.by_slug("southside")
    assert south is not None
    other = bearer(token(oidc, factory, "idp:practice", portal_id=south.id))
    invite = {k: str(v) for k, v in asdict(_invitation_input("MRN-C")).items()}
    child = {
        "patient_id": "MRN-U",
        "first_name": "Una",
        "last_name": "Byron",
        "dob": "2019-05-06",
        "zip": "02139",
    }
    grant = {
        "patient_id": "MRN-U",
        "representative": "grace",
        "relationship": "parent",
        "evidence": "form PCR-2",
        "staff": "Dana",
    }
    e, g, r, v = ids["enrollment"], ids["grant"], ids["resend"], ids["revoke"]
    north = "/api/admin/portals/northside"
    calls: list[tuple[str, str, Any, int, dict[str, str] | None]] = [
        ("get", "/api/admin/enrollments", None, 200, None),
        ("get", "/api/admin/enrollments?status=all&limit=5", None, 200, None),
        ("get", "/api/admin/enrollments?status=bogus", None, 400, None),
        ("get", "/api/admin/enrollments?limit=many", None, 400, None),
        ("post", f"/api/admin/enrollments/{e}/approve", {"staff": 5}, 400, None),
        ("post", f"/api/admin/enrollments/{e}/approve", ["x"], 400, None),
        ("post", f"/api/admin/enrollments/{e}/approve", {"staff": "Dana"}, 200, None),
        ("post", f"/api/admin/enrollments/{e}/approve", {"staff": "Dana"}, 409, None),
        ("post", "/api/admin/enrollments/999999/approve", {"staff": "Dana"}, 404, None),
        (
            "post",
            f"/api/admin/enrollments/{second}/reject",
            {"staff": "Dana", "reason": WHY},
            200,
            None,
        ),
        ("post", f"{north}/invitations", invite, 201, None),
        ("post", f"{north}/invitations", {**invite, "colour": "red"}, 400, None),
        ("post", f"{north}/invitations", "not json", 415, None),
        ("post", f"{north}/invitations", invite, 403, other),
        ("get", f"{north}/invitations", None, 200, None),
        ("get", f"{north}/invitations", None, 403, other),
        ("get", f"/api/admin/invitations/{r}", None, 200, None),
        ("get", f"/api/admin/invitations/{r}", None, 404, other),
        ("get", "/api/admin/invitations/999999", None, 404, None),
        ("delete", f"/api/admin/invitations/{v}", {"reason": 5}, 400, None),
        ("delete", f"/api/admin/invitations/{v}", None, 200, None),
        ("post", f"/api/admin/invitations/{r}/resend", {"reason": WHY}, 200, None),
        ("post", "/api/admin/invitations/999999/resend", {"reason": WHY}, 404, None),
        ("post", f"{north}/patients", child, 201, None),
        ("post", f"{north}/patients", child, 409, None),
        ("post", f"{north}/patients", {"patient_id": "MRN-W"}, 400, None),
        ("post", f"{north}/patients", "not json", 415, None),
        ("post", "/api/admin/portals/nowhere/patients", child, 404, None),
        ("get", f"{north}/patients/MRN-T/confidential", None, 200, None),
        (
            "put",
            f"{north}/patients/MRN-T/confidential",
            {"categories": [], "reason": "patient_request"},
            200,
            None,
        ),
        (
            "put",
            f"{north}/patients/MRN-T/confidential",
            {"categories": "x", "reason": "patient_request"},
            400,
            None,
        ),
        ("get", f"{north}/patients/MRN-NONE/confidential", None, 404, None),
        ("post", f"{north}/proxy-grants", grant, 201, None),
        ("post", f"{north}/proxy-grants", {**grant, "full_access": "yes"}, 400, None),
        ("post", f"{north}/proxy-grants", "not json", 415, None),
        ("post", "/api/admin/portals/nowhere/proxy-grants", grant, 404, None),
        ("get", f"{north}/proxy-grants", None, 200, None),
        ("get", f"{north}/proxy-grants?patient_id=MRN-T", None, 200, None),
        ("get", "/api/admin/portals/nowhere/proxy-grants", None, 404, None),
        ("get", f"/api/admin/proxy-grants/{g}", None, 200, None),
        ("get", f"/api/admin/proxy-grants/{g}", None, 404, other),
        ("get", "/api/admin/proxy-grants/999999", None, 404, None),
        ("post", f"/api/admin/proxy-grants/{g}/approve", {"staff": 1}, 400, None),
        (
            "post",
            f"/api/admin/proxy-grants/{g}/approve",
            {"staff": "Dana", "teen_signed": True},
            200,
            None,
        ),
        ("post", f"/api/admin/proxy-grants/{g}/approve", {"staff": "Dana"}, 409, None),
        ("post", f"/api/admin/proxy-grants/{g}/revoke", {"staff": "Dana"}, 400, None),
        (
            "post",
            f"/api/admin/proxy-grants/{g}/revoke",
            {"staff": "Dana", "reason": WHY},
            200,
            None,
        ),
        (
            "post",
            "/api/admin/proxy-grants/999999/revoke",
            {"staff": "Dana", "reason": WHY},
            404,
            None,
        ),
    ]
    seen = set()
    for method, path, body, status, headers in calls:
        kw: dict[str, Any] = {"headers": headers or admin}
        if isinstance(body, str):
            kw.update(data=body, content_type="text/plain")
        elif body is not None:
            kw["json"] = body
        response = check(getattr(client, method)(path, **kw))
        assert response.status_code == status, (method, path, response.text)
        seen.add((method.upper(), _template(path)))
    earlier = {
        (m, p)
        for m, p in _documented()
        if re.match(
            r"/api/admin/(enrollments|invitations|proxy-grants|portals/\{slug\}/(?!require))", p
        )
    }
    assert earlier - seen == set(), "documented operations this test does not call"


def _template(path: str) -> str:
    """The document's path of a concrete one (ids and slugs back to their names)."""
    path = path.split("?")[0]
    for pattern, name in (
        (r"/portals/[^/]+", "/portals/{slug}"),
        (r"/patients/(?!search$)[^/]+/confidential", "/patients/{patient_id}/confidential"),
        (r"/enrollments/\d+", "/enrollments/{enrollment_id}"),
        (r"/invitations/\d+", "/invitations/{invitation_id}"),
        (r"/proxy-grants/\d+", "/proxy-grants/{grant_id}"),
    ):
        path = re.sub(pattern, name, path)
    return path
