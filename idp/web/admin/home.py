"""The console's front page: the sections the signed-in staff member's role opens."""

from __future__ import annotations

from flask import render_template

from idp.i18n import N_
from idp.policies.staff_roles import Operation, may

from ..staff_session import staff_required
from . import bp
from .refusals import staff

# (endpoint, title, what it is for, the operation that opens it)
SECTIONS = (
    (
        "admin.patient_lookup",
        N_("Patients"),
        N_("Find a patient; unlock, send a reset link, change email, reset two-step, close."),
        Operation.PATIENT_LOOKUP,
    ),
    (
        "admin.enrollments",
        N_("Enrollments"),
        N_("Sign-ups awaiting review: approve or reject, with the reasons they matched."),
        Operation.ENROLLMENT_LIST,
    ),
    (
        "admin.invitations",
        N_("Invitations"),
        N_("Invite a patient record; resend a code or revoke an invitation."),
        Operation.INVITATION_LIST,
    ),
    (
        "admin.proxy_queue",
        N_("Proxy approvals"),
        N_("Representatives waiting for approval or a teen's signature: approve or reject."),
        Operation.PROXY_LIST,
    ),
    (
        "admin.registry",
        N_("Portals and clients"),
        N_("Add portals and clients; rotate a secret, edit redirect URIs, require two-step."),
        Operation.PORTAL_LIST,
    ),
    (
        "admin.audit_search",
        N_("Audit search"),
        N_("Find and export events."),
        Operation.AUDIT_SEARCH,
    ),
    (
        "admin.overview",
        N_("Sign-in overview"),
        N_("Sign-ins, failures, lockouts, resets and two-step checks over time."),
        Operation.AUDIT_SEARCH,
    ),
)


def visible_sections() -> list[tuple[str, str, str]]:
    role = staff().role
    return [(e, t, d) for e, t, d, op in SECTIONS if may(role, op)]


@bp.get("/")
@staff_required(None)
def home() -> str:
    return render_template("admin/home.html", sections=visible_sections())
