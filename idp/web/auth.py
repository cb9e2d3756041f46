"""Sign-in and consent pages; they end by sending the browser back to authorize."""

from __future__ import annotations

import json
import secrets

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask import session as flask_session

from idp.flows.devices import DEVICE_COOKIE
from idp.flows.login import LoginReason
from idp.messages import SCOPE_DESCRIPTIONS, message
from idp.messages.account import QUESTION_REASONS
from idp.policies.password import PASSWORD_PRESETS, describe
from idp.policies.password import REASONS as PASSWORD_REASONS
from idp.policies.security_questions import CURATED_QUESTIONS
from idp.records import AuditEntry

from .deps import current_session, request_meta, services
from .errors import error_page
from .forms import question_choices
from .security import rotate_csrf_secret, set_device_cookie, set_session_cookie

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
    result = svc.login.submit(
        username=username,
        password=password,
        meta=request_meta(),
        device_cookie=request.cookies.get(DEVICE_COOKIE),
    )
    if result.reason is LoginReason.SETUP_REQUIRED and result.account is not None:
        return _start_setup(result.account.id, interaction_id)
    if not result.ok or result.account is None:
        # One message for wrong password and unknown user; the lock and the address
        # throttle each have one, given alike to existing and unknown IDs (invariant 4).
        # The others are only reached with the right password: they tell its holder
        # nothing new.
        message_id, status = _REFUSALS.get(result.reason, ("invalid_credentials", 401))
        return _render_login(
            username=username[:64],
            message_id=message_id,
            interaction_id=interaction_id,
            status=status,
        )
    response = _signed_in(
        result.account.id,
        result.account.subject,
        interaction_id,
        persistent=request.form.get("remember") == "yes",
    )
    if result.device_cookie:
        set_device_cookie(response, result.device_cookie)
    return response


_REFUSALS = {
    LoginReason.LOCKED: ("account_locked", 401),
    LoginReason.THROTTLED: ("too_many_attempts", 429),
    LoginReason.EMAIL_NOT_VERIFIED: ("email_not_verified", 403),
    LoginReason.TEMPORARY_PASSWORD_EXPIRED: ("temporary_password_expired", 403),
}


def _signed_in(
    account_id: int, subject: str, interaction_id: str | None, *, persistent: bool = False
) -> Response:
    """Start the SSO session and go on to where the patient was headed.

    ``persistent``: the patient ticked "Keep me signed in on this device" on the login
    page; every other way in gives a cookie that ends with the browser.
    """
    svc = services()
    interaction = svc.interactions.get(interaction_id) if interaction_id else None
    # A new session id at every sign-in (session fixation, ASVS 7.2.4).
    if current_session() is not None:
        svc.sessions.end(request.cookies.get("idp_session", ""))
    meta = request_meta()
    session_id, session = svc.sessions.start(
        account_id=account_id,
        subject=subject,
        now=svc.clock().timestamp(),
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
    g.idp_sso = session
    if interaction is not None:
        svc.interactions.update(interaction, login_session=session.key)
        response = redirect(url_for("oidc.resume", i=interaction.id), code=303)
    else:
        response = redirect(url_for("auth.home"), code=303)
    rotate_csrf_secret()
    set_session_cookie(response, session_id, persistent=persistent)
    return response


# --- first sign-in of an office-made account -------------------------------------------------

SETUP_TTL = 15 * 60


def _start_setup(account_id: int, interaction_id: str | None) -> Response:
    """Remember, server-side and bound to this browser, whose setup this is."""
    ticket = secrets.token_urlsafe(24)
    services().ephemeral.put(
        f"setup:{ticket}",
        json.dumps({"account_id": account_id, "interaction": interaction_id}),
        ttl=SETUP_TTL,
    )
    flask_session["idp_setup"] = ticket
    return redirect(url_for("auth.setup"), code=303)


@bp.route("/login/setup", methods=["GET", "POST"])
def setup() -> Response:
    svc = services()
    ticket = flask_session.get("idp_setup")
    raw = svc.ephemeral.get(f"setup:{ticket}") if isinstance(ticket, str) else None
    if raw is None:
        return error_page("setup_expired", status=400)
    state = json.loads(raw)
    count = svc.settings.accounts.security_questions
    if request.method == "GET":
        return _render_setup(reasons=(), status=200)
    result = svc.first_signin.complete(
        account_id=state["account_id"],
        password=request.form.get("password", "")[:2048],
        choices=question_choices(request.form, count) if count else [],
        accept_terms=request.form.get("accept_terms") == "yes",
        meta=request_meta(),
    )
    if not result.ok or result.account is None:
        return _render_setup(reasons=result.reasons, status=400)
    svc.ephemeral.delete(f"setup:{ticket}")
    flask_session.pop("idp_setup", None)
    return _signed_in(result.account.id, result.account.subject, state.get("interaction"))


def _render_setup(*, reasons: tuple[str, ...], status: int) -> Response:
    svc = services()
    policy = PASSWORD_PRESETS[svc.settings.password_policy]
    texts = [
        (
            code,
            describe(code, policy)
            if code in PASSWORD_REASONS
            else QUESTION_REASONS.get(code) or message(code),
        )
        for code in reasons
    ]
    return Response(
        render_template(
            "login_setup.html",
            reasons=texts,
            question_count=svc.settings.accounts.security_questions,
            curated=CURATED_QUESTIONS,
            values=request.form,
        ),
        status=status,
    )


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
