"""Protocol endpoints: discovery, JWKS, authorize, token, userinfo, revoke, introspect, logout.

Thin: parse, call the protocol code, render. The authorization endpoint decides
between login, consent and issuing (oidc/interaction.py) and keeps the request
server-side while the patient signs in.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError
from flask import Blueprint, Response, current_app, jsonify, redirect, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.wrappers import Response as BaseResponse

from idp.flows.authn.flow import Entry, SignedIn
from idp.flows.base import Done, Redirect
from idp.oidc.claims import (
    ClaimsRequestError,
    parse_claims_request,
)
from idp.oidc.discovery import discovery_document
from idp.oidc.documents import json_document
from idp.oidc.interaction import Decision, InteractionFacts, Step, decide_interaction
from idp.oidc.models import EndUser
from idp.oidc.params import describe, response_type_syntax_ok, scope_syntax_ok
from idp.oidc.subject import subject_for
from idp.policies.assurance import second_factor_requested
from idp.records import ClientRecord
from idp.store.interactions import Interaction
from idp.store.sessions import SSOSession

from . import protocol_answers as answers
from .auth import park
from .deps import current_session, find_client, read_only_request, request_uow, services
from .documents import document_response
from .errors import error_page
from .security import flow_binding
from .server import AuthorizationServer, StoredAuthorizationRequest
from .session_issuer import remember_record

bp = Blueprint("oidc", __name__)

# Longest value accepted for any authorization parameter; real ones are far shorter.
MAX_PARAM_LENGTH = 2048
MAX_PARAMS = 40
# C0 controls other than tab, CR and LF (which pretty-printed claims JSON may hold), and DEL.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _server() -> AuthorizationServer:
    return current_app.extensions["idp_server"]  # type: ignore[no-any-return]


# Where the built discovery document is kept (idp/web/prebuilt.py serves it from there too).
DISCOVERY_KEY = "idp_discovery"


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    """Prebuilt bytes: the document depends only on the issuer and the routes."""
    cached = current_app.extensions.get(DISCOVERY_KEY)
    if cached is None:
        issuer = services().settings.issuer

        def url(endpoint: str) -> str:
            return issuer + url_for(endpoint)

        doc = discovery_document(
            issuer,
            {
                "authorization": url("oidc.authorize"),
                "token": url("oidc.token"),
                "userinfo": url("oidc.userinfo"),
                "jwks": url("oidc.jwks"),
                "revocation": url("oidc.revoke"),
                "introspection": url("oidc.introspect"),
                "end_session": url("oidc.end_session"),
            },
        )
        cached = current_app.extensions[DISCOVERY_KEY] = json_document(doc)
    return document_response(cached)


@bp.get("/jwks.json")
def jwks() -> Response:
    # The bytes are rebuilt only when the published keys change (KeyRing.jwks_document).
    return document_response(services().keys.jwks_document())


# --- authorization endpoint ----------------------------------------------------------------


class _PageError(Exception):
    """An error that must be shown to the user, never redirected (RFC 6749 §4.1.2.1)."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id


def _single_params() -> dict[str, str]:
    """Request parameters as a flat dict; repeated or oversized ones are refused."""
    values = request.values
    if len(values) > MAX_PARAMS:
        raise _PageError("too_many_parameters")
    params: dict[str, str] = {}
    for key in values:
        items = values.getlist(key)
        if len(items) > 1:
            # RFC 6749 §3.1: parameters MUST NOT be included more than once.
            params["__repeated__"] = key
        value = items[0]
        if len(value) > MAX_PARAM_LENGTH or len(key) > 64:
            raise _PageError("parameter_too_long")
        params[key] = value
    return params


def _client_and_redirect(params: dict[str, str]) -> ClientRecord:
    """Validate client and redirect URI first: until both hold, nothing may redirect."""
    client_id = params.get("client_id")
    if not client_id:
        raise _PageError("missing_client_id")
    client = find_client(client_id)
    if client is None:
        raise _PageError("unknown_client")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise _PageError("missing_redirect_uri")
    if redirect_uri not in client.redirect_uris:
        raise _PageError("unregistered_redirect_uri")
    if params.get("__repeated__") in ("client_id", "redirect_uri"):
        raise _PageError("repeated_parameter")
    return client


