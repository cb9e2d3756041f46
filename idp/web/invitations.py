"""Invitations: activation pages and the JSON APIs that create them (issue 5).

Pages (``bp``): the patient's side, thin views over
:class:`idp.flows.invitations.InvitationFlow`::

    GET  /activate?code=…    the emailed "Sign up for an account" link → date of birth + zip
    GET  /activate           type the code instead (POST /activate/code)
    POST /activate           date of birth + zip
    POST /activate/signin    link an account the patient already has
    POST /activate/account   create an account (user ID, password, questions, terms)
    GET  /activate/done      after either: signed in and linked
    GET|POST /activate/resend  "resend my activation code"

JSON API (``api``, bearer tokens from the client_credentials grant, no CSRF)::

    POST   /api/invitations                       scope portal:invitations; the portal is
    GET    /api/invitations/<id>                  the calling client's, never the request's
    DELETE /api/invitations/<id>
    POST   /api/admin/portals/<slug>/invitations  scope idp:admin (staff tools)
    GET    /api/admin/portals/<slug>/invitations
    GET    /api/admin/invitations/<id>
    DELETE /api/admin/invitations/<id>           {"reason"?: "..."}
    POST   /api/admin/invitations/<id>/resend    {"reason": "..."}: new code, old one dead

Request bodies are JSON objects with exactly the fields patient_id, first_name,
last_name, dob (YYYY-MM-DD), zip, gender and email, all strings. Unknown and repeated
fields are refused (400 naming them) rather than ignored: a typo such as ``zipcode``
or a second ``dob`` must not create an invitation the practice did not mean. Another
practice's invitation answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from werkzeug.wrappers import Response as BaseResponse

from idp.flows.authn.flow import Authenticated
from idp.flows.invitations import (
    ActivationView,
    InvitationFlow,
    InvitationInput,
    NewCredentials,
    Revocation,
    Step,
)
from idp.flows.staff.errors import StaffError
from idp.messages import message
from idp.messages.account import QUESTION_REASONS
from idp.policies.password import PASSWORD_PRESETS, describe
from idp.policies.password import REASONS as PASSWORD_REASONS
from idp.policies.security_questions import CURATED_QUESTIONS
from idp.policies.staff_roles import Operation
from idp.records import PortalRecord
from idp.store.invitations import InvitationRecord

from .api_auth import (
    api_caller,
    api_error,
    api_principal,
    portal_allowed,
    portal_forbidden,
    require_scope,
    require_staff,
    scoped_portal_id,
    staff_error,
)
from .auth import authn_entry, park
from .deps import request_meta, services
from .forms import field, question_choices, question_values
from .session_issuer import issue_session

bp = Blueprint("invitations", __name__)
# The JSON API (practice systems and staff tools): bearer tokens, no CSRF.
api = Blueprint("invitations_api", __name__, url_prefix="/api")

FIELDS = ("patient_id", "first_name", "last_name", "dob", "zip", "gender", "email")
# Row ids are 32-bit on PostgreSQL: a larger number cannot name an invitation.
MAX_ID = 2**31 - 1
DONE_KEY = "idp_invitation_done"


def _flow() -> InvitationFlow:
    return InvitationFlow.from_services(services())


# --- pages ---------------------------------------------------------------------------------


def _texts(reasons: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(code, text) pairs for the ``reasons`` macro."""
    policy = PASSWORD_PRESETS[services().settings.password_policy]
    items = []
    for name, code in reasons:
        if name == "password" and code in PASSWORD_REASONS:
            items.append((code, describe(code, policy)))
        elif name == "questions":
            items.append((code, QUESTION_REASONS.get(code) or message(code)))
        else:
            items.append((code, message(code)))
    return items


def _page(template: str, *, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status)


