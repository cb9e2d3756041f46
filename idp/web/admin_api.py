"""The help desk's and the auditors' operations on the JSON admin API (issue 11 item 3)::

    GET  /api/admin/patients/search?username=|email=|last_name=&dob=[&first_name=]|portal=&mrn=
    GET  /api/admin/patients/<user ID>
    POST /api/admin/patients/<user ID>/unlock        {"reason"}
    POST /api/admin/patients/<user ID>/reset-link    {"reason"}  (emailed to the patient)
    POST /api/admin/patients/<user ID>/email         {"email", "reason"}
    POST /api/admin/patients/<user ID>/mfa-reset     {"reason"}
    POST /api/admin/patients/<user ID>/close         {"reason"}
    POST /api/admin/patients/<user ID>/reopen        {"reason"}
    GET  /api/admin/audit?from=&to=&user=&type=&outcome=&portal=&client=&ip=&actor=&after=&limit=
    GET  /api/admin/audit/export?format=csv|jsonl&<the same filters>
    GET  /api/admin/openapi.json

Thin views: the operations are the console's and the CLI's (``services.staff.lookup``,
``.records``, ``.support``, ``.audit``), which check the role and portals, write the
change and its audit event, and record searches, views and exports on the trail. A
token whose role lacks the operation gets 403 and a ``staff_refused`` event; unknown
parameters or fields and bad values get 400 and change nothing. The contract is
``idp/web/admin_openapi.json``, served here as it is kept (tests hold it true).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context

from idp.audit.export import iter_export
from idp.audit.search import AuditFilter, Cursor, FilterError, parse_filter
from idp.flows.staff.audit_trail import EXPORT_FORMATS
from idp.flows.staff.errors import StaffError
from idp.flows.staff.lookup import parse_lookup
from idp.flows.staff.patient_record import PatientView
from idp.policies.staff_roles import Operation

from .api_auth import api_error, api_principal, require_staff, staff_error
from .deps import request_meta, services

api = Blueprint("admin_api", __name__, url_prefix="/api/admin")

DOCUMENT = Path(__file__).resolve().parent / "admin_openapi.json"
LOOKUP_FIELDS = ("username", "email", "last_name", "first_name", "dob", "portal", "mrn")
AUDIT_FIELDS = ("from", "to", "user", "type", "outcome", "portal", "client", "ip", "actor")
PAGE_SIZE = 50
MAX_PARAM = 254
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _run(call: Callable[[], Response]) -> Response:
    try:
        return call()
    except _Bad as bad:
        return api_error(400, "invalid_request", bad.message)
    except FilterError as exc:
        return api_error(400, "invalid_request", str(exc))
    except StaffError as exc:
        return staff_error(exc)


def _query(allowed: Iterable[str]) -> dict[str, str | None]:
    """The query string's parameters, each at most once; an unknown one is refused
    (a mistyped filter must not silently widen a search)."""
    names = tuple(allowed)
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise _Bad(f"unknown parameter(s): {', '.join(unknown)}")
    values: dict[str, str | None] = {}
    for name in names:
        given = request.args.getlist(name)
        if len(given) > 1:
            raise _Bad(f"{name} may be given once")
        value = given[0].strip() if given else ""
        if len(value) > MAX_PARAM:
            raise _Bad(f"{name} must be at most {MAX_PARAM} characters")
        values[name] = value or None
    return values


def _body(fields: Mapping[str, bool]) -> dict[str, str]:
    """A JSON object of string fields (name -> required); anything else is refused."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _Bad("send a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise _Bad(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name, required in fields.items() if required and name not in body]
    if missing:
        raise _Bad(f"missing field(s): {', '.join(missing)}")
    for name, value in body.items():
        if not isinstance(value, str):
            raise _Bad(f"{name} must be a string")
    return body


# --- patients ---------------------------------------------------------------------------------


@api.get("/patients/search")
@require_staff(Operation.PATIENT_LOOKUP)
def patient_search() -> Response:
    def call() -> Response:
        query = parse_lookup(_query(LOOKUP_FIELDS))
        found = services().staff.lookup.find(api_principal(), query, meta=request_meta())
        return jsonify({"patients": [summary.as_dict() for summary in found]})

    return _run(call)


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _record(view: PatientView) -> dict[str, Any]:
    """The patient page's facts, never a secret (factors by kind and label only)."""
    account = view.account
    person = account.person
    return {
        "username": account.username,
        "subject": account.subject,
        "status": account.status,
        "first_name": person.first_name if person else None,
        "last_name": person.last_name if person else None,
        "dob": person.dob.isoformat() if person and person.dob else None,
        "email": account.email,
        "email_verified": account.email_verified,
        "phone": account.phone,
        "locked_for": int(view.locked_for) + 1 if view.locked_for else None,
        "factors": [
            {
                "kind": str(f.kind),
                "label": f.label,
                "created_at": _when(f.created_at),
                "last_used_at": _when(f.last_used_at),
            }
            for f in view.factors
        ],
        "portals": [
            {
                "portal": link.portal_slug,
                "patient_id": link.patient_id,
                "status": link.status,
                "last_signin_at": _when(link.last_signin_at),
            }
            for link in view.links
        ],
        "representatives": [
            {
                "id": g.id,
                "portal": view.portals.get(g.portal_id),
                "username": view.accounts.get(g.representative_account_id),
                "relationship": g.relationship,
                "status": g.status,
            }
            for g in view.grants_given
        ],
        "represents": [
            {
                "id": g.id,
                "portal": view.portals.get(g.portal_id),
                "name": view.persons.get(g.patient_person_id),
                "relationship": g.relationship,
                "status": g.status,
            }
            for g in view.grants_held
        ],
        "recent": [row.as_dict() for row in view.recent],
    }


