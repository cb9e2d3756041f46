"""JSON APIs for patients without accounts, confidential flags and proxy grants (issue 10).

Bearer tokens from the client_credentials grant, no CSRF (as ``idp.web.invitations``)::

    POST /api/patients                                      scope portal:patients: the
    PUT  /api/patients/<mrn>/confidential                   caller's own portal, never
    GET  /api/patients/<mrn>/confidential                   the request's
    POST /api/admin/portals/<slug>/patients                 scope idp:admin (staff tools)
    PUT  /api/admin/portals/<slug>/patients/<mrn>/confidential
    POST /api/admin/portals/<slug>/proxy-grants
    GET  /api/admin/portals/<slug>/proxy-grants[?patient_id=MRN]
    GET  /api/admin/proxy-grants/<id>
    POST /api/admin/proxy-grants/<id>/approve               {"staff", "teen_signed"}
    POST /api/admin/proxy-grants/<id>/revoke                {"staff", "reason"}

Bodies are JSON objects with exactly the documented fields and types; unknown, repeated
or mistyped fields are refused (400 naming them), as is any refusal of the flow (its
stable code and status), and nothing is written then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request

from idp.flows.patients import PatientFlow, PatientInput, ProxyRefusal, check_text
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.flows.proxy_views import grant_row
from idp.flows.staff.errors import StaffError
from idp.policies.staff_roles import Operation
from idp.records import PortalRecord

from .api_auth import (
    api_caller,
    api_error,
    api_principal,
    portal_allowed,
    portal_forbidden,
    require_scope,
    require_staff,
    staff_error,
)
from .deps import request_meta, request_uow, services

api = Blueprint("proxy_api", __name__, url_prefix="/api")

PATIENT_FIELDS: Mapping[str, type] = {
    "patient_id": str,
    "first_name": str,
    "last_name": str,
    "dob": str,
    "zip": str,
    "gender": str,
}
REQUIRED_PATIENT = ("patient_id", "first_name", "last_name", "dob", "zip")
CONFIDENTIAL_FIELDS: Mapping[str, type] = {"categories": list, "reason": str}
GRANT_FIELDS: Mapping[str, type] = {
    "patient_id": str,
    "representative": str,
    "relationship": str,
    "evidence": str,
    "staff": str,
    "full_access": bool,
    "teen_signed": bool,
    "legal_document": bool,
    "ends_on": str,
    "related_person": str,
}
REQUIRED_GRANT = ("patient_id", "representative", "relationship", "evidence", "staff")
APPROVE_FIELDS: Mapping[str, type] = {"staff": str, "teen_signed": bool}
REVOKE_FIELDS: Mapping[str, type] = {"staff": str, "reason": str}
MAX_ID = 2**31 - 1


class _BadBody(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("bad body")
        self.response = response


def _fields_error(fields: Mapping[str, str]) -> Response:
    response = jsonify(
        {
            "error": "invalid_request",
            "error_description": "; ".join(f"{k}: {v}" for k, v in fields.items()),
            "fields": dict(fields),
        }
    )
    response.status_code = 400
    return response


def _refusal(exc: ProxyRefusal) -> Response:
    error = {404: "not_found", 409: "conflict", 403: "access_denied"}.get(
        exc.status, "invalid_request"
    )
    response = jsonify(
        {"error": error, "error_description": exc.code, "code": exc.code, "field": exc.field}
    )
    response.status_code = exc.status
    return response


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in seen:
            repeated.append(key)
        seen[key] = value
    if repeated:
        raise _BadBody(_fields_error({k[:64]: "duplicate_field" for k in repeated[:20]}))
    return seen


def _body(allowed: Mapping[str, type], required: tuple[str, ...]) -> dict[str, Any]:
    if not request.is_json:
        raise _BadBody(api_error(415, "invalid_request", "send application/json"))
    try:
        body = json.loads(request.get_data(cache=False), object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError):
        raise _BadBody(api_error(400, "invalid_request", "the body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise _BadBody(api_error(400, "invalid_request", "the body must be a JSON object"))
    problems = {k[:64]: "unknown_field" for k in list(body)[:20] if k not in allowed}
    for name, kind in allowed.items():
        if name in body and type(body[name]) is not kind:  # bool is not an int here
            problems[name] = "invalid_type"
    problems.update({k: "required" for k in required if k not in body})
    if problems:
        raise _BadBody(_fields_error(problems))
    return body


def _own_portal() -> PortalRecord | Response:
    portal = api_caller().client.portal
    if portal is None:
        return api_error(403, "access_denied", "this client is not registered for a practice")
    return portal


def _portal_by_slug(slug: str) -> PortalRecord | Response:
    portal = request_uow().portals.by_slug(slug) if len(slug) <= 64 else None
    return api_error(404, "not_found", "no such portal") if portal is None else portal


# --- patients ------------------------------------------------------------------------------


def _add_patient(portal: PortalRecord) -> Response:
    try:
        body = _body(PATIENT_FIELDS, REQUIRED_PATIENT)
        patient = PatientFlow.from_services(services()).add(
            portal,
            PatientInput(**{k: body.get(k, "") for k in PATIENT_FIELDS}),
            actor=api_caller().actor,
            meta=request_meta(),
        )
    except _BadBody as bad:
        return bad.response
    except ProxyRefusal as exc:
        return _refusal(exc)
    response = jsonify({"portal": portal.slug, "patient_id": patient.patient_id, "account": False})
    response.status_code = 201
    return response


def _confidential(portal: PortalRecord, patient_id: str) -> Response:
    flow = PatientFlow.from_services(services())
    try:
        if request.method == "GET":
            now = flow.confidential(portal, patient_id)
        else:
            body = _body(CONFIDENTIAL_FIELDS, ("categories", "reason"))
            if not all(isinstance(c, str) for c in body["categories"]):
                return _fields_error({"categories": "invalid_type"})
            now = flow.set_confidential(
                portal,
                patient_id,
                body["categories"],
                reason=body["reason"],
                actor=api_caller().actor,
                meta=request_meta(),
            )
    except _BadBody as bad:
        return bad.response
    except ProxyRefusal as exc:
        return _refusal(exc)
    return jsonify({"portal": portal.slug, "patient_id": patient_id, "confidential": sorted(now)})


@api.post("/patients")
@require_scope("portal:patients")
def add_patient() -> Response:
    portal = _own_portal()
    return portal if isinstance(portal, Response) else _add_patient(portal)


@api.route("/patients/<patient_id>/confidential", methods=["GET", "PUT"])
@require_scope("portal:patients")
def patient_confidential(patient_id: str) -> Response:
    portal = _own_portal()
    return portal if isinstance(portal, Response) else _confidential(portal, patient_id)


@api.post("/admin/portals/<slug>/patients")
@require_staff(Operation.PATIENT_ADD)
def admin_add_patient(slug: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)
    portal = _portal_by_slug(slug)
    return portal if isinstance(portal, Response) else _add_patient(portal)


@api.route("/admin/portals/<slug>/patients/<patient_id>/confidential", methods=["GET", "PUT"])
@require_staff(Operation.PATIENT_ADD)
def admin_patient_confidential(slug: str, patient_id: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)
    portal = _portal_by_slug(slug)
    return portal if isinstance(portal, Response) else _confidential(portal, patient_id)


# --- proxy grants (staff) ------------------------------------------------------------------


def _grants() -> ProxyGrantFlow:
    return ProxyGrantFlow.from_services(services())


@api.post("/admin/portals/<slug>/proxy-grants")
@require_staff(Operation.PROXY_GRANT)
def admin_grant(slug: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)
    portal = _portal_by_slug(slug)
    if isinstance(portal, Response):
        return portal
    try:
        body = _body(GRANT_FIELDS, REQUIRED_GRANT)
        ends_on = None
        if "ends_on" in body:
            try:
                ends_on = date.fromisoformat(body["ends_on"])
            except ValueError:
                return _fields_error({"ends_on": "invalid"})
        view = _grants().grant_by_staff(
            portal,
            patient_id=body["patient_id"],
            representative=body["representative"],
            relationship=body["relationship"],
            evidence=body["evidence"],
            staff=body["staff"],
            actor=api_caller().actor,
            meta=request_meta(),
            teen_signed=body.get("teen_signed", False),
            full_access=body.get("full_access", False),
            legal_document=body.get("legal_document", False),
            ends_on=ends_on,
            related_person=body.get("related_person"),
        )
    except _BadBody as bad:
        return bad.response
    except ProxyRefusal as exc:
        return _refusal(exc)
    response = jsonify(grant_row(view))
    response.status_code = 201
    return response


@api.get("/admin/portals/<slug>/proxy-grants")
@require_staff(Operation.PROXY_LIST)
def admin_list_grants(slug: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)
    portal = _portal_by_slug(slug)
    if isinstance(portal, Response):
        return portal
    try:
        views = _grants().list_for_portal(portal, patient_id=request.args.get("patient_id"))
    except ProxyRefusal as exc:
        return _refusal(exc)
    return jsonify({"portal": portal.slug, "grants": [grant_row(v) for v in views]})


def _grant_in_scope(grant_id: int) -> Response | None:
    """404 for a grant of a portal the principal may not see, as for one that is not."""
    try:
        row = grant_row(_grants().get(min(grant_id, MAX_ID + 1)))
    except ProxyRefusal as exc:
        return _refusal(exc)
    if not portal_allowed(row["portal"]):
        return api_error(404, "not_found", "no such grant")
    return None


@api.get("/admin/proxy-grants/<int:grant_id>")
@require_staff(Operation.PROXY_LIST)
def admin_get_grant(grant_id: int) -> Response:
    refused = _grant_in_scope(grant_id)
    if refused is not None:
        return refused
    return jsonify(grant_row(_grants().get(min(grant_id, MAX_ID + 1))))


def _staff_refusal(exc: StaffError) -> Response:
    """The proxy flow's own refusal keeps its API shape (code and field)."""
    if isinstance(exc.__cause__, ProxyRefusal):
        return _refusal(exc.__cause__)
    return staff_error(exc)


