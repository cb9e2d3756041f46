"""The practice's work queues on the console (issue 11 item 1, "Queues"): enrollments
awaiting review and proxy grants awaiting approval (approve, reject).

Thin views over the staff operations the JSON API and the CLI call too
(``services.staff.enrollments``, ``services.staff.proxy``). A practice's staff see
only their portals' items; an item outside them answers as absent (404). Each
decision is a POST with the CSRF token and a reason where the operation asks for one;
success redirects (303) back to the queue with a notice, a refusal re-renders the
queue with the message and status (400, 403, 404, 409) and nothing changed.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from idp.flows.staff.errors import StaffError
from idp.i18n import translate
from idp.policies.staff_roles import Operation, may

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .refusals import note_refusal, refused, staff

NOTICE_KEY = "admin_notice"
DECISIONS = {"approve": Operation.ENROLLMENT_APPROVE, "reject": Operation.ENROLLMENT_REJECT}


def _enrollments_page(*, error: str | None = None, status: int = 200) -> Any:
    try:
        queue = services().staff.enrollments.list(staff(), status="pending")
    except StaffError as exc:
        return refused(exc)
    role = staff().role
    html = render_template(
        "admin/enrollments.html",
        queue=queue,
        notice=session.pop(NOTICE_KEY, None),
        error=error,
        can={name: may(role, op) for name, op in DECISIONS.items()},
    )
    return html, status


@bp.get("/enrollments")
@staff_required(Operation.ENROLLMENT_LIST)
def enrollments() -> Any:
    return _enrollments_page()


@bp.post("/enrollments/decide")
@staff_required(Operation.ENROLLMENT_LIST)
def enrollment_decide() -> Any:
    decision = field(request.form, "decision", limit=16)
    raw_id = field(request.form, "enrollment", limit=12)
    if decision not in DECISIONS or not raw_id.isdigit():
        return _enrollments_page(
            error=translate("Choose approve or reject on one enrollment."), status=400
        )
    queue = services().staff.enrollments
    reason = field(request.form, "reason", limit=600) or None
    try:
        if decision == "approve":
            username = field(request.form, "username", limit=80) or None
            queue.approve(
                staff(), int(raw_id), reason=reason, username=username, meta=request_meta()
            )
            notice = translate(
                "Enrollment #{id} approved: a verification link was emailed."
            ).format(id=raw_id)
        else:
            queue.reject(staff(), int(raw_id), reason=reason, meta=request_meta())
            notice = translate(
                "Enrollment #{id} rejected: the applicant was told politely."
            ).format(id=raw_id)
    except StaffError as exc:
        note_refusal(exc)
        return _enrollments_page(error=exc.message, status=exc.status)
    session[NOTICE_KEY] = notice
    return redirect(url_for("admin.enrollments"), code=303)


PROXY_DECISIONS = ("approve", "reject")


def _proxy_page(*, error: str | None = None, status: int = 200) -> Any:
    try:
        queue = services().staff.proxy.pending(staff())
    except StaffError as exc:
        return refused(exc)
    html = render_template(
        "admin/proxy_queue.html",
        queue=queue,
        notice=session.pop(NOTICE_KEY, None),
        error=error,
        can_decide=may(staff().role, Operation.PROXY_APPROVE),
    )
    return html, status


@bp.get("/proxy-grants")
@staff_required(Operation.PROXY_LIST)
def proxy_queue() -> Any:
    return _proxy_page()


@bp.post("/proxy-grants/decide")
@staff_required(Operation.PROXY_APPROVE)
def proxy_decide() -> Any:
    decision = field(request.form, "decision", limit=16)
    raw_id = field(request.form, "grant", limit=12)
    if decision not in PROXY_DECISIONS or not raw_id.isdigit():
        return _proxy_page(error=translate("Choose approve or reject on one grant."), status=400)
    approvals, grant_id = services().staff.proxy, int(raw_id)
    reason = field(request.form, "reason", limit=600) or None
    try:
        if decision == "approve":
            teen_signed = field(request.form, "teen_signed", limit=8) == "yes"
            approvals.approve(
                staff(), grant_id, reason=reason, teen_signed=teen_signed, meta=request_meta()
            )
            notice = translate("Proxy grant #{id} approved; both sides were told by email.").format(
                id=grant_id
            )
        else:
            approvals.reject(staff(), grant_id, reason=reason, meta=request_meta())
            notice = translate("Proxy grant #{id} rejected; both sides were told by email.").format(
                id=grant_id
            )
    except StaffError as exc:
        if exc.status == 403:
            return refused(exc)
        note_refusal(exc)
        return _proxy_page(error=exc.message, status=exc.status)
    session[NOTICE_KEY] = notice
    return redirect(url_for("admin.proxy_queue"), code=303)
