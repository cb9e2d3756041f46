"""Portals and clients on the JSON admin API (issue 11 item 2): ``idp:admin`` only; a
secret in the creating or rotating response only; every response checked against
idp/web/admin_openapi.json; bad input and other roles change nothing."""

from __future__ import annotations

import pytest

from idp.oidc.models import secret_hash
from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions, bearer
from ..openapi_check import check
from .conftest import audit_count


def _token(oidc: OIDCActions, factory: Factory, scope: str) -> str:
    rp = factory.client(scope=f"openid {scope}", grant_types=["client_credentials"])
    response = oidc.token(rp, {"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return str(response.get_json()["access_token"])


@pytest.fixture
def admin(oidc: OIDCActions, factory: Factory) -> dict[str, str]:
    return bearer(_token(oidc, factory, "idp:admin"))


def _stored(services: Services, client_id: str):
    with services.db.transaction() as uow:
        return uow.clients.by_client_id(client_id)


def test_portal_and_client_lifecycle(client, admin, services) -> None:
    made = check(
        client.post("/api/admin/portals", json={"slug": "east", "name": "East"}, headers=admin)
    )
    assert made.status_code == 201 and made.get_json()["require_mfa"] is False
    assert (
        check(
            client.post("/api/admin/portals", json={"slug": "east", "name": "E"}, headers=admin)
        ).status_code
        == 409
    )
    mfa = check(
        client.put(
            "/api/admin/portals/east/require-mfa",
            json={"require_mfa": True, "reason": "policy"},
            headers=admin,
        )
    )
    assert mfa.status_code == 200 and mfa.get_json()["require_mfa"] is True
    listed = check(client.get("/api/admin/portals", headers=admin)).get_json()
    assert [p["slug"] for p in listed["portals"]] == ["east"]
    created = check(
        client.post(
            "/api/admin/clients",
            json={
                "name": "East app",
                "redirect_uris": ["https://east.example/cb"],
                "portal": "east",
            },
            headers=admin,
        )
    )
    body = created.get_json()
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    assert body["mfa_required"] is True and body["portal"] == "east"
    record = _stored(services, body["client_id"])
    assert record is not None and record.client_secret_hash == secret_hash(body["client_secret"])
    clients = check(client.get("/api/admin/clients", headers=admin)).get_json()["clients"]
    assert all("client_secret" not in c for c in clients)
    rotated = check(
        client.post(
            f"/api/admin/clients/{body['client_id']}/rotate-secret",
            json={"reason": "leaked"},
            headers=admin,
        )
    ).get_json()
    assert rotated["client_secret"] != body["client_secret"]
    assert _stored(services, body["client_id"]).client_secret_hash == secret_hash(
        rotated["client_secret"]
    )  # type: ignore[union-attr]
    uris = check(
        client.put(
            f"/api/admin/clients/{body['client_id']}/redirect-uris",
            json={
                "redirect_uris": ["https://east.example/v2", "http://localhost:9/cb"],
                "reason": "moved",
            },
            headers=admin,
        )
    )
    assert uris.get_json()["redirect_uris"] == ["https://east.example/v2", "http://localhost:9/cb"]
    own = check(
        client.put(
            f"/api/admin/clients/{body['client_id']}/require-mfa",
            json={"require_mfa": True, "reason": "policy"},
            headers=admin,
        )
    )
    assert own.get_json()["require_mfa"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/admin/portals", {"slug": "Bad Slug", "name": "x"}, 400),
        ("post", "/api/admin/portals", {"slug": "ok", "name": "x", "colour": "red"}, 400),
        ("post", "/api/admin/portals", ["not", "an", "object"], 400),
        (
            "put",
            "/api/admin/portals/nowhere/require-mfa",
            {"require_mfa": True, "reason": "why not"},
            404,
        ),
        (
            "put",
            "/api/admin/portals/x/require-mfa",
            {"require_mfa": "yes", "reason": "why not"},
            400,
        ),
        (
            "post",
            "/api/admin/clients",
            {"name": "x", "redirect_uris": ["http://evil.example/cb"]},
            400,
        ),
        (
            "post",
            "/api/admin/clients",
            {"name": "x", "redirect_uris": ["https://a.example/#f"]},
            400,
        ),
        ("post", "/api/admin/clients", {"name": "x", "redirect_uris": "https://a.example/cb"}, 400),
        ("post", "/api/admin/clients", {"name": "x", "redirect_uris": []}, 400),
        ("post", "/api/admin/clients/nope/rotate-secret", {"reason": "leaked"}, 404),
        ("post", "/api/admin/clients/nope/rotate-secret", {}, 400),
        (
            "put",
            "/api/admin/clients/nope/redirect-uris",
            {"redirect_uris": ["https://a.example/cb"], "reason": "r r"},
            404,
        ),
    ],
)
def test_bad_input_changes_nothing(client, admin, services, method, path, body, status) -> None:
    before = audit_count(services)
    response = check(getattr(client, method)(path, json=body, headers=admin))
    assert response.status_code == status, response.text
    assert audit_count(services) == before
    with services.db.transaction() as uow:
        assert [p.slug for p in uow.portals.list()] == []


def test_a_public_client_has_no_secret_to_rotate(client, admin, services) -> None:
    made = check(
        client.post(
            "/api/admin/clients",
            json={"name": "SPA", "redirect_uris": ["https://spa.example/cb"], "public": True},
            headers=admin,
        )
    ).get_json()
    assert "client_secret" not in made
    refused = check(
        client.post(
            f"/api/admin/clients/{made['client_id']}/rotate-secret",
            json={"reason": "try it"},
            headers=admin,
        )
    )
    assert refused.status_code == 409


@pytest.mark.parametrize("scope", ["idp:support", "idp:practice", "idp:auditor"])
def test_other_roles_are_refused_and_recorded(client, oidc, factory, services, scope) -> None:
    headers = bearer(_token(oidc, factory, scope))
    rp = factory.client(name="Old")
    before = audit_count(services, "staff_refused")
    for response in (
        client.get("/api/admin/clients", headers=headers),
        client.post(
            f"/api/admin/clients/{rp.client_id}/rotate-secret",
            json={"reason": "x y z"},
            headers=headers,
        ),
        client.post("/api/admin/portals", json={"slug": "x", "name": "x"}, headers=headers),
    ):
        assert check(response).status_code == 403
    assert audit_count(services, "staff_refused") == before + 3
    assert _stored(services, rp.client_id).client_secret_hash == rp.client_secret_hash  # type: ignore[union-attr]


def test_the_contract_check_can_fail(client, admin) -> None:
    """An undocumented status or a body off its schema fails :func:`check`."""
    from openapi_core.templating.responses.exceptions import ResponseFinderError
    from openapi_core.validation.response.exceptions import ResponseValidationError

    response = client.get("/api/admin/portals", headers=admin)
    response.status_code = 418
    with pytest.raises((ResponseFinderError, ResponseValidationError)):
        check(response)
    response = client.get("/api/admin/portals", headers=admin)
    response.set_data(b'{"portals": [{"slug": 1}]}')
    with pytest.raises(ResponseValidationError):
        check(response)
