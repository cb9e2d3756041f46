"""Staff review of sign-ups that matched an existing account (issue 5): JSON admin API.

Bearer tokens with the ``idp:admin`` scope, or ``idp:practice`` for its own portal's
enrollments (client_credentials grant); no cookies, so
no CSRF. The body names the staff member who decides (``staff``), recorded as the
audit actor next to the client that carried the call::

    GET  /api/admin/enrollments[?status=pending|approved|rejected|withdrawn|all][&limit=N]
    POST /api/admin/enrollments/<id>/approve  {"staff": "...", "reason"?: "...", "username"?: "..."}
    POST /api/admin/enrollments/<id>/reject   {"staff": "...", "reason": "..."}

Errors: 400 ``invalid_request`` (bad body or parameter), 404 ``not_found``, 409
``already_decided`` or ``username_taken``. The operation is the console's and the
CLI's (``services.staff.enrollments``, :mod:`idp.flows.staff.enrollment_queue`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from idp.flows.staff.errors import StaffError
from idp.policies.staff_roles import Operation

from .api_auth import api_caller, api_error, api_principal, require_staff, staff_error
from .deps import request_meta, services

bp = Blueprint("enrollments", __name__)

SCOPE = "idp:admin"
MAX_LIST = 500


@bp.get("/api/admin/enrollments")
@require_staff(Operation.ENROLLMENT_LIST)
def list_enrollments() -> Response:
    status: str | None = request.args.get("status", "pending")
    if status == "all":
        status = None
    try:
        limit = min(max(int(request.args.get("limit", "100")), 1), MAX_LIST)
    except ValueError:
        return api_error(400, "invalid_request", "limit must be a whole number")
    try:
        rows = services().staff.enrollments.list(api_principal(), status=status, limit=limit)
    except StaffError as exc:
        return staff_error(exc)
    return jsonify({"enrollments": [row.view for row in rows]})


def _decide(enrollment_id: int, action: str) -> Response:
    body: Any = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "invalid_request", "send a JSON object")
    text = {k: body.get(k) for k in ("staff", "reason", "username")}
    if any(v is not None and not isinstance(v, str) for v in text.values()):
        return api_error(400, "invalid_request", "staff, reason and username are strings")
    queue = services().staff.enrollments
    common: dict[str, Any] = {
        "reason": text["reason"],
        "staff_name": text["staff"] or "",
        "via": api_caller().client.client_id,
        "meta": request_meta(),
    }
    who = api_principal()
    try:
        if action == "approve":
            done = queue.approve(who, enrollment_id, username=text["username"], **common)
        else:
            done = queue.reject(who, enrollment_id, **common)
    except StaffError as exc:
        return staff_error(exc)
    return jsonify({"enrollment": done.view})


@bp.post("/api/admin/enrollments/<int:enrollment_id>/approve")
@require_staff(Operation.ENROLLMENT_APPROVE)
def approve(enrollment_id: int) -> Response:
    return _decide(enrollment_id, "approve")


@bp.post("/api/admin/enrollments/<int:enrollment_id>/reject")
@require_staff(Operation.ENROLLMENT_REJECT)
def reject(enrollment_id: int) -> Response:
    return _decide(enrollment_id, "reject")