def _redirect_error(params: dict[str, str], error: OAuth2Error) -> Response:
    error.redirect_uri = params["redirect_uri"]
    error.state = params.get("state")
    response: Response = _server().handle_error_response(None, error)
    location = response.headers.get("Location")
    if location:
        response.headers["Location"] = add_params_to_uri(
            location, {"iss": services().settings.issuer}
        )
    return response


def _oauth_error(code: str, description: str) -> OAuth2Error:
    err = OAuth2Error(description=description)
    err.error = code
    return err


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> BaseResponse:
    try:
        params = _single_params()
        client = _client_and_redirect(params)
    except _PageError as exc:
        return error_page(exc.message_id, status=400)
    return _authorize(client, params, interaction=None)


@bp.get("/authorize/resume")
def resume() -> BaseResponse:
    """Back from the login or consent page: continue the saved request."""
    svc = services()
    interaction = svc.interactions.get(request.args.get("i"))
    if interaction is None:
        return error_page("interaction_expired", status=400)
    client = find_client(interaction.client_id)
    if client is None:
        return error_page("unknown_client", status=400)
    return _authorize(client, interaction.params, interaction=interaction)


def _verify_hint(hint: str, client: ClientRecord) -> str:
    """Return the ``sub`` of an id_token_hint we issued; expiry is not checked (§3.1.2.1)."""
    keys = services().keys.verification_keys()
    try:
        token = jwt.decode(hint, keys, algorithms=["RS256", "ES256"])
    except (JoseError, ValueError) as exc:
        raise InvalidRequestError("id_token_hint is not a valid ID token from this issuer") from exc
    claims = token.claims
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    if claims.get("iss") != services().settings.issuer or client.client_id not in audiences:
        raise InvalidRequestError("id_token_hint was not issued to this client")
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise InvalidRequestError("id_token_hint has no subject")
    return sub


