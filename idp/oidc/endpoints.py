"""Token revocation (RFC 7009), introspection (RFC 7662) and bearer validation (RFC 6750)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection

from idp.policies.proxy_scopes import cut_scopes

from .context import OIDCContext
from .models import AccessTokenView, OAuthClient, RefreshTokenView
from .tokens import token_hash


def find_access_token(
    ctx: OIDCContext, value: str, *, with_user: bool = True
) -> AccessTokenView | None:
    """A live access token; ``with_user`` also reads its account (UserInfo's claims).

    Without the account (introspection, revocation) nothing touches SQL: the token,
    its grant's and its account's revocation markers come from the ephemeral store
    in one round trip and the client from this process's cache. The account comes
    from this process's cache too while the user-data version read with the token
    holds (``idp.oidc.user_directory``).
    """
    found = ctx.access_tokens.lookup(value, now=ctx.now())
    if found is None:
        return None
    grant = found.grant
    client = ctx.client(grant.client_id)
    if client is None:
        return None
    user = None
    # A proxy token is read with its account whatever the caller: it lives only while
    # the representative's access does, judged now (revocation, majority).
    if grant.account_id is not None and (with_user or grant.acting_for is not None):
        account = ctx.account(grant.account_id, version=found.user_data_version)
        if account is None or not account.is_active:
            return None
        # A proxy token lives only while the access does (revocation, majority: at once).
        user = ctx.acting_user(account, client, grant.claims, grant.acting_for)
        if user is None:
            return None
    return AccessTokenView(value, grant, user, user_data_version=found.user_data_version)


def find_refresh_token(
    ctx: OIDCContext, value: str, *, with_user: bool = False
) -> RefreshTokenView | None:
    """A refresh token; ``with_user`` also judges its end-user now (introspection).

    With the user, a token whose account closed or whose proxy access ended reads
    as not found (inactive), as the refresh grant would refuse it.
    """
    if not value or len(value) > 512:
        return None
    record = ctx.uow().refresh_tokens.find(token_hash(value))
    if record is None:
        return None
    if not with_user:
        return RefreshTokenView(value, record, now=ctx.clock())
    account = ctx.uow().accounts.by_id(record.account_id)
    client = ctx.client(record.client_id)
    if account is None or not account.is_active or client is None:
        return None
    user = ctx.acting_user(account, client, record.claims, record.acting_for)
    if user is None:
        return None
    return RefreshTokenView(value, record, now=ctx.clock(), user=user)


def _find(
    ctx: OIDCContext, value: str, hint: str | None, *, refresh_user: bool = False
) -> AccessTokenView | RefreshTokenView | None:
    # RFC 7009 §2.1 / RFC 7662 §2.1: the hint is only a hint; search both kinds.
    if hint == "refresh_token":
        return find_refresh_token(ctx, value, with_user=refresh_user) or find_access_token(
            ctx, value, with_user=False
        )
    return find_access_token(ctx, value, with_user=False) or find_refresh_token(
        ctx, value, with_user=refresh_user
    )


class RevocationEndpoint(_Revocation):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _find(self.server.ctx, token_string, token_type_hint)

    def revoke_token(self, token: AccessTokenView | RefreshTokenView, request: Any) -> None:
        ctx: OIDCContext = self.server.ctx
        if isinstance(token, RefreshTokenView):
            # Revoking a refresh token ends its whole grant, access tokens included
            # (RFC 7009 §2.1: "SHOULD also invalidate all access tokens ... same grant").
            ctx.revoke_grant(
                token.record.family_id, reason="revoked_by_client", client_id=token.record.client_id
            )
        else:
            ctx.access_tokens.revoke(token.value)
            ctx.audit(
                "token_revoked",
                "success",
                actor=token.grant.client_id,
                subject=token.grant.subject,
                client_id=token.grant.client_id,
                details={"token_type": "access_token"},
            )


class IntrospectionEndpoint(_Introspection):  # type: ignore[misc]
    # Resource servers are confidential clients; a public client cannot introspect.
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _find(self.server.ctx, token_string, token_type_hint, refresh_user=True)

    def check_permission(self, token: Any, client: OAuthClient, request: Any) -> bool:
        """A client may introspect only tokens issued to itself.

        Practices must not learn about each other's patients by probing tokens.
        """
        return bool(token.check_client(client))

    def introspect_token(self, token: AccessTokenView | RefreshTokenView) -> dict[str, Any]:
        ctx: OIDCContext = self.server.ctx
        if isinstance(token, RefreshTokenView):
            record = token.record
            refresh: dict[str, Any] = {
                "active": True,
                "token_type": "refresh_token",
                "scope": record.scope,
                "client_id": record.client_id,
                "exp": int(record.expires_at.timestamp()),
                "iat": int(record.issued_at.timestamp()),
                "iss": ctx.issuer,
            }
            user = token.user
            if user is not None:
                refresh["sub"] = user.subject
                if user.proxy is not None:
                    # As its access tokens say: about the patient, used by the
                    # representative (`act`), with the scopes the level allows now.
                    refresh["sub"] = ctx.patient_subject(user.client, user.proxy)
                    refresh["act"] = {"sub": user.subject}
                    granted = cut_scopes(record.scope.split(), user.proxy.decision).granted
                    refresh["scope"] = " ".join(granted)
            return refresh
        grant = token.grant
        payload: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer",
            "scope": grant.scope,
            "client_id": grant.client_id,
            "exp": grant.expires_at,
            "iat": grant.issued_at,
            "iss": ctx.issuer,
        }
        if grant.subject is not None:
            # The subject as this client sees it (public or pairwise), stored with the
            # token at issue. No "username" (RFC 7662 §2.2 makes it optional): the
            # sign-in user ID is half the credential and the lockout key.
            payload["sub"] = grant.subject
        if token.user is not None and token.user.proxy is not None:
            # The token is about the patient, used by the representative: RFC 8693
            # §4.1 `act` names the actor. Both subjects as this client sees them.
            payload["sub"] = ctx.patient_subject(token.user.client, token.user.proxy)
            payload["act"] = {"sub": token.user.subject}
        return payload


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    """Bearer tokens at the UserInfo endpoint (RFC 6750)."""

    def __init__(self, holder: Any) -> None:
        super().__init__()
        self._holder = holder

    def authenticate_token(self, token_string: str) -> AccessTokenView | None:
        return find_access_token(self._holder.ctx, token_string)
