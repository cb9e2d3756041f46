"""The answers of the token, revocation, introspection and UserInfo endpoints, for
any Werkzeug request.

Two callers answer these endpoints: the Flask routes (idp/web/oidc.py) and, for the
requests nothing else in Flask could answer differently, the fast path before Flask
(idp/web/fastpath.py). Both call these functions with their own request, Authlib
server and JSON response maker, so that what they check and answer cannot drift
apart; only the framework glue differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from werkzeug.wrappers import Request, Response

from idp.oidc.claims import PATIENT_CLAIM, PROXY_CLAIM, account_claims, select_claims
from idp.oidc.context import OIDCContext
from idp.oidc.params import describe

JsonResponse = Callable[..., Response]


def form_problem(request: Request, *, required: tuple[str, ...] = ()) -> str | None:
    """Why a client-to-server POST is malformed (RFC 6749 §3.2; RFC 7009 §2.1; RFC 7662 §2.1)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return "send the parameters as application/x-www-form-urlencoded"
    for key in request.form:
        if len(request.form.getlist(key)) > 1:
            return describe(f"parameter {key[:64]} repeated")
    for key in required:
        if not request.form.get(key):
            return f"{key} is required"
    if len(client_credentials_sent(request)) > 1:
        # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method
        # in each request." Authlib would pick one and ignore the other.
        return "the client authenticated in more than one way (RFC 6749 section 2.3)"
    return None


def client_credentials_sent(request: Request) -> list[str]:
    """The ways this request tries to authenticate a client (``client_id`` alone is none)."""
    ways = []
    if request.headers.get("Authorization") is not None:
        ways.append("authorization_header")
    if "client_secret" in request.form:
        ways.append("client_secret")
    if "client_assertion" in request.form or "client_assertion_type" in request.form:
        ways.append("client_assertion")
    return ways


def invalid_request(server: Any, description: str) -> Response:
    return server.handle_error_response(None, InvalidRequestError(description))  # type: ignore[no-any-return]


def token_response(server: Any, request: Request) -> Response:
    """POST /token: every grant type, through Authlib."""
    problem = form_problem(request, required=("grant_type",))
    if problem:
        # Authlib would call a missing grant_type unsupported_grant_type.
        return invalid_request(server, problem)
    return server.create_token_response(request)  # type: ignore[no-any-return]


def endpoint_response(server: Any, name: str, request: Request) -> Response:
    """POST /revoke ("revocation") and POST /introspect ("introspection")."""
    problem = form_problem(request)
    if problem:
        return invalid_request(server, problem)
    return server.create_endpoint_response(name, request)  # type: ignore[no-any-return]


def userinfo_response(
    ctx: OIDCContext, protector: Any, request: Request, json_response: JsonResponse
) -> Response:
    """GET or POST /userinfo (OIDC Core §5.3): the claims the token's scope allows."""
    try:
        access = protector.acquire_for(request, "openid")
        user = access.get_user()
        if user is None:
            # A client credentials token speaks for no end-user (RFC 6750 §3.1).
            raise InvalidTokenError(description="the access token was not issued for a user")
    except OAuth2Error as exc:
        return bearer_error(exc, json_response)
    claims = {"sub": user.subject}
    claims.update(
        select_claims(
            account_claims(user.account),
            scope=access.get_scope(),
            requested=user.claims_request.get("userinfo"),
        )
    )
    if user.proxy is not None:
        # A proxy session: the representative's claims, the chosen patient's MRN.
        claims[PATIENT_CLAIM] = user.proxy.patient_id
        claims[PROXY_CLAIM] = {"relationship": user.proxy.relationship, "level": user.proxy.level}
        return json_response(claims)
    # Current at each call: an ended link stops showing at once (issue 5). Cached in
    # this process while the user-data version read with the token holds.
    patient = ctx.patient_identifier(user.account.id, user.client, version=access.user_data_version)
    if patient is not None:
        claims[PATIENT_CLAIM] = patient
    return json_response(claims)


def bearer_error(exc: OAuth2Error, json_response: JsonResponse) -> Response:
    """A UserInfo error as RFC 6750 §3 words it."""
    if exc.error == "missing_authorization":
        # §3.1: a request without credentials gets the challenge, but no error code.
        response = json_response({"error_description": "send the access token as a Bearer token"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    response = json_response(dict(exc.get_body()))
    response.status_code = exc.status_code
    for name, value in exc.get_headers():
        if name.lower() == "www-authenticate":
            scheme, _, rest = value.partition(" ")
            value = f"Bearer {rest}" if scheme.lower() == "bearer" else value
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
