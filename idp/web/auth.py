"""Sign-in and consent pages; they end by sending the browser back to authorize."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask import session as flask_session
from werkzeug.wrappers import Response as BaseResponse

from idp.flows.authn.flow import (
    CHOOSE_RECORD_EXPIRED,
    CHOOSE_RECORD_VIEW,
    MFA_ENROLMENT_REQUIRED,
    PASSWORD_FACTOR,
    RECORD_CHOICE,
    Authenticated,
    Entry,
)
from idp.flows.base import Done, Outcome, Redirect, Render
from idp.flows.devices import DEVICE_COOKIE
from idp.i18n import translate
from idp.messages import SCOPE_DESCRIPTIONS, message
from idp.messages.account import QUESTION_REASONS
from idp.policies.assurance import second_factor_requested
from idp.policies.password import PASSWORD_PRESETS, describe
from idp.policies.password import REASONS as PASSWORD_REASONS
from idp.policies.security_questions import CURATED_QUESTIONS
from idp.records import AuditEntry
from idp.store.interactions import Interaction

from .deps import current_session, find_client, pending_interaction, request_meta, services
from .errors import error_page
from .forms import field, question_choices
from .login_page import render_login_page
from .security import flow_binding
from .session_issuer import issue_session, record_chosen

bp = Blueprint("auth", __name__)


def _render_login(
    *, username: str, message_id: str | None, interaction_id: str | None, status: int = 200
) -> Response:
    # From the per-process cache of the page's shapes (idp/web/login_page.py).
    return Response(
        render_login_page(username=username, message_id=message_id, interaction_id=interaction_id),
        status=status,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    svc = services()
    interaction_id = request.values.get("i") or None
    interaction = pending_interaction(interaction_id)
    done = already_signed_in(interaction_id, interaction)
    if done is not None:
        return done
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
    outcome = svc.authn.password(
        authn_entry(interaction, persistent=request.form.get("remember") == "yes"),
        username=username,
        password=password,
        meta=request_meta(),
        device_cookie=request.cookies.get(DEVICE_COOKIE),
    )
    if isinstance(outcome, Render) and outcome.view == "login":
        # One message for wrong password and unknown user; the lock and the address
        # throttle each have one, given alike to existing and unknown IDs (invariant 4).
        # The others are only reached with the right password: they tell its holder
        # nothing new.
        return _render_login(
            username=username[:64],
            message_id=outcome.message_id,
            interaction_id=interaction_id,
            status=outcome.status,
        )
    return authn_response(outcome)


# What an interaction id looks like (``secrets.token_urlsafe``): anything else is bad
# input and gets its error, signed in or not.
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def already_signed_in(
    interaction_id: str | None, interaction: Interaction | None
) -> BaseResponse | None:
    """Where a signed-in browser goes when it comes back to a sign-in page.

    The Back button after signing in, or a sign-in form sent twice (its second copy
    fails the CSRF check: the secret is replaced at sign-in), must not show an error
    for what succeeded (issue 14, item 7). A pending request this session already
    signed in for continues; a request that is gone (used or expired) lands on the
    "You are signed in" page. The plain login page stays reachable while signed in
    (signing in as someone else on a shared computer).
    """
    session = current_session()
    if session is None:
        return None
    if interaction is not None:
        if interaction.login_session == session.key:
            return redirect(url_for("oidc.resume", i=interaction.id), code=303)
        return None  # this request needs a sign-in of its own (prompt=login, max_age, MFA)
    if interaction_id and _WELL_FORMED_ID.fullmatch(interaction_id):
        return redirect(url_for("auth.home"), code=303)
    return None


# --- sign-in with a passkey alone (static/passkey_login.js) ------------------------------------


# Passkey ceremonies one network address may start per minute (a page load with
# conditional UI starts one, every click on the button another); a clinic behind one
# address stays far below it, a script filling the ephemeral store does not.
PASSKEY_CEREMONIES = 120


@bp.post("/login/passkey/options")
def passkey_options() -> BaseResponse:
    """A new passkey ceremony: its flow id and ``navigator.credentials.get`` options (JSON).

    A POST with the page's CSRF token (``X-CSRFToken``), since it stores a challenge;
    each call starts a flow of its own, bound to this browser and the pending request.
    """
    svc = services()
    # Each call stores a challenge for five minutes: bounded per network address.
    if not svc.throttle.allow(
        "passkey_options", request_meta().ip or "", limit=PASSKEY_CEREMONIES, window=60
    ):
        response = _json({"error": "too_many_attempts"}, 429)
        response.headers["Retry-After"] = "60"
        return response
    interaction_id = request.form.get("i") or None
    interaction = svc.interactions.get(interaction_id) if interaction_id else None
    if interaction_id and interaction is None:
        return _json({"error": "interaction_expired"}, 400)
    started = svc.authn.passkey_options(
        authn_entry(interaction, persistent=request.form.get("remember") == "yes")
    )
    if started is None:
        return _json({"error": "not_found"}, 404)
    flow_id, options = started
    return _json({"flow": flow_id, "options": json.loads(options)}, 200)


@bp.post("/login/passkey")
def passkey() -> BaseResponse:
    """The passkey's answer (``PublicKeyCredential.toJSON()``) for one ceremony's flow."""
    svc = services()
    outcome = svc.authn.passkey(
        field(request.form, "flow", limit=64),
        {"credential": (request.form.get("credential") or "")[:MAX_PASSKEY_RESPONSE]},
        binding=flow_binding(),
        meta=request_meta(),
        device_cookie=request.cookies.get(DEVICE_COOKIE),
    )
    if isinstance(outcome, Render) and outcome.view == "login":
        # Back to the sign-in page, still for the portal's request when it is alive.
        interaction_id = request.form.get("i") or None
        if interaction_id and svc.interactions.get(interaction_id) is None:
            interaction_id = None
        return _render_login(
            username="",
            message_id=outcome.message_id,
            interaction_id=interaction_id,
            status=outcome.status,
        )
    return authn_response(outcome)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def authn_entry(
    interaction: Interaction | None,
    *,
    persistent: bool = False,
    continuation: dict[str, Any] | None = None,
) -> Entry:
    """Where this sign-in starts: this browser, the pending request and what it requires."""
    return Entry(
        binding=flow_binding(),
        interaction_id=interaction.id if interaction else None,
        require_mfa=mfa_required_for(interaction),
        persistent=persistent,
        continuation=continuation or {},
    )


def mfa_required_for(interaction: Interaction | None) -> bool:
    """The portal's client requires MFA, or the request asks for it (``acr_values``)."""
    if interaction is None:
        return False
    if second_factor_requested(interaction.params.get("acr_values")):
        return True
    client = find_client(interaction.client_id)
    return bool(client is not None and client.mfa_required)