def _render(view: ActivationView, values: Mapping[str, str] | None = None) -> BaseResponse:
    invalid = {name for name, _ in view.reasons}
    if view.redirect is not None:
        # An account with a second factor: the authentication flow asks for it first.
        return park(view.redirect)
    if view.step is Step.DONE and view.authenticated is not None:
        response = issue_session(view.authenticated.result, None)
        # The SSO session has started; show where the patient now stands.
        flask_session[DONE_KEY] = view.portal_name or ""
        response.headers["Location"] = url_for("invitations.done")
        return response
    if view.step is Step.VERIFY:
        return _page(
            "activate_verify.html",
            status=view.status,
            flow_id=view.flow_id,
            message_id=view.message_id,
            reasons=_texts(view.reasons),
            invalid=invalid,
        )
    if view.step is Step.CHOOSE:
        message_id, status = view.message_id, view.status
        values = values or {}
        return _page(
            "activate_choose.html",
            status=status,
            flow_id=view.flow_id,
            practice=view.portal_name,
            email_in_use=view.email_in_use,
            message_id=message_id,
            reasons=_texts(view.reasons),
            invalid=invalid,
            values=values,
            signin_username=values.get("signin_username", ""),
            question_count=services().settings.accounts.security_questions,
            curated=CURATED_QUESTIONS,
        )
    # CODE and EXPIRED: the page to type (or re-open) the code.
    return _page("activate_code.html", status=view.status, message_id=view.message_id)


def finish_activation(done: Authenticated) -> BaseResponse:
    """The second factor passed: link the invitation's record, then start the session."""
    view = _flow().link_signed_in(str(done.continuation.get("flow", "")), done, meta=request_meta())
    return _render(view)


@bp.route("/activate", methods=["GET", "POST"])
def activate() -> BaseResponse:
    if request.method == "GET":
        # The emailed link. Nothing is looked up and the code is not used here: every
        # well-formed code gets the same page (mail scanners open links too).
        return _render(_flow().open(request.args.get("code", "")[:200]))
    form = request.form
    # The birth date and zip code are this step's credentials (they count toward the
    # lockout): like a password, a refused step does not show them again.
    view = _flow().verify(
        field(form, "flow", limit=64),
        field(form, "dob", limit=10),
        field(form, "zip", limit=10),
        meta=request_meta(),
    )
    return _render(view)


@bp.post("/activate/code")
def enter_code() -> BaseResponse:
    """The code typed by hand; the same as following the link."""
    return _render(_flow().open(field(request.form, "code", limit=200)))


@bp.post("/activate/signin")
def sign_in() -> BaseResponse:
    form = request.form
    # Sign-in's own limits apply (LoginFlow refuses oversized or empty input alike).
    username = (form.get("username") or "")[:65]
    password = (form.get("password") or "")[:1025]
    view = _flow().sign_in(
        field(form, "flow", limit=64),
        username,
        password,
        meta=request_meta(),
        entry=authn_entry(None),
    )
    return _render(view, {"signin_username": username.strip()[:64]})


@bp.post("/activate/account")
def create_account() -> BaseResponse:
    form = request.form
    count = services().settings.accounts.security_questions
    questions = question_choices(form, count) if count else []
    credentials = NewCredentials(
        username=field(form, "username", limit=64),
        password=(form.get("password") or "")[:1025],
        questions=questions,
        accept_terms=form.get("accept_terms") == "yes",
    )
    view = _flow().create_account(
        field(form, "flow", limit=64), credentials, meta=request_meta(), entry=authn_entry(None)
    )
    # Echo the user ID and the questions being chosen, never the password.
    values = {
        "username": credentials.username,
        "accept_terms": "yes" if form.get("accept_terms") == "yes" else "",
    }
    values.update(question_values(questions))
    return _render(view, values)


@bp.get("/activate/done")
def done() -> BaseResponse:
    practice = flask_session.pop(DONE_KEY, None)
    if practice is None:
        return redirect(url_for("invitations.activate"), code=303)
    return _page("activate_done.html", practice=practice or "your practice")


