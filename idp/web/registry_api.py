"""Portals and clients on the JSON admin API (issue 11 item 2), ``idp:admin`` tokens::

    GET  /api/admin/portals
    POST /api/admin/portals                             {"slug", "name", "require_mfa"?, "reason"?}
    PUT  /api/admin/portals/<slug>/require-mfa          {"require_mfa": bool, "reason"}
    GET  /api/admin/clients
    POST /api/admin/clients                             {"name", "redirect_uris", "portal"?,
                                                         "public"?, "require_mfa"?, "reason"?}
    POST /api/admin/clients/<client_id>/rotate-secret   {"reason"}
    PUT  /api/admin/clients/<client_id>/redirect-uris   {"redirect_uris": [...], "reason"}
    PUT  /api/admin/clients/<client_id>/require-mfa     {"require_mfa": bool, "reason"}

A new ``client_secret`` is in the creating or rotating response only. The operations
are the console's (``services.staff.registry``); the contract is in
``idp/web/admin_openapi.json``. Unknown fields and wrong types are refused (400).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from idp.flows.staff.errors import StaffError
from idp.flows.staff.registry import ClientInput, IssuedClient
from idp.policies.staff_roles import Operation
from idp.records import ClientRecord, PortalRecord

from .api_auth import api_error, api_principal, require_staff, staff_error
from .deps import request_meta, services

api = Blueprint("registry_api", __name__, url_prefix="/api/admin")


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _body(fields: dict[str, type], required: tuple[str, ...]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _Bad("send a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise _Bad(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if name not in body]
    if missing:
        raise _Bad(f"missing field(s): {', '.join(missing)}")
    for name, kind in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _Bad(f"{name} must be a list of strings")
        elif not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise _Bad(f"{name} must be a {kind.__name__.replace('str', 'string')}")
    return body


def _portal_row(portal: PortalRecord) -> dict[str, Any]:
    return {"slug": portal.slug, "name": portal.name, "require_mfa": portal.require_mfa}


def _client_row(client: ClientRecord) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "portal": client.portal.slug if client.portal else None,
        "public": client.is_public,
        "redirect_uris": list(client.redirect_uris),
        "require_mfa": client.require_mfa,
        "mfa_required": client.mfa_required,
    }


def _issued(issued: IssuedClient, status: int = 200) -> Response:
    row = _client_row(issued.client)
    if issued.secret is not None:
        row["client_secret"] = issued.secret
    response = jsonify(row)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _run(call: Any) -> Response:
    try:
        return call()  # type: ignore[no-any-return]
    except _Bad as bad:
        return api_error(400, "invalid_request", bad.message)
    except StaffError as exc:
        return staff_error(exc)


@api.get("/portals")
@require_staff(Operation.PORTAL_LIST)
def list_portals() -> Response:
    return _run(
        lambda: jsonify(
            {
                "portals": [
                    _portal_row(p) for p in services().staff.registry.portals(api_principal())
                ]
            }
        )
    )


@api.post("/portals")
@require_staff(Operation.PORTAL_CREATE)
def create_portal() -> Response:
    def call() -> Response:
        body = _body(
            {"slug": str, "name": str, "require_mfa": bool, "reason": str}, ("slug", "name")
        )
        portal = services().staff.registry.create_portal(
            api_principal(),
            slug=body["slug"],
            name=body["name"],
            require_mfa=bool(body.get("require_mfa")),
            reason=body.get("reason"),
            meta=request_meta(),
        )
        response = jsonify(_portal_row(portal))
        response.status_code = 201
        return response

    return _run(call)


@api.put("/portals/<slug>/require-mfa")
@require_staff(Operation.PORTAL_REQUIRE_MFA)
def portal_require_mfa(slug: str) -> Response:
    def call() -> Response:
        body = _body({"require_mfa": bool, "reason": str}, ("require_mfa", "reason"))
        portal = services().staff.registry.set_portal_mfa(
            api_principal(),
            slug,
            required=body["require_mfa"],
            reason=body["reason"],
            meta=request_meta(),
        )
        return jsonify(_portal_row(portal))

    return _run(call)


@api.get("/clients")
@require_staff(Operation.CLIENT_LIST)
def list_clients() -> Response:
    return _run(
        lambda: jsonify(
            {
                "clients": [
                    _client_row(c) for c in services().staff.registry.clients(api_principal())
                ]
            }
        )
    )


@api.post("/clients")
@require_staff(Operation.CLIENT_CREATE)
def create_client() -> Response:
    def call() -> Response:
        body = _body(
            {
                "name": str,
                "redirect_uris": list,
                "portal": str,
                "public": bool,
                "require_mfa": bool,
                "reason": str,
            },
            ("name", "redirect_uris"),
        )
        new = ClientInput(
            name=body["name"],
            redirect_uris=body["redirect_uris"],
            portal=body.get("portal"),
            public=bool(body.get("public")),
            require_mfa=bool(body.get("require_mfa")),
        )
        issued = services().staff.registry.create_client(
            api_principal(), new, reason=body.get("reason"), meta=request_meta()
        )
        return _issued(issued, status=201)

    return _run(call)


@api.post("/clients/<client_id>/rotate-secret")
@require_staff(Operation.CLIENT_ROTATE_SECRET)
def rotate_secret(client_id: str) -> Response:
    def call() -> Response:
        body = _body({"reason": str}, ("reason",))
        issued = services().staff.registry.rotate_secret(
            api_principal(), client_id, reason=body["reason"], meta=request_meta()
        )
        return _issued(issued)

    return _run(call)


@api.put("/clients/<client_id>/redirect-uris")
@require_staff(Operation.CLIENT_EDIT_REDIRECT_URIS)
def redirect_uris(client_id: str) -> Response:
    def call() -> Response:
        body = _body({"redirect_uris": list, "reason": str}, ("redirect_uris", "reason"))
        client = services().staff.registry.set_redirect_uris(
            api_principal(),
            client_id,
            body["redirect_uris"],
            reason=body["reason"],
            meta=request_meta(),
        )
        return jsonify(_client_row(client))

    return _run(call)


@api.put("/clients/<client_id>/require-mfa")
@require_staff(Operation.CLIENT_REQUIRE_MFA)
def client_require_mfa(client_id: str) -> Response:
    def call() -> Response:
        body = _body({"require_mfa": bool, "reason": str}, ("require_mfa", "reason"))
        client = services().staff.registry.set_client_mfa(
            api_principal(),
            client_id,
            required=body["require_mfa"],
            reason=body["reason"],
            meta=request_meta(),
        )
        return jsonify(_client_row(client))

    return _run(call)
