"""Authlib's authorization server, fed by our protocol code (oidc/).

Two servers with the same grants, endpoints and hooks: Authlib's Flask integration
(every route) and its framework-agnostic core (:class:`WsgiAuthorizationServer`), which
idp/web/fastpath.py drives for the busiest protocol endpoints without Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.common.security import is_secure_transport
from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.authorization_server import (
    create_token_expires_in_generator,
    create_token_generator,
)
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.integrations.flask_oauth2.signals import client_authenticated, token_revoked
from authlib.oauth2.rfc6749 import AuthorizationServer as _AgnosticServer
from authlib.oauth2.rfc6749 import JsonRequest, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Response
from flask import request as flask_request
from werkzeug.wrappers import Request

from idp.oidc.context import OIDCContext
from idp.oidc.endpoints import AccessTokenValidator, IntrospectionEndpoint, RevocationEndpoint
from idp.oidc.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    OpenIDCode,
    RefreshTokenGrant,
    S256Challenge,
    save_token,
)
from idp.oidc.logout import EndSessionEndpoint
from idp.oidc.models import OAuthClient


class StoredAuthorizationRequest(OAuth2Request):  # type: ignore[misc]
    """An authorization request rebuilt from parameters we kept across login/consent.

    The browser comes back from the login page without the original query; the
    parameters were saved server-side under the interaction id, so nothing the
    browser sends on return can change what the client asked for.
    """

    def __init__(self, uri: str, params: Mapping[str, str]) -> None:
        super().__init__("GET", uri, headers={})
        self.payload = BasicOAuth2Payload(dict(params))
        self._params = dict(params)

    @property
    def args(self) -> dict[str, str]:
        return self._params

    @property
    def form(self) -> dict[str, str]:
        return {}


class _Issuer(IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


class BearerProtector(ResourceProtector):  # type: ignore[misc]
    """RFC 6750 §2.1 header, plus §2.2 form-encoded body (UserInfo by POST, OIDC Core §5.3.1).

    Authlib reads only the Authorization header. A token in the URL query (§2.3)
    stays refused: URLs end up in logs. :meth:`acquire_for` reads the Werkzeug
    request it is given (Flask's, or the one idp/web/fastpath.py builds);
    ``acquire_token`` (the JSON APIs) reads Flask's, as Authlib's Flask integration does.
    """

    def acquire_for(self, request: Request, scope: str) -> Any:
        """The valid access token of ``request`` carrying ``scope``, or OAuth2Error."""
        return self.validate_request([scope], _SourcedJsonRequest(request))

    def parse_request_authorization(self, request: Any) -> Any:
        source = getattr(request, "source", None) or flask_request
        if request.headers.get("Authorization") is None and source.method == "POST":
            if source.mimetype == "application/x-www-form-urlencoded":
                tokens = source.form.getlist("access_token")
                if len(tokens) == 1 and tokens[0]:
                    return self._token_validators["bearer"], tokens[0]
        return super().parse_request_authorization(request)


class _SourcedJsonRequest(JsonRequest):  # type: ignore[misc]
    """Authlib's resource request (as its Flask integration builds it), keeping the
    Werkzeug request it came from for the form-encoded bearer token."""

    def __init__(self, request: Request) -> None:
        super().__init__(request.method, request.url, request.headers)
        self.source = request


def _client_secret_basic(query_client: Any, request: Any) -> Any:
    """Authlib's HTTP Basic client authentication, refusing undecodable credentials.

    Authlib decodes the base64 credentials as UTF-8 without catching the error, so
    ``Authorization: Basic //79`` (bytes that are not UTF-8) or a non-ASCII header
    value was a 500.
    """
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeDecodeError, or non-ASCII text that is not base64 at all
        return None


@lru_cache(maxsize=4)
def _origin(issuer: str) -> str:
    return urlunsplit(urlsplit(issuer)[:2] + ("", "", ""))


class IssuerOAuth2Request(FlaskOAuth2Request):  # type: ignore[misc]
    """A Flask request whose URL is the issuer's origin plus the request's path.

    Authlib refuses (with an exception, a 500) any request URL that is not https or
    loopback, and builds that URL from the Host header: a client sending
    ``Host: anything`` to a plain-http loopback provider broke /token, /revoke and
    /introspect. Our issuer was checked at start (https unless loopback), so it,
    not a header, says whether the transport is secure.
    """

    def __init__(self, request: Any, issuer: str) -> None:
        origin = _origin(issuer)
        uri = origin + request.full_path.rstrip("?")
        if _origin_is_secure(origin):
            _blank_request(self, request.method, uri, request.headers)
        else:  # Authlib's constructor raises InsecureTransportError
            OAuth2Request.__init__(self, method=request.method, uri=uri, headers=request.headers)
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


@lru_cache(maxsize=4)
def _origin_is_secure(origin: str) -> bool:
    """Authlib's transport check of a request URI (``OAuth2Request.__init__``), made
    once per origin: it reads only the scheme and host, which every URI under the
    issuer's origin shares. Per request it was 6 % of an introspection's own CPU
    (``bench.endpoint_inproc --memo-token-lookup``, py-spy; issue 12)."""
    return bool(is_secure_transport(origin + "/"))


def _blank_request(request: OAuth2Request, method: str, uri: str, headers: Any) -> None:
    """What ``OAuth2Request.__init__`` sets (Authlib 1.9), without its transport check;
    tests/unit/test_oauth2_request.py compares the two."""
    request.method = method
    request.uri = uri
    request.headers = headers or {}
    request._body = None
    request.payload = None
    request.client = None
    request.auth_method = None
    request.user = None
    request.authorization_code = None
    request.refresh_token = None
    request.credential = None
    request._scope = None


class AuthorizationServer(_FlaskServer):  # type: ignore[misc]
    """Holds ``ctx`` so grants and endpoints reach our stores through ``server.ctx``."""

    ctx: OIDCContext

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return IssuerOAuth2Request(flask_request, self.ctx.issuer)


class WsgiAuthorizationServer(_AgnosticServer):  # type: ignore[misc]
    """The same grants and endpoints on Authlib's framework-agnostic server.

    For idp/web/fastpath.py, which answers the token, revocation and introspection
    endpoints without Flask's request machinery: requests are the Werkzeug request
    it built, responses are built exactly as Authlib's Flask integration builds
    them (the same Response class, the app's JSON provider), and its signals are
    sent the same way. Its ``ctx`` reaches the fast path's unit of work and request.
    """

    ctx: OIDCContext

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        dumps: Callable[[Any], str],
        query_client: Callable[[Any], Any],
        save_token: Callable[[Any, Any], Any],
    ) -> None:
        super().__init__(scopes_supported=config.get("OAUTH2_SCOPES_SUPPORTED"))
        self._dumps = dumps
        self._error_uris = config.get("OAUTH2_ERROR_URIS")
        self._query_client = query_client
        self._save_token = save_token
        # As Authlib's Flask integration builds it from the same configuration.
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                create_token_generator(config.get("OAUTH2_ACCESS_TOKEN_GENERATOR", True), 42),
                create_token_generator(config.get("OAUTH2_REFRESH_TOKEN_GENERATOR", False), 48),
                create_token_expires_in_generator(config.get("OAUTH2_TOKEN_EXPIRES_IN")),
            ),
        )

    def query_client(self, client_id: Any) -> Any:
        return self._query_client(client_id)

    def save_token(self, token: Any, request: Any) -> Any:
        return self._save_token(token, request)

    def get_error_uri(self, request: Any, error: Any) -> Any:
        if self._error_uris:
            return dict(self._error_uris).get(error.error)
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return IssuerOAuth2Request(request, self.ctx.issuer)

    def create_json_request(self, request: Any) -> JsonRequest:
        return _SourcedJsonRequest(request)

    def handle_response(self, status: int, payload: Any, headers: Any) -> Response:
        if isinstance(payload, dict):
            payload = self._dumps(payload)
        return Response(payload, status=status, headers=headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Authlib's Flask signals, sent only when someone listens (nobody does today).
        if name == "after_authenticate_client" and client_authenticated.receivers:
            client_authenticated.send(self, *args, **kwargs)
        elif name == "after_revoke_token" and token_revoked.receivers:
            token_revoked.send(self, *args, **kwargs)


def _register(server: Any, ctx: OIDCContext) -> None:
    """Everything both servers do alike: client auth, grants, endpoints, extensions."""
    server.ctx = ctx
    server.register_client_auth_method("client_secret_basic", _client_secret_basic)
    server.register_grant(
        AuthorizationCodeGrant, [OpenIDCode(server), S256Challenge(required=True)]
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    server.register_extension(_Issuer(ctx.issuer))


def _query_client(ctx: OIDCContext) -> Callable[[Any], OAuthClient | None]:
    def query_client(client_id: Any) -> OAuthClient | None:
        # NUL: from decoded HTTP Basic credentials; PostgreSQL cannot compare it.
        if not isinstance(client_id, str) or not client_id or len(client_id) > 128:
            return None
        if "\x00" in client_id:
            return None
        record = ctx.client(client_id)
        return None if record is None else OAuthClient(record)

    return query_client


def _protector(server: Any) -> BearerProtector:
    protector = BearerProtector()
    protector.register_token_validator(AccessTokenValidator(server))
    return protector


def build_server(app: Any, ctx: OIDCContext) -> tuple[AuthorizationServer, BearerProtector]:
    server = AuthorizationServer()
    server.init_app(
        app, query_client=_query_client(ctx), save_token=lambda t, r: save_token(ctx, t, r)
    )
    _register(server, ctx)
    return server, _protector(server)


def build_wsgi_server(
    app: Any, ctx: OIDCContext
) -> tuple[WsgiAuthorizationServer, BearerProtector]:
    """The fast path's server and protector; ``ctx`` is the fast path's context."""
    server = WsgiAuthorizationServer(
        app.config,
        dumps=app.json.dumps,
        query_client=_query_client(ctx),
        save_token=lambda t, r: save_token(ctx, t, r),
    )
    _register(server, ctx)
    return server, _protector(server)