@bp.route("/activate/resend", methods=["GET", "POST"])
def resend() -> Response:
    if request.method == "GET":
        return _page("activate_resend.html", reasons=[], invalid=set(), values={})
    form = request.form
    values = {
        "email": field(form, "email", limit=254),
        "dob": field(form, "dob", limit=10),
        "zip": field(form, "zip", limit=10),
    }
    result = _flow().resend(values["email"], values["dob"], values["zip"], meta=request_meta())
    if result.reasons:
        # Format problems only, the same for every address.
        return _page(
            "activate_resend.html",
            status=400,
            reasons=_texts(result.reasons),
            invalid={name for name, _ in result.reasons},
            values=values,
        )
    # The same reply whether or not an invitation matched (invariant 4).
    return _page("activate_resend_sent.html")


# --- JSON API ------------------------------------------------------------------------------


class _BadBody(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("bad body")
        self.response = response


def _invalid(fields: Mapping[str, str]) -> Response:
    response = jsonify(
        {
            "error": "invalid_request",
            "error_description": " ".join(
                message(f"invitation_field_{code}") for code in fields.values()
            ),
            "fields": dict(fields),
        }
    )
    response.status_code = 400
    return response


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in seen:
            repeated.append(key)
        seen[key] = value
    if repeated:
        raise _BadBody(_invalid({k[:64]: "duplicate_field" for k in repeated[:20]}))
    return seen


def _invitation_input() -> InvitationInput:
    """The body as an :class:`InvitationInput`, or :class:`_BadBody` with the reply."""
    if not request.is_json:
        raise _BadBody(api_error(415, "invalid_request", "send the invitation as application/json"))
    try:
        body = json.loads(request.get_data(cache=False), object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError):
        raise _BadBody(api_error(400, "invalid_request", "the body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise _BadBody(api_error(400, "invalid_request", "the body must be a JSON object"))
    problems = {k[:64]: "unknown_field" for k in list(body)[:20] if k not in FIELDS}
    problems.update(
        {k: "invalid_type" for k in FIELDS if k in body and not isinstance(body[k], str)}
    )
    if problems:
        raise _BadBody(_invalid(problems))
    return InvitationInput(**{k: body.get(k, "") for k in FIELDS})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_json(invitation: InvitationRecord, *, status: int = 200) -> Response:
    """What a practice may read back: never the code, nor the demographics it sent."""
    now = services().clock()
    response = jsonify(
        {
            "id": invitation.id,
            "portal": invitation.portal_slug,
            "patient_id": invitation.patient_id,
            "status": invitation.state(now),
            "created_at": _iso(invitation.created_at),
            "expires_at": _iso(invitation.expires_at),
            "activated_at": _iso(invitation.activated_at),
        }
    )
    response.status_code = status
    return response


def _not_found() -> Response:
    return api_error(404, "not_found", "no such invitation")


def _create(portal: PortalRecord, actor: str) -> Response:
    try:
        form = _invitation_input()
    except _BadBody as bad:
        return bad.response
    created = _flow().create(portal, form, actor=actor, meta=request_meta())
    if created.invitation is None:
        return _invalid(created.fields)
    response = _as_json(created.invitation, status=201)
    response.headers["Location"] = url_for(
        "invitations_api.get_invitation", invitation_id=created.invitation.id
    )
    return response


def _read(invitation_id: int, portal_id: int | None) -> Response:
    found = _flow().find(invitation_id, portal_id=portal_id) if invitation_id <= MAX_ID else None
    return _not_found() if found is None else _as_json(found)


def _revoke(invitation_id: int, portal_id: int | None, actor: str) -> Response:
    if invitation_id > MAX_ID:
        return _not_found()
    outcome, found = _flow().revoke(
        invitation_id, actor=actor, meta=request_meta(), portal_id=portal_id
    )
    if outcome is Revocation.NOT_FOUND or found is None:
        return _not_found()
    if outcome is Revocation.ALREADY_ACTIVATED:
        return api_error(409, "invalid_request", "the invitation was already activated")
    # Revoking twice is not an error: the invitation is revoked either way.
    return _as_json(found)


def _own_portal() -> PortalRecord | Response:
    portal = api_caller().client.portal
    if portal is None:
        return api_error(403, "access_denied", "this client is not registered for a practice")
    return portal


@api.post("/invitations")
@require_scope("portal:invitations")
def create_invitation() -> Response:
    portal = _own_portal()
    if isinstance(portal, Response):
        return portal
    return _create(portal, api_caller().actor)


@api.get("/invitations/<int:invitation_id>")
@require_scope("portal:invitations")
def get_invitation(invitation_id: int) -> Response:
    portal = _own_portal()
    if isinstance(portal, Response):
        return portal
    return _read(invitation_id, portal.id)


@api.delete("/invitations/<int:invitation_id>")
@require_scope("portal:invitations")
def revoke_invitation(invitation_id: int) -> Response:
    portal = _own_portal()
    if isinstance(portal, Response):
        return portal
    return _revoke(invitation_id, portal.id, api_caller().actor)


# --- staff tools (idp:admin) ---------------------------------------------------------------


def _staff_invitation(call: Any) -> Response:
    """Run one staff invitation operation; its refusal answers as the API does."""
    try:
        return call(services().staff.invitations, api_principal())  # type: ignore[no-any-return]
    except StaffError as exc:
        return staff_error(exc)


def _json_reason() -> str | None | Response:
    """The optional ``reason`` of a staff call's JSON body (no body: none)."""
    if not request.get_data():
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("reason", ""), str):
        return api_error(400, "invalid_request", "send a JSON object with a string reason")
    reason = body.get("reason")
    return reason if isinstance(reason, str) else None


@api.post("/admin/portals/<slug>/invitations")
@require_staff(Operation.INVITATION_CREATE)
def admin_create_invitation(slug: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)
    try:
        form = _invitation_input()
    except _BadBody as bad:
        return bad.response

    def create(desk: Any, who: Any) -> Response:
        created = desk.create(who, slug, form, meta=request_meta())
        if created.invitation is None:
            return _invalid(created.fields)
        response = _as_json(created.invitation, status=201)
        response.headers["Location"] = url_for(
            "invitations_api.get_invitation", invitation_id=created.invitation.id
        )
        return response

    return _staff_invitation(create)


@api.get("/admin/portals/<slug>/invitations")
@require_staff(Operation.INVITATION_LIST)
def admin_list_invitations(slug: str) -> Response:
    if not portal_allowed(slug):
        return portal_forbidden(slug)

    def listing(desk: Any, who: Any) -> Response:
        found = desk.list(who, slug)
        now = services().clock()
        rows = [
            {
                "id": i.id,
                "patient_id": i.patient_id,
                "status": i.state(now),
                "created_at": _iso(i.created_at),
                "expires_at": _iso(i.expires_at),
                "activated_at": _iso(i.activated_at),
            }
            for i in found.invitations
        ]
        return jsonify({"portal": found.portal.slug, "invitations": rows})

    return _staff_invitation(listing)


@api.get("/admin/invitations/<int:invitation_id>")
@require_staff(Operation.INVITATION_LIST)
def admin_get_invitation(invitation_id: int) -> Response:
    return _read(invitation_id, scoped_portal_id())


@api.delete("/admin/invitations/<int:invitation_id>")
@require_staff(Operation.INVITATION_REVOKE)
def admin_revoke_invitation(invitation_id: int) -> Response:
    reason = _json_reason()
    if isinstance(reason, Response):
        return reason
    return _staff_invitation(
        lambda desk, who: _as_json(
            desk.revoke(
                who, invitation_id, reason=reason, reason_required=False, meta=request_meta()
            )[1]
        )
    )


@api.post("/admin/invitations/<int:invitation_id>/resend")
@require_staff(Operation.INVITATION_RESEND)
def admin_resend_invitation(invitation_id: int) -> Response:
    """A new code emailed to the invitation's address; the old code stops working."""
    reason = _json_reason()
    if isinstance(reason, Response):
        return reason
    return _staff_invitation(
        lambda desk, who: _as_json(
            desk.resend(who, invitation_id, reason=reason, meta=request_meta())
        )
    )
