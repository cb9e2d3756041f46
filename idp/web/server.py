"""Authlib's Flask authorization server, fed by our protocol code (oidc/)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import request as flask_request

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
    stays refused: URLs end up in logs.
    """

    def parse_request_authorization(self, request: Any) -> Any:
        if request.headers.get("Authorization") is None and flask_request.method == "POST":
            if flask_request.mimetype == "application/x-www-form-urlencoded":
                tokens = flask_request.form.getlist("access_token")
                if len(tokens) == 1 and tokens[0]:
                    return self._token_validators["bearer"], tokens[0]
        return super().parse_request_authorization(request)


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


class IssuerOAuth2Request(FlaskOAuth2Request):  # type: ignore[misc]
    """A Flask request whose URL is the issuer's origin plus the request's path.

    Authlib refuses (with an exception, a 500) any request URL that is not https or
    loopback, and builds that URL from the Host header: a client sending
    ``Host: anything`` to a plain-http loopback provider broke /token, /revoke and
    /introspect. Our issuer was checked at start (https unless loopback), so it,
    not a header, says whether the transport is secure.
    """

    def __init__(self, request: Any, issuer: str) -> None:
        origin = urlunsplit(urlsplit(issuer)[:2] + ("", "", ""))
        OAuth2Request.__init__(
            self,
            method=request.method,
            uri=origin + request.full_path.rstrip("?"),
            headers=request.headers,
        )
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class AuthorizationServer(_FlaskServer):  # type: ignore[misc]
    """Holds ``ctx`` so grants and endpoints reach our stores through ``server.ctx``."""

    ctx: OIDCContext

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return IssuerOAuth2Request(flask_request, self.ctx.issuer)


def build_server(app: Any, ctx: OIDCContext) -> tuple[AuthorizationServer, ResourceProtector]:
    def query_client(client_id: Any) -> OAuthClient | None:
        # NUL: from decoded HTTP Basic credentials; PostgreSQL cannot compare it.
        if not isinstance(client_id, str) or not client_id or len(client_id) > 128:
            return None
        if "\x00" in client_id:
            return None
        record = ctx.client(client_id)
        return None if record is None else OAuthClient(record)

    server = AuthorizationServer()
    server.ctx = ctx
    server.init_app(app, query_client=query_client, save_token=lambda t, r: save_token(ctx, t, r))
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

    protector = BearerProtector()
    protector.register_token_validator(AccessTokenValidator(server))
    return server, protector