@api.post("/admin/proxy-grants/<int:grant_id>/approve")
@require_staff(Operation.PROXY_APPROVE)
def admin_approve_grant(grant_id: int) -> Response:
    try:
        body = _body(APPROVE_FIELDS, ("staff",))
        view = services().staff.proxy.approve(
            api_principal(),
            min(grant_id, MAX_ID + 1),
            staff_name=body["staff"],
            meta=request_meta(),
            teen_signed=body.get("teen_signed", False),
        )
    except _BadBody as bad:
        return bad.response
    except StaffError as exc:
        return _staff_refusal(exc)
    return jsonify(grant_row(view))


@api.post("/admin/proxy-grants/<int:grant_id>/revoke")
@require_staff(Operation.PROXY_REVOKE)
def admin_revoke_grant(grant_id: int) -> Response:
    try:
        body = _body(REVOKE_FIELDS, ("staff", "reason"))
        view = services().staff.proxy.reject(
            api_principal(),
            min(grant_id, MAX_ID + 1),
            reason=body["reason"],
            operation=Operation.PROXY_REVOKE,
            actor="staff:" + check_text(body["staff"], "staff", 64),
            meta=request_meta(),
        )
    except _BadBody as bad:
        return bad.response
    except ProxyRefusal as exc:
        return _refusal(exc)
    except StaffError as exc:
        return _staff_refusal(exc)
    return jsonify(grant_row(view))
