"""Patient lookup, the patient page and the help desk's actions on it (issue 11 item 2,
"Patient lookup").

Thin views over ``services.staff.lookup`` (find), ``services.staff.records`` (the
patient page) and ``services.staff.support``
(unlock, reset link, email change, MFA reset, close, reopen), the same operations the
JSON API and ``idp users ...`` call. Every action is a POST with the CSRF token and,
where the operation asks for one, a reason; success redirects (303) back to the
patient page with a notice, a refusal re-renders the page with the operation's
message and status (400, 403, 404, 409) and nothing changed.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from idp.flows.staff.errors import StaffError
from idp.flows.staff.lookup import parse_lookup
from idp.i18n import N_, translate
from idp.messages.account import ACTIVITY_LABELS
from idp.policies.staff_roles import Operation, may

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .readable import coarse_location, describe_device
from .refusals import note_refusal, refused, staff

LOOKUP_FIELDS = ("username", "email", "portal", "mrn", "last_name", "first_name", "dob")
NOTICE_KEY = "admin_notice"
# action -> (operation, the notice after it); every one asks for a reason
ACTIONS: dict[str, tuple[Operation, str]] = {
    "unlock": (Operation.UNLOCK, N_("Unlocked: the patient can sign in again.")),
    "reset_link": (Operation.SEND_RESET_LINK, N_("A reset link was emailed to the patient.")),
    "change_email": (Operation.CHANGE_EMAIL, N_("The email address was changed.")),
    "reset_mfa": (Operation.MFA_RESET, N_("Two-step verification was reset.")),
    "close": (Operation.CLOSE_ACCOUNT, N_("The account was closed.")),
    "reopen": (Operation.REOPEN_ACCOUNT, N_("The account was reopened.")),
}


@bp.get("/patients")
@staff_required(Operation.PATIENT_LOOKUP)
def patient_lookup() -> Any:
    values = {name: field(request.args, name, limit=200) for name in LOOKUP_FIELDS}
    if not any(values.values()):
        return render_template("admin/patients.html", values=values)
    try:
        query = parse_lookup({k: v or None for k, v in values.items()})
        found = services().staff.lookup.find(staff(), query, meta=request_meta())
    except StaffError as exc:
        note_refusal(exc)
        html = render_template("admin/patients.html", values=values, error=exc.message)
        return html, exc.status
    return render_template("admin/patients.html", values=values, found=found)


def _patient_page(
    username: str,
    *,
    error: str | None = None,
    status: int = 200,
    kept: dict[str, str] | None = None,
) -> Any:
    """The patient's page; after a refused action, ``kept`` holds what the staff member
    typed into that action's form (its ``action``, ``reason`` and ``email``), shown again."""
    try:
        view = services().staff.records.view(staff(), username, meta=request_meta())
    except StaffError as exc:
        return refused(exc)
    role = staff().role
    html = render_template(
        "admin/patient.html",
        view=view,
        notice=session.pop(NOTICE_KEY, None),
        error=error,
        kept=kept or {},
        actions={name: may(role, op) for name, (op, _) in ACTIONS.items()},
        labels=ACTIVITY_LABELS,
        device=describe_device,
        place=coarse_location,
    )
    return html, status


@bp.get("/patients/view")
@staff_required(Operation.PATIENT_LOOKUP)
def patient() -> Any:
    return _patient_page(field(request.args, "user", limit=200))


@bp.post("/patients/action")
@staff_required(Operation.PATIENT_LOOKUP)
def patient_action() -> Any:
    username = field(request.form, "user", limit=200)
    action = field(request.form, "action", limit=32)
    if action not in ACTIONS:
        return _patient_page(
            username, error=translate("Choose one of the actions on this page."), status=400
        )
    _, notice = ACTIONS[action]
    reason = field(request.form, "reason", limit=600) or None
    support = services().staff.support
    principal, meta = staff(), request_meta()
    email = field(request.form, "email", limit=320)
    try:
        if action == "unlock":
            support.unlock(principal, username, reason=reason, meta=meta)
        elif action == "reset_link":
            support.send_reset_link(principal, username, reason=reason, email=True, meta=meta)
        elif action == "change_email":
            support.change_email(principal, username, email=email, reason=reason, meta=meta)
        elif action == "reset_mfa":
            support.reset_mfa(principal, username, reason=reason, meta=meta)
        elif action == "close":
            support.close_account(principal, username, reason=reason, meta=meta)
        else:
            support.reopen_account(principal, username, reason=reason, meta=meta)
    except StaffError as exc:
        if exc.status in (403, 404):
            return refused(exc)
        kept = {"action": action, "reason": reason or "", "email": email}
        return _patient_page(username, error=exc.message, status=exc.status, kept=kept)
    session[NOTICE_KEY] = notice
    return _to_patient(username)


def _to_patient(username: str) -> Response:
    return redirect(url_for("admin.patient", user=username), code=303)
