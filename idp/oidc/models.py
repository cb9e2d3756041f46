"""Adapters that give our records the methods Authlib calls.

Authlib's mixins describe what it reads; these wrap frozen records so that no
Authlib call can reach a database row.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin

from idp.records import AccountRecord, ClientRecord, ProxyAct, RefreshTokenRecord

from .tokens import AccessTokenGrant

# Endpoints where the registered authentication method is enforced. Authlib's
# "none" authenticator accepts any known client_id that sends no secret; the only
# gate is check_endpoint_auth_method, so it must be strict (stack-notes §1).
_STRICT_ENDPOINTS = {"token", "revocation", "introspection"}


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class OAuthClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, record: ClientRecord) -> None:
        self.record = record
        self.client_id = record.client_id
        self.id_token_signed_response_alg = record.id_token_signed_response_alg

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {
            "post_logout_redirect_uris": list(self.record.post_logout_redirect_uris),
            "redirect_uris": list(self.record.redirect_uris),
            "token_endpoint_auth_method": self.record.token_endpoint_auth_method,
        }

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC Core §3.1.2.1 makes redirect_uri REQUIRED: never fall back to a default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = self.record.allowed_scopes
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (security invariant 1; OAuth 2.0 Security BCP §4.1.3).
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.record.client_secret_hash
        if not stored or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(stored, secret_hash(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint in _STRICT_ENDPOINTS:
            return method == self.record.token_endpoint_auth_method
        return True

    def check_response_type(self, response_type: str) -> bool:
        # A client registered without the code grant may not ask for codes
        # (RFC 6749 §4.1.2.1 unauthorized_client); it could never redeem them anyway.
        return response_type == "code" and "authorization_code" in self.record.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


@dataclass
class EndUser:
    """The signed-in account as Authlib sees it, for one client and one request."""

    account: AccountRecord
    client: ClientRecord
    subject: str  # public or pairwise, as this client sees it
    claims_request: dict[str, list[str]] = field(default_factory=dict)
    # Set when the account signed in as a representative for a patient at the client's
    # practice (issue 10): judged at this request's moment, never stored.
    proxy: ProxyAct | None = None
    # The SSO session's ``sid`` (Back-Channel Logout §2.1) for ID tokens from a code.
    sid: str | None = None

    def get_user_id(self) -> str:
        return self.subject


class AccessTokenView(TokenMixin):  # type: ignore[misc]
    """An access token found by its value, for revocation, introspection and userinfo."""

    kind = "access_token"

    def __init__(
        self,
        value: str,
        grant: AccessTokenGrant,
        user: EndUser | None,
        *,
        user_data_version: str | None = None,
    ) -> None:
        self.value = value
        self.grant = grant
        self.user = user
        self.scope = grant.scope
        # Read with the token: which cached user data is still current (UserInfo).
        self.user_data_version = user_data_version

    def check_client(self, client: OAuthClient) -> bool:
        return client.client_id == self.grant.client_id

    def get_scope(self) -> str:
        return self.grant.scope

    def get_expires_in(self) -> int:
        return self.grant.expires_at - self.grant.issued_at

    def is_expired(self) -> bool:
        return False  # find() returns live tokens only

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> EndUser | None:
        return self.user

    def get_client(self) -> OAuthClient | None:
        return OAuthClient(self.user.client) if self.user else None


class RefreshTokenView(TokenMixin):  # type: ignore[misc]
    kind = "refresh_token"

    def __init__(
        self, value: str, record: RefreshTokenRecord, *, now: datetime, user: EndUser | None = None
    ) -> None:
        self.value = value
        self.record = record
        self._now = now
        # Read for introspection: whose token it is, and for a proxy family, the
        # representative's access judged now (None for revocation, which needs neither).
        self.user = user

    def check_client(self, client: OAuthClient) -> bool:
        return client.client_id == self.record.client_id

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return int((self.record.expires_at - self.record.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.record.expires_at <= self._now

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None or self.record.rotated_at is not None
