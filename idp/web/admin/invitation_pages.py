"""A practice's invitations on the console (issue 11 item 1, "Queues"): list one
portal's invitations, create one, resend (a new code; the old one dies), revoke.

Thin views over ``services.staff.invitations``, the operations the JSON API and
``idp invitations`` call. Every change is a POST with the CSRF token; resend and
revoke ask for a reason. Success redirects (303) back to the portal's list with a
notice; a refusal re-renders the page with the message and status, nothing changed.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, session, url_for

from idp.flows.invitations import InvitationInput
from idp.flows.staff.errors import StaffError
from idp.i18n import N_, translate
from idp.messages import message
from idp.policies.staff_roles import Operation, may

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .refusals import refused, staff

NOTICE_KEY = "admin_notice"
FIELDS = ("patient_id", "first_name", "last_name", "dob", "zip", "gender", "email")
GENDERS = ("female", "male", "other", "unknown")
GENDER_LABELS = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "unknown": N_("Unknown"),
}
# An invitation's state (Invitation.state) as the list shows it.
STATE_LABELS = {
    "pending": N_("pending"),
    "activated": N_("activated"),
    "revoked": N_("revoked"),
    "expired": N_("expired"),
}
ACTIONS = {"resend": Operation.INVITATION_RESEND, "revoke": Operation.INVITATION_REVOKE}


def _page(
    slug: str,
    *,
    error: str | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Any:
    desk, principal = services().staff.invitations, staff()
    try:
        portals = desk.portals(principal)
        if not slug and len(portals) == 1:
            slug = portals[0].slug
        listing = desk.list(principal, slug) if slug else None
    except StaffError as exc:
        return refused(exc)
    html = render_template(
        "admin/invitations.html",
        portals=portals,
        slug=slug,
        listing=listing,
        now=services().clock(),
        notice=session.pop(NOTICE_KEY, None),
        error=error,
        values=values or {},
        field_errors=field_errors or {},
        genders=GENDERS,
        gender_labels=GENDER_LABELS,
        state_labels=STATE_LABELS,
        can={
            "create": may(principal.role, Operation.INVITATION_CREATE),
            **{name: may(principal.role, op) for name, op in ACTIONS.items()},
        },
    )
    return html, status


def _back(slug: str, notice: str) -> Any:
    session[NOTICE_KEY] = notice
    return redirect(url_for("admin.invitations", portal=slug), code=303)


@bp.get("/invitations")
@staff_required(Operation.INVITATION_LIST)
def invitations() -> Any:
    return _page(field(request.args, "portal", limit=64))


@bp.post("/invitations/create")
@staff_required(Operation.INVITATION_CREATE)
def invitation_create() -> Any:
    slug = field(request.form, "portal", limit=64)
    values = {name: field(request.form, name, limit=320) for name in FIELDS}
    try:
        created = services().staff.invitations.create(
            staff(),
            slug,
            InvitationInput(**values),
            reason=field(request.form, "reason", limit=600) or None,
            meta=request_meta(),
        )
    except StaffError as exc:
        if exc.status == 403:
            return refused(exc)
        return _page(slug, error=exc.message, status=exc.status, values=values)
    if created.invitation is None:
        errors = {
            name: message(f"invitation_field_{code}") for name, code in created.fields.items()
        }
        return _page(
            slug,
            error=translate("Check the fields marked below."),
            status=400,
            values=values,
            field_errors=errors,
        )
    return _back(
        slug,
        translate("Invitation #{id} emailed to the patient.").format(id=created.invitation.id),
    )


@bp.post("/invitations/act")
@staff_required(Operation.INVITATION_LIST)
def invitation_act() -> Any:
    slug = field(request.form, "portal", limit=64)
    action = field(request.form, "action", limit=16)
    raw_id = field(request.form, "invitation", limit=12)
    if action not in ACTIONS or not raw_id.isdigit():
        return _page(
            slug, error=translate("Choose resend or revoke on one invitation."), status=400
        )
    desk, invitation_id = services().staff.invitations, int(raw_id)
    reason = field(request.form, "reason", limit=600) or None
    try:
        if action == "resend":
            desk.resend(staff(), invitation_id, reason=reason, meta=request_meta())
            notice = translate(
                "Invitation #{id}: a new code was emailed; the old one is dead."
            ).format(id=invitation_id)
        else:
            desk.revoke(staff(), invitation_id, reason=reason, meta=request_meta())
            notice = translate("Invitation #{id} revoked: its code no longer works.").format(
                id=invitation_id
            )
    except StaffError as exc:
        if exc.status in (403, 404):
            return refused(exc)
        return _page(slug, error=exc.message, status=exc.status)
    return _back(slug, notice)
