"""Staff review of sign-ups that matched an existing account (issue 5): JSON admin API.

Bearer tokens with the ``idp:admin`` scope, or ``idp:practice`` for its own portal's
enrollments (client_credentials grant); no cookies, so
no CSRF. The body names the staff member who decides (``staff``), recorded as the
audit actor next to the client that carried the call::

    GET  /api/admin/enrollments[?status=pending|approved|rejected|withdrawn|all][&limit=N]
    POST /api/admin/enrollments/<id>/approve  {"staff": "...", "reason"?: "...", "username"?: "..."}
    POST /api/admin/enrollments/<id>/reject   {"staff": "...", "reason": "..."}

Errors: 400 ``invalid_request`` (bad body or parameter), 404 ``not_found``, 409
``already_decided`` or ``username_taken``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from idp.flows.enrollments import EnrollmentReview, ReviewError
from idp.policies.staff_roles import Operation

from .api_auth import api_caller, api_error, require_staff, scoped_portal_id
from .deps import request_meta, services

bp = Blueprint("enrollments", __name__)

SCOPE = "idp:admin"
MAX_LIST = 500
_STATUS = {
    "not_found": 404,
    "already_decided": 409,
    "username_taken": 409,
}


def _review() -> EnrollmentReview:
    svc = services()
    return EnrollmentReview(
        notifier=svc.notifier,
        clock=svc.clock,
        issuer=svc.settings.issuer,
        verify_link_ttl=svc.settings.accounts.verify_link_ttl,
        matching_secret=svc.settings.secret_key,
        ephemeral=svc.ephemeral,
    )


def _error(exc: ReviewError) -> Response:
    status = _STATUS.get(exc.code, 400)
    return api_error(status, exc.code if status != 400 else "invalid_request", str(exc))


def _body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _in_scope(uow: Any, enrollment_id: int) -> bool:
    """A practice token sees only its portal's enrollments (others: as if absent)."""
    portal_id = scoped_portal_id()
    if portal_id is None:
        return True
    record = uow.enrollments.get(enrollment_id)
    return record is not None and record.portal_id == portal_id


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
        with services().db.transaction() as uow:
            rows = [
                row
                for row in _review().list(uow, status=status, limit=limit)
                if _in_scope(uow, int(row["id"]))
            ]
    except ReviewError as exc:
        return _error(exc)
    return jsonify({"enrollments": rows})


def _decide(enrollment_id: int, action: str) -> Response:
    body = _body()
    if body is None:
        return api_error(400, "invalid_request", "send a JSON object")
    text = {k: body.get(k) for k in ("staff", "reason", "username")}
    if any(v is not None and not isinstance(v, str) for v in text.values()):
        return api_error(400, "invalid_request", "staff, reason and username are strings")
    review = _review()
    via = api_caller().client.client_id
    svc = services()
    try:
        # The decision, its account and its audit event commit together or not at all.
        with svc.db.transaction() as uow:
            if not _in_scope(uow, enrollment_id):
                return api_error(404, "not_found", f"no enrollment {enrollment_id}")
            if action == "approve":
                decision = review.approve(
                    uow,
                    enrollment_id,
                    staff=text["staff"] or "",
                    reason=text["reason"],
                    username=text["username"],
                    via=via,
                    meta=request_meta(),
                )
            else:
                decision = review.reject(
                    uow,
                    enrollment_id,
                    staff=text["staff"] or "",
                    reason=text["reason"] or "",
                    via=via,
                    meta=request_meta(),
                )
            view = review.describe(uow, decision.enrollment)
    except ReviewError as exc:
        return _error(exc)
    return jsonify({"enrollment": view})


@bp.post("/api/admin/enrollments/<int:enrollment_id>/approve")
@require_staff(Operation.ENROLLMENT_APPROVE)
def approve(enrollment_id: int) -> Response:
    return _decide(enrollment_id, "approve")


@bp.post("/api/admin/enrollments/<int:enrollment_id>/reject")
@require_staff(Operation.ENROLLMENT_REJECT)
def reject(enrollment_id: int) -> Response:
    return _decide(enrollment_id, "reject")