PARKED_FLOW = "idp_authn_flow"


def park(url: str) -> BaseResponse:
    """Keep a parked sign-in's flow id in this browser's session, out of URLs and pages."""
    path, _, query = url.partition("?flow=")
    if query:
        flask_session[PARKED_FLOW] = query
    return redirect(path, code=303)


def parked_flow() -> str:
    value = flask_session.get(PARKED_FLOW)
    return value if isinstance(value, str) else ""


def authn_response(outcome: Outcome) -> BaseResponse:
    """The authentication flow's outcome as HTTP; DONE becomes the SSO session."""
    if isinstance(outcome, Redirect):
        return park(outcome.url)
    if isinstance(outcome, Done):
        flask_session.pop(PARKED_FLOW, None)
        done: Authenticated = outcome.result
        if done.continuation.get("kind") == "invitation":
            from .invitations import finish_activation

            return finish_activation(done)
        if done.continuation.get("kind") == RECORD_CHOICE:
            return record_chosen(done.result, done.interaction_id)
        return issue_session(
            done.result,
            done.interaction_id,
            persistent=done.persistent,
            device_cookie=done.device_cookie,
        )
    if outcome.view == MFA_ENROLMENT_REQUIRED:
        return error_page(MFA_ENROLMENT_REQUIRED, status=outcome.status)
    if outcome.view in ("setup_expired", "second_factor_expired", CHOOSE_RECORD_EXPIRED):
        return error_page(outcome.message_id or "setup_expired", status=outcome.status)
    if outcome.view == "setup":
        return _render_setup(reasons=outcome.message_ids, status=outcome.status)
    if outcome.view == "second_factor":
        return _render_second_factor(outcome)
    if outcome.view == CHOOSE_RECORD_VIEW:
        return _render_choose_record(outcome)
    return _render_login(
        username="", message_id=outcome.message_id, interaction_id=None, status=outcome.status
    )


# --- first sign-in of an office-made account -------------------------------------------------


