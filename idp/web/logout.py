"""RP-Initiated Logout 1.0: end the SSO session, then go back to the portal if allowed."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Response, g, render_template, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from idp.oidc.backchannel import session_sid
from idp.oidc.subject import subject_for
from idp.records import AuditEntry
from idp.store.sessions import SSOSession

from .deps import SESSION_COOKIE, current_session, request_meta, request_uow, services
from .errors import error_page
from .server import AuthorizationServer

LOGOUT_PARAMS = (
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
    "logout_hint",
    "ui_locales",
)


def end_session_view(server: AuthorizationServer) -> Response:
    if any(len(request.values.getlist(name)) > 1 for name in LOGOUT_PARAMS):
        return error_page("repeated_parameter", status=400)
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        # §4: on an invalid request the OP must not redirect.
        return error_page("invalid_logout_request", status=400)

    session = current_session()
    hint_sub = (end_request.id_token_claims or {}).get("sub")
    confirmed = request.method == "POST" and request.form.get("decision") == "logout"
    if confirmed:
        try:
            # Raises wtforms' ValidationError (not CSRFError) for a missing or bad token.
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            return error_page("csrf_failed", status=400)
    elif session is not None and (
        end_request.needs_confirmation or not _hint_names(session, end_request, hint_sub)
    ):
        # No valid id_token_hint, or one for somebody else: anyone could have sent
        # this browser here (§6), so the patient decides.
        params = {n: request.values[n] for n in LOGOUT_PARAMS if n in request.values}
        client = end_request.client.record if end_request.client else None
        return Response(render_template("logout_confirm.html", params=params, client=client))

    notice = None
    if session is not None:
        notice = _end(
            session.key,
            session.account_id,
            session.subject,
            end_request.client.client_id if end_request.client else None,
            hint_sub,
        )
    # Authlib is untyped; its Flask server answers with a flask Response, or None.
    response: Response | None = server.create_endpoint_response("end_session", end_request)
    if response is None:
        response = logged_out_page(notice)
    g.idp_clear_cookie = True
    return response


def _hint_names(session: SSOSession, end_request: Any, hint_sub: object) -> bool:
    """Does the id_token_hint name the user signed in to this browser?"""
    client = end_request.client
    if client is None or not isinstance(hint_sub, str):
        return False
    account_sub = subject_for(client.record, session.subject, salt=services().keys.pairwise_salt())
    return hint_sub == account_sub


# The signed-out page checks again every 2 s this many times while portals are pending
# (static/logout_status.js; a "Check again" link without script).
STATUS_RELOADS = 10


def logged_out_page(notice: str | None, *, reloads: int = 0) -> Response:
    """The signed-out page; with a notice, which portals confirmed (back-channel logout).

    A portal is named as signed out only once it answered its logout token. While some
    have not, the page checks again for a short while: a script replaces the status in
    place (a meta refresh would reload the page under a screen reader, WCAG 2.2.1), and
    without script a "Check again" link does.
    """
    status = services().portal_logout.status(notice) if notice else None
    # The next reload's count, or 0 for none: an unreachable portal stops the reloading.
    refresh = (
        reloads + 1 if status is not None and status.pending and reloads < STATUS_RELOADS else 0
    )
    response = Response(
        render_template("logged_out.html", portals=status, notice=notice, refresh=refresh)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def logout_status_view(notice: str) -> Response:
    if services().portal_logout.status(notice) is None:
        return error_page("logout_status_unknown", status=404)
    raw = request.args.get("n", "0")
    reloads = int(raw) if raw.isdigit() and len(raw) < 3 else STATUS_RELOADS
    return logged_out_page(notice, reloads=reloads)


def _end(
    key: str, account_id: int, subject: str, client_id: str | None, hint_sub: object
) -> str | None:
    svc = services()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    # Queued in this request's transaction: the portals hear only of a logout that stands.
    notice = svc.portal_logout.sessions_ending(
        request_uow(), subject=subject, keys=[key], now=svc.clock()
    )
    svc.sessions.end(cookie)
    # Tokens issued without offline_access end with the session (BCL §2.7). Like the
    # session itself, their access tokens go at once: a failed commit over-revokes.
    families = request_uow().refresh_tokens.revoke_for_sessions([session_sid(key)], now=svc.clock())
    for family in families:
        svc.access_tokens.revoke_grant(family)
    request_uow().audit.record(
        AuditEntry(
            type="logout",
            outcome="success",
            actor=subject,
            subject=subject,
            client_id=client_id,
            ip=request_meta().ip,
            user_agent=request_meta().user_agent,
            session_id=key[:16],
            details={
                "initiated_by": "rp" if client_id else "user",
                "token_families_revoked": len(families),
            },
        ),
        now=svc.clock(),
    )
    return notice
