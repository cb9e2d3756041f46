"""Sign-in and consent pages; they end by sending the browser back to authorize."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from idp.flows.login import LoginReason
from idp.messages import SCOPE_DESCRIPTIONS
from idp.records import AuditEntry

from .deps import current_session, request_meta, services
from .errors import error_page
from .security import set_session_cookie

bp = Blueprint("auth", __name__)


def _render_login(
    *, username: str, message_id: str | None, interaction_id: str | None, status: int = 200
) -> Response:
    return Response(
        render_template(
            "login.html",
            username=username,
            message_id=message_id,
            interaction_id=interaction_id,
        ),
        status=status,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    svc = services()
    interaction_id = request.values.get("i") or None
    interaction = svc.interactions.get(interaction_id) if interaction_id else None
    if interaction_id and interaction is None:
        return error_page("interaction_expired", status=400)

    if request.method == "GET":
        # login_hint pre-fills the user ID (OIDC Core §3.1.2.1); never trusted beyond that.
        hint = interaction.params.get("login_hint", "") if interaction else ""
        return _render_login(username=hint[:64], message_id=None, interaction_id=interaction_id)

    username = request.form.get("username", "")
    password = request.form.get("password", "")
    if not username.strip() or not password:
        return _render_login(
            username=username[:64],
            message_id="missing_fields",
            interaction_id=interaction_id,
            status=400,
        )
    result = svc.login.submit(username=username, password=password, meta=request_meta())
    if not result.ok or result.account is None:
        # One message for wrong password and unknown user; another only for the lock,
        # given alike to existing and unknown IDs (security invariant 4).
        message_id = (
            "account_locked" if result.reason is LoginReason.LOCKED else ("invalid_credentials")
        )
        status = 401
        if result.reason is LoginReason.EMAIL_NOT_VERIFIED:
            # Only reached with the right password: it tells the holder nothing new.
            message_id, status = "email_not_verified", 403
        return _render_login(
            username=username[:64],
            message_id=message_id,
            interaction_id=interaction_id,
            status=status,
        )

    # A new session id at every sign-in (session fixation, ASVS 7.2.4).
    old = current_session()
    if old is not None:
        svc.sessions.end(request.cookies.get("idp_session", ""))
    now = svc.clock().timestamp()
    meta = request_meta()
    session_id, session = svc.sessions.start(
        account_id=result.account.id,
        subject=result.account.subject,
        now=now,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
    g.idp_sso = session
    if interaction is not None:
        svc.interactions.update(interaction, login_session=session.key)
        response = redirect(url_for("oidc.resume", i=interaction.id), code=303)
    else:
        response = redirect(url_for("auth.home"), code=303)
    set_session_cookie(response, session_id)
    return response


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Response:
    svc = services()
    interaction = svc.interactions.get(request.values.get("i"))
    if interaction is None:
        return error_page("interaction_expired", status=400)
    session = current_session()
    if session is None:
        return redirect(url_for("auth.login", i=interaction.id), code=303)
    with svc.db.transaction() as uow:
        client = uow.clients.by_client_id(interaction.client_id)
        if client is None:
            return error_page("unknown_client", status=400)
        requested = [
            s
            for s in dict.fromkeys(interaction.params.get("scope", "").split())
            if s in client.allowed_scopes
        ]
        if request.method == "GET":
            return Response(
                render_template(
                    "consent.html",
                    client=client,
                    scopes=[(s, SCOPE_DESCRIPTIONS.get(s, s)) for s in requested],
                    interaction_id=interaction.id,
                )
            )
        decision = request.form.get("decision")
        now = svc.clock()
        meta = request_meta()
        entry = {
            "actor": session.subject,
            "subject": session.subject,
            "client_id": client.client_id,
            "ip": meta.ip,
            "user_agent": meta.user_agent,
        }
        if decision != "allow":
            uow.audit.record(AuditEntry(type="consent", outcome="denied", **entry), now=now)
            svc.interactions.finish(interaction.id)
            return _deny(interaction.params)
        uow.consents.grant(session.account_id, client.id, frozenset(requested), now=now)
        uow.audit.record(
            AuditEntry(
                type="consent", outcome="success", details={"scope": " ".join(requested)}, **entry
            ),
            now=now,
        )
    svc.interactions.update(interaction, consent_done=True)
    return redirect(url_for("oidc.resume", i=interaction.id), code=303)


def _deny(params: dict[str, str]) -> Response:
    from authlib.oauth2.rfc6749 import AccessDeniedError

    from .oidc import _redirect_error

    return _redirect_error(params, AccessDeniedError())


@bp.get("/")
def home() -> Response:
    session = current_session()
    return Response(render_template("home.html", signed_in=session is not None))