@bp.route("/login/setup", methods=["GET", "POST"])
def setup() -> BaseResponse:
    svc = services()
    flow_id = parked_flow()
    if request.method == "GET":
        if not svc.authn.setup_pending(flow_id, binding=flow_binding()):
            return error_page("setup_expired", status=400)
        return _render_setup(reasons=(), status=200)
    count = svc.settings.accounts.security_questions
    outcome = svc.authn.setup(
        flow_id,
        binding=flow_binding(),
        password=request.form.get("password", "")[:2048],
        choices=question_choices(request.form, count) if count else [],
        accept_terms=request.form.get("accept_terms") == "yes",
        meta=request_meta(),
    )
    return authn_response(outcome)


# --- the second factor -------------------------------------------------------------------------


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor() -> BaseResponse:
    """One input named ``code`` and one submit button (DESIGN.md, "Second factor")."""
    svc = services()
    flow_id = parked_flow()
    if request.method == "GET":
        return authn_response(svc.authn.second_factor_page(flow_id, binding=flow_binding()))
    method = request.form.get("method", "totp")
    if method == PASSWORD_FACTOR:
        # After a passkey that did not verify the user: the password is the other factor.
        return authn_response(
            svc.authn.passkey_password(
                flow_id,
                request.form.get("password", ""),
                binding=flow_binding(),
                meta=request_meta(),
                device_cookie=request.cookies.get(DEVICE_COOKIE),
            )
        )
    form = {
        "method": method if method in ("totp", "recovery_code", "webauthn") else "",
        "code": field(request.form, "code", limit=64),
        # A passkey's response (PublicKeyCredential.toJSON()); the method bounds its size.
        "credential": (request.form.get("credential") or "")[:MAX_PASSKEY_RESPONSE],
    }
    return authn_response(
        svc.authn.second_factor(
            flow_id,
            form,
            binding=flow_binding(),
            meta=request_meta(),
            device_cookie=request.cookies.get(DEVICE_COOKIE),
        )
    )


MAX_PASSKEY_RESPONSE = 16 * 1024


# --- whose record (issue 10 item 5) -------------------------------------------------------------


@bp.route("/login/choose", methods=["GET", "POST"])
def choose_record() -> BaseResponse:
    """The picker: one submit button named ``patient`` per record (DESIGN.md, "Proxy access")."""
    svc = services()
    flow_id = parked_flow()
    if request.method == "GET":
        return authn_response(svc.authn.record_page(flow_id, binding=flow_binding()))
    return authn_response(
        svc.authn.record_chosen(
            flow_id,
            field(request.form, "patient", limit=64),
            binding=flow_binding(),
            meta=request_meta(),
        )
    )


def _render_choose_record(outcome: Render) -> Response:
    return Response(
        render_template(
            "login_choose_record.html",
            choices=list(outcome.fields.get("choices", [])),
            message_id=outcome.message_id,
        ),
        status=outcome.status,
    )


def _render_second_factor(outcome: Render) -> Response:
    factors = list(outcome.fields.get("factors", []))
    if factors == [PASSWORD_FACTOR]:
        return Response(
            render_template("login_passkey_password.html", message_id=outcome.message_id),
            status=outcome.status,
        )
    wanted = request.values.get("method")
    use_recovery = wanted == "recovery_code" or "totp" not in factors
    return Response(
        render_template(
            "login_second_factor.html",
            method="recovery_code" if use_recovery else "totp",
            can_toggle="totp" in factors and "recovery_code" in factors,
            has_code="totp" in factors or "recovery_code" in factors,
            webauthn_options=outcome.fields.get("webauthn_options"),
            message_id=outcome.message_id,
        ),
        status=outcome.status,
    )


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
def consent() -> BaseResponse:
    svc = services()
    interaction = svc.interactions.get(request.values.get("i"))
    if interaction is None:
        if current_session() is not None and _WELL_FORMED_ID.fullmatch(request.values.get("i", "")):
            # Consent sent twice, or Back after it: the portal already has its answer.
            return redirect(url_for("auth.home"), code=303)
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
                    scopes=[(s, translate(SCOPE_DESCRIPTIONS.get(s, s))) for s in requested],
                    interaction_id=interaction.id,
                )
            )
        decision = request.form.get("decision")
        now = svc.clock()
        meta = request_meta()
        denied = AuditEntry(
            type="consent",
            outcome="denied",
            actor=session.subject,
            subject=session.subject,
            client_id=client.client_id,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        if decision != "allow":
            uow.audit.record(denied, now=now)
            svc.interactions.finish(interaction.id)
            return _deny(interaction.params)
        uow.consents.grant(session.account_id, client.id, frozenset(requested), now=now)
        granted = replace(denied, outcome="success", details={"scope": " ".join(requested)})
        uow.audit.record(granted, now=now)
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
