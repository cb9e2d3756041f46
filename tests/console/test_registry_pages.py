"""Portals and clients on the console (issue 11 item 2): admin only; a new secret is
shown once on the POST's response; redirect URIs are validated and kept exactly; bad
input changes nothing."""

from __future__ import annotations

import re

import pytest

from idp.oidc.models import secret_hash
from idp.policies.staff_roles import Role
from idp.services import Services

from ..helpers import csrf_token
from .conftest import AT, audit_count

SECRET = re.compile(r"data-client-secret>([^<]+)<")
CLIENT_ID = re.compile(r"data-client-id>([^<]+)<")


def _client(services: Services, client_id: str):
    with services.db.transaction() as uow:
        return uow.clients.by_client_id(client_id)


def test_admin_creates_a_portal_and_a_client_and_rotates_its_secret(
    client, as_staff, services
) -> None:
    as_staff(Role.ADMIN)
    token = csrf_token(client.get("/admin/portals").text)
    made = client.post(
        "/admin/portals/create",
        data={"csrf_token": token, "name": "Eastside", "slug": "eastside", "require_mfa": "yes"},
    )
    assert made.status_code == 303
    created = client.post(
        "/admin/clients/create",
        data={
            "csrf_token": token,
            "name": "Eastside portal",
            "portal": "eastside",
            "redirect_uris": "https://east.example/cb\nhttp://127.0.0.1:8080/cb",
        },
    )
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    [client_id], [secret] = CLIENT_ID.findall(created.text), SECRET.findall(created.text)
    record = _client(services, client_id)
    assert record is not None and record.client_secret_hash == secret_hash(secret)
    assert record.redirect_uris == ("https://east.example/cb", "http://127.0.0.1:8080/cb")
    assert record.mfa_required  # its portal asks for a second factor
    # Never shown again.
    assert secret not in client.get("/admin/portals").text
    rotated = client.post(
        "/admin/clients/rotate",
        data={"csrf_token": token, "client_id": client_id, "reason": "secret leaked in a log"},
    )
    [new_secret] = SECRET.findall(rotated.text)
    assert new_secret != secret
    assert _client(services, client_id).client_secret_hash == secret_hash(new_secret)  # type: ignore[union-attr]
    with services.db.transaction() as uow:
        types = [e.type for e in uow.audit.tail(50)]
        [rotation] = [e for e in uow.audit.tail(50) if e.type == "client_secret_rotated"]
    assert {"portal_created", "client_created", "client_secret_rotated"} <= set(types)
    assert rotation.details["reason"] == "secret leaked in a log"
    assert rotation.details["portal"] == "eastside" and secret not in str(rotation.details)
    # Redirect URIs and the client's own MFA setting.
    saved = client.post(
        "/admin/clients/redirect-uris",
        data={
            "csrf_token": token,
            "client_id": client_id,
            "redirect_uris": "https://east.example/new?x=1",
            "reason": "portal moved",
        },
    )
    assert saved.status_code == 303
    assert _client(services, client_id).redirect_uris == ("https://east.example/new?x=1",)  # type: ignore[union-attr]
    mfa = client.post(
        "/admin/clients/mfa",
        data={
            "csrf_token": token,
            "client_id": client_id,
            "require_mfa": "yes",
            "reason": "policy",
        },
    )
    assert mfa.status_code == 303 and _client(services, client_id).require_mfa  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("uris", "message"),
    [
        ("http://portal.example/cb", "must use https"),
        ("https://p.example/cb#frag", "fragment"),
        ("javascript:alert(1)", "absolute"),
        ("https://p.example/a b", "spaces"),
        ("", "at least one"),
    ],
)
def test_bad_redirect_uris_change_nothing(client, as_staff, services, factory, uris, message):
    as_staff(Role.ADMIN)
    rp = factory.client(name="Old", redirect_uris=["https://old.example/cb"])
    token = csrf_token(client.get("/admin/portals").text)
    before = audit_count(services)
    response = client.post(
        "/admin/clients/redirect-uris",
        data={
            "csrf_token": token,
            "client_id": rp.client_id,
            "redirect_uris": uris,
            "reason": "x y z",
        },
    )
    assert response.status_code == 400 and message in response.text
    assert _client(services, rp.client_id).redirect_uris == ("https://old.example/cb",)  # type: ignore[union-attr]
    created = client.post(
        "/admin/clients/create",
        data={"csrf_token": token, "name": "New", "redirect_uris": uris},
    )
    assert created.status_code == 400 and "data-client-secret" not in created.text
    assert audit_count(services) == before


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.PRACTICE, Role.AUDITOR])
def test_other_roles_are_refused_and_recorded(client, as_staff, services, factory, role) -> None:
    with services.db.transaction() as uow:
        uow.portals.add(slug="northside", name="Northside", now=AT)
    rp = factory.client(name="Old", redirect_uris=["https://old.example/cb"])
    as_staff(role, portals=("northside",) if role is Role.PRACTICE else ())
    assert client.get("/admin/portals").status_code == 403
    token = csrf_token(client.get("/admin/").text)
    rotate = client.post(
        "/admin/clients/rotate",
        data={"csrf_token": token, "client_id": rp.client_id, "reason": "x y z"},
    )
    assert rotate.status_code == 403 and "data-client-secret" not in rotate.text
    assert _client(services, rp.client_id).client_secret_hash == rp.client_secret_hash  # type: ignore[union-attr]
    assert audit_count(services, "staff_refused") == 2