@api.get("/patients/<username>")
@require_staff(Operation.PATIENT_LOOKUP)
def patient(username: str) -> Response:
    def call() -> Response:
        view = services().staff.records.view(api_principal(), username, meta=request_meta())
        return jsonify(_record(view))

    return _run(call)


def _done(username: str, action: str, **extra: Any) -> Response:
    return jsonify({"username": username, "action": action, **extra})


@api.post("/patients/<username>/unlock")
@require_staff(Operation.UNLOCK)
def unlock(username: str) -> Response:
    def call() -> Response:
        body = _body({"reason": True})
        account = services().staff.support.unlock(
            api_principal(), username, reason=body["reason"], meta=request_meta()
        )
        return _done(account.username, "unlock")

    return _run(call)


@api.post("/patients/<username>/reset-link")
@require_staff(Operation.SEND_RESET_LINK)
def reset_link(username: str) -> Response:
    def call() -> Response:
        body = _body({"reason": True})
        issued = services().staff.support.send_reset_link(
            api_principal(), username, reason=body["reason"], email=True, meta=request_meta()
        )
        return _done(
            issued.username,
            "reset_link",
            sent_to=issued.sent_to,
            expires_at=_when(issued.expires_at),
        )

    return _run(call)


@api.post("/patients/<username>/email")
@require_staff(Operation.CHANGE_EMAIL)
def change_email(username: str) -> Response:
    def call() -> Response:
        body = _body({"email": True, "reason": True})
        changed = services().staff.support.change_email(
            api_principal(),
            username,
            email=body["email"],
            reason=body["reason"],
            meta=request_meta(),
        )
        return _done(
            changed.username,
            "change_email",
            email=changed.email,
            notice_to_old=changed.notice_to_old,
        )

    return _run(call)


@api.post("/patients/<username>/mfa-reset")
@require_staff(Operation.MFA_RESET)
def mfa_reset(username: str) -> Response:
    def call() -> Response:
        body = _body({"reason": True})
        done = services().staff.support.reset_mfa(
            api_principal(), username, reason=body["reason"], meta=request_meta()
        )
        return _done(username.strip(), "mfa_reset", removed=done.removed)

    return _run(call)


@api.post("/patients/<username>/close")
@require_staff(Operation.CLOSE_ACCOUNT)
def close(username: str) -> Response:
    def call() -> Response:
        body = _body({"reason": True})
        account = services().staff.support.close_account(
            api_principal(), username, reason=body["reason"], meta=request_meta()
        )
        return _done(account.username, "close")

    return _run(call)


@api.post("/patients/<username>/reopen")
@require_staff(Operation.REOPEN_ACCOUNT)
def reopen(username: str) -> Response:
    def call() -> Response:
        body = _body({"reason": True})
        account = services().staff.support.reopen_account(
            api_principal(), username, reason=body["reason"], meta=request_meta()
        )
        return _done(account.username, "reopen")

    return _run(call)


# --- audit ------------------------------------------------------------------------------------


def _filter(values: Mapping[str, str | None]) -> AuditFilter:
    """The console's audit filters, parsed exactly as ``idp audit search`` does."""
    return parse_filter(
        since=values["from"],
        until=values["to"],
        user=values["user"],
        types=[t for t in (values["type"] or "").replace(",", " ").split() if t],
        outcome=values["outcome"],
        client=values["client"],
        portal=values["portal"],
        ip=values["ip"],
        actor=values["actor"],
    )


@api.get("/audit")
@require_staff(Operation.AUDIT_SEARCH)
def audit_search() -> Response:
    def call() -> Response:
        values = _query((*AUDIT_FIELDS, "after", "limit"))
        limit = PAGE_SIZE
        if values["limit"] is not None:
            if not values["limit"].isdigit():
                raise _Bad("limit must be a whole number")
            limit = int(values["limit"])
        cursor = Cursor.decode(values["after"]) if values["after"] else None
        page = services().staff.audit.search(
            api_principal(), _filter(values), limit=limit, after=cursor, meta=request_meta()
        )
        return jsonify(
            {
                "events": [row.as_dict() for row in page.rows],
                "next": page.next.encode() if page.next else None,
            }
        )

    return _run(call)


@api.get("/audit/export")
@require_staff(Operation.AUDIT_EXPORT)
def audit_export() -> Response:
    def call() -> Response:
        values = _query((*AUDIT_FIELDS, "format"))
        fmt = values["format"] or ""
        if fmt not in EXPORT_FORMATS:
            raise _Bad(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        rows = services().staff.audit.export(
            api_principal(), _filter(values), fmt=fmt, meta=request_meta()
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        response = Response(
            stream_with_context(iter_export(fmt, rows)), mimetype=CONTENT_TYPES[fmt]
        )
        response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
        return response

    return _run(call)


# --- the contract -----------------------------------------------------------------------------


@cache
def _document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@api.get("/openapi.json")
def openapi() -> Response:
    """The contract itself, public like any API description (it holds no data)."""
    return jsonify(_document())