def _parse_max_age(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # "٣".isdigit() is True
        raise InvalidRequestError("max_age must be a non-negative integer")
    return int(raw)


def _authorize(
    client: ClientRecord, params: dict[str, str], *, interaction: Interaction | None
) -> BaseResponse:
    svc = services()
    server = _server()
    now = int(svc.clock().timestamp())
    try:
        if "__repeated__" in params:
            raise InvalidRequestError(describe(f"parameter {params['__repeated__']} repeated"))
        if not params.get("response_type"):
            # RFC 6749 §4.1.2.1: a missing required parameter is invalid_request
            # (Authlib would answer unsupported_response_type).
            raise InvalidRequestError("response_type is required")
        if not response_type_syntax_ok(params["response_type"]):
            raise InvalidRequestError("response_type is not a list of RFC 6749 response names")
        for key, value in params.items():
            if _CONTROL_CHARS.search(value):
                raise InvalidRequestError(describe(f"parameter {key} contains control characters"))
        if not scope_syntax_ok(params.get("scope")):
            raise InvalidScopeError("scope is not a list of RFC 6749 scope tokens")
        if "request" in params:
            raise _oauth_error("request_not_supported", "request objects are not supported")
        if "request_uri" in params:
            raise _oauth_error("request_uri_not_supported", "request_uri is not supported")
        claims_request = parse_claims_request(params.get("claims"))
        max_age = _parse_max_age(params.get("max_age"))
        hint_sub = (
            _verify_hint(params["id_token_hint"], client) if params.get("id_token_hint") else None
        )
    except ClaimsRequestError as exc:
        return _redirect_error(params, InvalidRequestError(str(exc)))
    except OAuth2Error as exc:
        return _redirect_error(params, exc)

    uri = svc.settings.issuer + url_for("oidc.authorize")
    oauth_request = StoredAuthorizationRequest(uri, params)
    session = current_session()
    account = None
    # Whether the account is staff, read with it (one statement; issue 12 item 3), on
    # the primary outside the request's transaction: no BEGIN/COMMIT for a request
    # whose only durable work is this read (resume after a sign-in).
    staff = False
    if session is not None:
        with svc.db.primary_reader() as reader:
            found = reader.accounts.with_staff_flag(session.account_id)
        account, staff = found if found is not None else (None, False)
        if account is None or not account.is_active:
            session, account = None, None
    end_user = svc_end_user(client, account, claims_request)

    try:
        # Authlib validates response_type, scope, PKCE, nonce and prompt here.
        grant = server.get_consent_grant(request=oauth_request, end_user=end_user)
    except OAuth2Error as exc:
        return _redirect_error(params, exc)

    requested = frozenset((grant.request.scope or "").split())
    # A first-party client is never asked for consent (decide_interaction), so what the
    # patient granted it is not read (one SELECT less per sign-in; issue 12 item 3).
    granted: frozenset[str] = frozenset()
    if account and not client.first_party:
        with svc.db.primary_reader() as reader:
            granted = reader.consents.granted_scopes(account.id, client.id)
    login_done = bool(interaction and session and interaction.login_session == session.key)
    hint_matches = None
    if hint_sub is not None and account is not None:
        hint_matches = hint_sub == subject_for(
            client, account.subject, salt=svc.keys.pairwise_salt()
        )
    decision: Decision = decide_interaction(
        InteractionFacts(
            prompt=frozenset((params.get("prompt") or "").split()),
            max_age=max_age,
            signed_in=session is not None,
            auth_time=session.auth_time if session else None,
            login_done=login_done,
            hint_matches=hint_matches,
            first_party=client.first_party,
            requested_scopes=requested,
            granted_scopes=granted,
            consent_done=bool(interaction and interaction.consent_done),
            needs_second_factor=session is not None
            and "mfa" not in session.amr
            and (
                client.mfa_required
                or second_factor_requested(params.get("acr_values"))
                # Staff accounts always sign in with a second factor (issue 9 item 7).
                or (account is not None and staff)
            ),
        ),
        now,
    )
    if decision.step is Step.ERROR:
        return _redirect_error(params, _oauth_error(decision.error or "invalid_request", ""))
    if decision.step is not Step.LOGIN and client.portal is not None:
        assert session is not None and account is not None and end_user is not None
        asked = _whose_record(client, params, session, end_user, interaction, now)
        if asked is not None:
            return asked
    if decision.step in (Step.LOGIN, Step.CONSENT):
        if interaction is None:
            interaction = svc.interactions.start(client_id=client.client_id, params=params, now=now)
        target = "auth.login" if decision.step is Step.LOGIN else "auth.consent"
        return redirect(url_for(target, i=interaction.id), code=303)

    # Issue: the interaction (if any) is used up, so its resume link cannot mint a second code.
    if interaction is not None:
        finished = svc.interactions.finish(interaction.id)
        if finished is None:
            return error_page("interaction_expired", status=400)
        # Should issuing fail (a 503), the browser's retry finds its sign-in again.
        request_uow().on_rollback(lambda: svc.interactions.save(finished))
    assert session is not None and end_user is not None
    oauth_request.auth_time = session.auth_time
    oauth_request.amr = list(session.amr)
    oauth_request.acr = session.acr
    oauth_request.session_key = session.key
    response: Response = server.create_authorization_response(
        request=oauth_request, grant_user=end_user, grant=grant
    )
    return response


def _whose_record(
    client: ClientRecord,
    params: dict[str, str],
    session: SSOSession,
    end_user: EndUser,
    interaction: Interaction | None,
    now: int,
) -> BaseResponse | None:
    """Whose record the session opens at the client's practice (issue 10 item 5).

    The session's answer for this practice is used while the proxy policy still allows
    it *now*; otherwise, or with ``prompt=select_account`` (once per request), the
    authentication flow asks (its CHOOSE_RECORD state), or answers itself when there is
    one choice or none. Returns the response that asks, or None to go on, with
    ``end_user.proxy`` set when acting for someone else.
    """
    svc = services()
    ctx = _server().ctx
    assert client.portal is not None
    portal_id = client.portal.id
    prompt = frozenset((params.get("prompt") or "").split())
    reopen = "select_account" in prompt and not (interaction and interaction.record_chosen)
    stored = None if reopen else svc.sessions.chosen_record(session, portal_id)
    if stored is not None and _acting(ctx, client, end_user, stored):
        return None
    if interaction is None:
        interaction = svc.interactions.start(client_id=client.client_id, params=params, now=now)
    outcome = svc.authn.choose_record(
        Entry(binding=flow_binding(), interaction_id=interaction.id),
        session=SignedIn(
            account_id=session.account_id,
            subject=session.subject,
            amr=session.amr,
            acr=session.acr,
            auth_time=session.auth_time,
        ),
        portal_id=portal_id,
    )
    if isinstance(outcome, Done):
        result = outcome.result.result
        if remember_record(result) and _acting(ctx, client, end_user, result.acting_for or "self"):
            return None
        return error_page("choose_record_expired", status=400)
    if "none" in prompt:
        # OIDC Core §3.1.2.6: the End-User must choose, and may not be asked.
        return _redirect_error(params, _oauth_error("account_selection_required", ""))
    if isinstance(outcome, Redirect):
        return park(outcome.url)
    return error_page(outcome.message_id or "choose_record_expired", status=outcome.status)


def _acting(ctx: Any, client: ClientRecord, end_user: EndUser, choice: str) -> bool:
    """Apply a kept choice ("self" or "person:<id>"); False when it no longer holds."""
    if choice == "self":
        return True
    kind, _, raw = choice.partition(":")
    if kind != "person" or not raw.isdigit():
        return False
    user = ctx.acting_user(end_user.account, client, end_user.claims_request, int(raw))
    if user is None:
        return False
    end_user.proxy = user.proxy
    return True


def svc_end_user(client: ClientRecord, account: Any, claims_request: dict[str, list[str]]) -> Any:
    if account is None:
        return None
    return _server().ctx.end_user(account, client, claims_request)


# --- token, userinfo, revocation, introspection --------------------------------------------
# The answers live in protocol_answers.py, shared with the fast path before Flask
# (fastpath.py), which answers most of these requests; these routes answer the rest.


@bp.post("/token")
def token() -> BaseResponse:
    return answers.token_response(_server(), request)


@bp.route("/userinfo", methods=["GET", "POST"])
@read_only_request
def userinfo() -> BaseResponse:
    protector = current_app.extensions["idp_resource_protector"]
    return answers.userinfo_response(_server().ctx, protector, request, jsonify)


@bp.post("/revoke")
def revoke() -> BaseResponse:
    return answers.endpoint_response(_server(), "revocation", request)


@bp.post("/introspect")
@read_only_request
def introspect() -> BaseResponse:
    return answers.endpoint_response(_server(), "introspection", request)


@bp.route("/logout", methods=["GET", "POST"])
def end_session() -> Response:
    from .logout import end_session_view

    return end_session_view(_server())


@bp.get("/logout/status/<notice>")
def logout_status(notice: str) -> Response:
    """Which portals have confirmed a sign-out (Back-Channel Logout), by notice id."""
    from .logout import logout_status_view

    return logout_status_view(notice)


def init_oidc(app: Any, server: AuthorizationServer, protector: Any) -> None:
    app.extensions["idp_server"] = server
    app.extensions["idp_resource_protector"] = protector
    from .security import csrf

    # Protocol endpoints are called by relying parties (cross-site POSTs by design)
    # and authenticate clients instead; the logout confirmation checks CSRF itself.
    csrf.exempt(bp)
    app.register_blueprint(bp)
