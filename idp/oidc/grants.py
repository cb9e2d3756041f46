"""Authlib grants wired to our stores (RFC 6749 §4.1, §4.4, §6; RFC 7636; OIDC Core §3.1).

Authlib creates a grant object per request with ``(request, server)``; the
server carries our :class:`~idp.oidc.context.OIDCContext` as ``server.ctx``.
Behaviours Authlib leaves to us (stack-notes §1) are closed here:
codes expire and are taken atomically, replay revokes, PKCE S256 is required
for every client, refresh tokens rotate with reuse detection.

A practice's client also learns which of its patients signed in: the ID token
carries ``patient_id`` and, when ``launch/patient`` is granted, the token response
carries SMART's ``patient`` (:func:`add_launch_context`). Both are read from the
account's active link to that client's practice at issue time, never stored in a
token, so an ended link stops them at the next token.

A representative acting for a patient (issue 10; docs/protocol.md, "Proxy sessions")
gets the patient's MRN instead, a ``proxy`` claim, and scopes cut to the level the
proxy policy gives at the moment of each token (:class:`ProxyScopes`); when the access
has ended, the code or refresh token is refused with ``invalid_grant``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode as _OpenIDCode
from joserfc.jwk import KeySet

from idp.policies.proxy_scopes import cut_scopes
from idp.records import AccountRecord

from .backchannel import refresh_token_sid, session_sid
from .claims import (
    LAUNCH_PATIENT,
    PATIENT_CLAIM,
    PROXY_CLAIM,
    account_claims,
    patient_identifier,
    select_claims,
)
from .context import OIDCContext
from .models import EndUser, OAuthClient, RefreshTokenView
from .params import scope_syntax_ok
from .tokens import AccessTokenGrant, CodeGrant, token_hash

ALL_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


def _ctx(grant: Any) -> OIDCContext:
    return grant.server.ctx  # type: ignore[no-any-return]


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 for every client; ``plain`` refused (SMART App Launch 2.2; ASVS 10.4.6).

    Authlib alone enforces the verifier only for public clients and accepts
    ``plain``; the only exception is a client registered with PKCE optional
    (the OpenID conformance suite's certification client).
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        client: OAuthClient = grant.request.client
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge and not method and not client.record.pkce_required:
            return
        if not challenge:
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCode(_OpenIDCode):  # type: ignore[misc]
    """ID tokens for the code flow (OIDC Core §3.1.3.6, §2)."""

    def __init__(self, ctx_holder: Any) -> None:
        super().__init__(require_nonce=False)
        self._holder = ctx_holder

    @property
    def ctx(self) -> OIDCContext:
        return self._holder.ctx  # type: ignore[no-any-return]

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # Read-only: Authlib calls this on every validation of the same request
        # (consent GET and POST); the nonce is recorded when the code is saved.
        return self.ctx.codes.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: OAuthClient) -> KeySet:
        return self.ctx.keys.private_key_set(client.record.id_token_signed_response_alg)

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return client.record.id_token_signed_response_alg

    def get_encode_header(self, client: OAuthClient) -> dict[str, str]:
        alg = client.record.id_token_signed_response_alg
        return {"alg": alg, "kid": self.ctx.keys.signing_key(alg).kid, "typ": "JWT"}

    def get_client_claims(self, client: OAuthClient) -> dict[str, Any]:
        # The provider's clock, like auth_time and every other lifetime here.
        now = self.ctx.now()
        return {
            "iss": self.ctx.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.ctx.lifetimes.id_token,
        }

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        """The ID token carries ``sub`` plus claims asked for by ``claims.id_token``.

        With the code flow the profile, email, phone and address claims come from
        the UserInfo endpoint (OIDC Core §5.4), which keeps the token that travels
        through browsers (id_token_hint) free of personal data. The one addition is
        ``patient_id``: the client's own practice's number for this patient, which
        that practice already holds.
        """
        claims: dict[str, Any] = {"sub": user.subject}
        wanted = user.claims_request.get("id_token")
        if wanted:
            claims.update(select_claims(account_claims(user.account), scope="", requested=wanted))
        if user.proxy is not None:
            # A proxy session: `sub` stays the representative; the patient is named by
            # the practice's own MRN, and how by the `proxy` claim (docs/protocol.md).
            claims[PATIENT_CLAIM] = user.proxy.patient_id
            claims[PROXY_CLAIM] = {
                "relationship": user.proxy.relationship,
                "level": user.proxy.level,
            }
            if user.proxy.related_person:
                # SMART: fhirUser names the user's own FHIR resource (standards.md row 27).
                claims["fhirUser"] = f"RelatedPerson/{user.proxy.related_person}"
            return claims
        patient = patient_identifier(self.ctx.uow().portal_links, user.account.id, user.client)
        if patient is not None:
            claims[PATIENT_CLAIM] = patient
        if user.sid is not None:
            claims["sid"] = user.sid
        return claims


def add_launch_context(grant: Any, response: tuple[int, dict[str, Any], Any]) -> None:
    """SMART App Launch 2.2 launch context: ``patient`` beside the access token.

    Sent when the granted scope holds ``launch/patient`` and the account has an
    active link to the client's practice; without one the sign-in still succeeds and
    ``patient`` is left out (docs/protocol.md). Runs after the token is created
    (Authlib's ``after_create_token_response`` hook), for codes and refreshes alike.
    """
    _, token, _ = response
    user: EndUser | None = grant.request.user
    if user is None or LAUNCH_PATIENT not in str(token.get("scope") or "").split():
        return
    if user.proxy is not None:
        token["patient"] = user.proxy.patient_id
        return
    patient = patient_identifier(_ctx(grant).uow().portal_links, user.account.id, user.client)
    if patient is not None:
        token["patient"] = patient


class ProxyScopes:
    """Cut a proxy token's scopes to the level the policy gives now (issue 10 item 6).

    Mixed into both grants that issue for an end-user. The code and the refresh token
    keep what the patient's representative consented to; each token gets that list cut
    by :func:`idp.policies.proxy_scopes.cut_scopes` (a limited teen loses
    ``patient/Observation.rs`` and the like), in ``scope`` of the response too, so a
    later level (full access co-signed) restores them at the next refresh.
    """

    request: Any

    def generate_token(self, user: Any = None, scope: str | None = None, **kw: Any) -> Any:
        if isinstance(user, EndUser) and user.proxy is not None:
            self.request.consented_scope = scope or ""
            scope = " ".join(cut_scopes((scope or "").split(), user.proxy.decision).granted)
        return super().generate_token(user=user, scope=scope, **kw)  # type: ignore[misc]


def proxy_ended() -> InvalidGrantError:
    """The representative may no longer act for the patient (RFC 6749 §5.2)."""
    return InvalidGrantError("the proxy access for this patient has ended")


# Bytes of randomness in an authorization code: base64url makes 48 characters of them.
AUTHORIZATION_CODE_BYTES = 36


class AuthorizationCodeGrant(ProxyScopes, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH

    def __init__(self, request: Any, server: Any) -> None:
        super().__init__(request, server)
        self.register_hook("after_create_token_response", add_launch_context)

    def generate_authorization_code(self) -> str:
        """48 characters from the OS's CSPRNG (288 bits), as Authlib's 48 letters and
        digits (285 bits), in 2 microseconds instead of its 190: Authlib draws each
        character with ``SystemRandom().choice`` (issue 12 item 3, 1-2 % of a sign-in's
        CPU outside the hash). URL-safe, so the redirect carries it unchanged."""
        return secrets.token_urlsafe(AUTHORIZATION_CODE_BYTES)

    def save_authorization_code(self, code: str, request: Any) -> None:
        ctx = _ctx(self)
        user: EndUser = request.user
        data = request.payload.data
        nonce = data.get("nonce")
        grant = CodeGrant(
            grant_id=secrets.token_urlsafe(16),
            client_id=request.client.client_id,
            account_id=user.account.id,
            subject=user.account.subject,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            auth_time=int(getattr(request, "auth_time", None) or ctx.now()),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            nonce=nonce,
            claims=user.claims_request,
            amr=list(getattr(request, "amr", None) or ["pwd"]),
            acr=getattr(request, "acr", None),
            session_key=getattr(request, "session_key", None),
            expires_at=ctx.now() + ctx.lifetimes.code,
            acting_for=user.proxy.person_id if user.proxy is not None else None,
        )
        ctx.codes.save(code, grant)
        if user.proxy is not None:
            # Issue 10 item 9: a proxy sign-in names the representative and the patient.
            ctx.audit(
                "proxy_signin",
                "success",
                actor=user.account.subject,
                subject=user.proxy.audit_subject,
                client_id=grant.client_id,
                details=proxy_details(user),
            )
        if grant.session_key and ctx.sessions is not None:
            # This session now has a portal to tell when it ends (back-channel logout).
            ctx.sessions.note_client(grant.session_key, grant.client_id)
        if nonce:
            ctx.codes.remember_nonce(grant.client_id, nonce)
        portal = request.client.record.portal
        if portal is not None:
            # "Last sign-in" on the My portals page: a code issued to the practice's client.
            ctx.uow().portal_links.touch_signin(user.account.id, portal.id, ctx.clock())

    def query_authorization_code(self, code: str, client: OAuthClient) -> CodeGrant | None:
        ctx = _ctx(self)
        if not isinstance(code, str) or not code or len(code) > 512:
            return None
        grant = ctx.codes.redeem(code)
        if grant is not None:
            taken = grant
            # Should this request fail (a 5xx: the database or Redis went away), the
            # client's retry must find the code, not a replay that revokes the grant.
            ctx.uow().on_rollback(lambda: ctx.codes.restore(code, taken, now=ctx.now()))
        if grant is None:
            replayed = ctx.codes.replayed_grant(code)
            if replayed:
                # RFC 6749 §4.1.2: a code used twice SHOULD revoke what it issued.
                ctx.revoke_grant(replayed, reason="code_replayed", client_id=client.client_id)
            return None
        if grant.client_id != client.client_id:
            ctx.revoke_grant(grant.grant_id, reason="code_wrong_client", client_id=client.client_id)
            return None
        if grant.is_expired(ctx.now()):
            # Authlib never checks code expiry (stack-notes §1); the store's TTL is
            # only housekeeping.
            return None
        return grant

    def delete_authorization_code(self, authorization_code: CodeGrant) -> None:
        """Nothing to do: :meth:`query_authorization_code` already took it."""

    def authenticate_user(self, authorization_code: CodeGrant) -> EndUser | None:
        ctx = _ctx(self)
        uow = ctx.uow()
        account = uow.accounts.by_id(authorization_code.account_id)
        if account is None or not account.is_active:
            return None
        client: OAuthClient = self.request.client
        user = ctx.acting_user(
            account, client.record, authorization_code.claims, authorization_code.acting_for
        )
        if user is None:
            raise proxy_ended()
        if authorization_code.session_key:
            user.sid = session_sid(authorization_code.session_key)
        return user


class RefreshTokenGrant(ProxyScopes, grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def __init__(self, request: Any, server: Any) -> None:
        super().__init__(request, server)
        self.register_hook("after_create_token_response", add_launch_context)
        # The refresh token's account, read with the token (find_with_account).
        self._account: AccountRecord | None = None

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshTokenView | None:
        ctx = _ctx(self)
        if not isinstance(refresh_token, str) or len(refresh_token) > 512:
            return None
        uow = ctx.uow()
        now = ctx.clock()
        tokens = uow.refresh_tokens
        # The token and its account, and the token claimed for rotation, in one
        # statement (issue 12); authenticate_user uses the account. Claiming first
        # means every refusal below gives the claim back (nothing else is changed).
        found = tokens.claim_with_account(token_hash(refresh_token), now=now)
        client: OAuthClient = self.request.client
        if found is None:
            return None
        record, self._account, claimed = found
        refused = (
            record.client_id != client.client_id
            or record.revoked_at is not None
            or record.expires_at <= now
            or record.family_revoked
        )
        requested = self.request.payload.scope
        too_wide = bool(requested) and not set(requested.split()) <= set(record.scope.split())
        if refused or too_wide:
            if claimed:
                tokens.unclaim(record.id)
            # Too wide a scope: Authlib answers invalid_scope, the token not burnt.
            return None if refused else RefreshTokenView(refresh_token, record, now=now)
        # Exactly one refresh claims a live token; losing means it was used before.
        if record.rotated_at is not None or not claimed:
            ctx.revoke_grant(
                record.family_id, reason="refresh_token_reused", client_id=client.client_id
            )
            return None
        return RefreshTokenView(refresh_token, record, now=now)

    def authenticate_user(self, refresh_token: RefreshTokenView) -> EndUser | None:
        ctx = _ctx(self)
        account = self._account
        if account is None or account.id != refresh_token.record.account_id:
            account = ctx.uow().accounts.by_id(refresh_token.record.account_id)
        if account is None or not account.is_active:
            # The grant is no longer valid (RFC 6749 §5.2); Authlib would answer
            # invalid_request for a missing user.
            raise InvalidGrantError("the account is no longer active")
        client: OAuthClient = self.request.client
        record = refresh_token.record
        user = ctx.acting_user(account, client.record, record.claims, record.acting_for)
        if user is None:
            # After the patient's majority, a revocation or an expiry: no more tokens.
            raise proxy_ended()
        return user

    def revoke_old_credential(self, refresh_token: RefreshTokenView) -> None:
        """Already marked rotated in :meth:`authenticate_refresh_token`."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        if not scope_syntax_ok(self.request.payload.scope):
            # Malformed scope (RFC 6749 §5.2): refused, not silently narrowed to nothing.
            raise InvalidScopeError("scope is not a list of RFC 6749 scope tokens")
        super().validate_token_request()


def save_token(ctx: OIDCContext, token: dict[str, Any], request: Any) -> None:
    """Persist what the token endpoint issued (Authlib's ``save_token`` hook)."""
    uow = ctx.uow()
    now_dt = ctx.clock()
    now = int(now_dt.timestamp())
    client: OAuthClient = request.client
    user: EndUser | None = request.user
    proxy = user.proxy if user is not None else None
    claims: dict[str, list[str]] = user.claims_request if user else {}
    if request.authorization_code is not None:
        code: CodeGrant = request.authorization_code
        grant_id, auth_time = code.grant_id, code.auth_time
        family_expires = now_dt + timedelta(seconds=ctx.lifetimes.refresh_token)
        event = "token_issued"
        sid = refresh_token_sid(code.session_key, code.scope or "")
    elif request.refresh_token is not None:
        old: RefreshTokenView = request.refresh_token
        grant_id, auth_time = old.record.family_id, old.record.auth_time
        # Absolute lifetime: rotation never extends the family (ASVS 10.4.8).
        family_expires = old.record.expires_at
        event = "token_refreshed"
        sid = old.record.sid
    else:
        grant_id, auth_time = secrets.token_urlsafe(16), now
        family_expires = now_dt
        event = "token_issued"
        sid = None
    # The token is written before the transaction holding its audit event commits.
    # That order is safe: the token reaches the client only in this response, which
    # is sent after the commit (commit_request_uow); if the commit fails the response
    # is a 503 and the undo step below deletes the token, so no token that was never
    # audited can be used. Writing it after the commit instead would leave, on a
    # Redis outage, an audited "token_issued" for a token that never existed.
    access_token = token["access_token"]
    ctx.access_tokens.save(
        access_token,
        AccessTokenGrant(
            grant_id=grant_id,
            client_id=client.client_id,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=now + int(token.get("expires_in", ctx.lifetimes.access_token)),
            account_id=user.account.id if user else None,
            subject=user.subject if user else None,
            claims=claims,
            acting_for=proxy.person_id if proxy else None,
        ),
    )
    # Registered once stored: a save that failed (Redis down) has nothing to undo.
    uow.on_rollback(lambda: _forget(ctx, access_token))
    if token.get("refresh_token") and user is not None:
        uow.refresh_tokens.add(
            token_hash=token_hash(token["refresh_token"]),
            family_id=grant_id,
            client_pk=client.record.id,
            account_id=user.account.id,
            # A proxy family keeps what was consented to; each token is cut anew.
            scope=getattr(request, "consented_scope", None) or token.get("scope", ""),
            claims=claims or None,
            auth_time=auth_time,
            now=now_dt,
            expires_at=family_expires,
            acting_for=proxy.person_id if proxy else None,
            sid=sid,
        )
    details: dict[str, Any] = {
        "grant_type": request.payload.grant_type,
        "scope": token.get("scope", ""),
    }
    if proxy is not None and user is not None:
        details.update(proxy_details(user))
    ctx.audit(
        event,
        "success",
        actor=user.account.subject if user else client.client_id,
        # A proxy token is about the patient; the representative is the actor (item 9).
        subject=proxy.audit_subject if proxy else (user.account.subject if user else None),
        client_id=client.client_id,
        details=details,
    )


def _forget(ctx: OIDCContext, access_token: str) -> None:
    """Undo step: the access token of a request that did not commit is deleted."""
    ctx.access_tokens.revoke(access_token)


def proxy_details(user: EndUser) -> dict[str, Any]:
    """What an audit event of a proxy session says about it (never the MRN)."""
    assert user.proxy is not None
    portal = user.client.portal
    return {
        "acting_for": user.proxy.audit_subject,
        "representative": user.account.subject,
        "relationship": user.proxy.relationship,
        "level": user.proxy.level,
        "grant_id": user.proxy.grant_id,
        **({"portal": portal.slug} if portal is not None else {}),
    }
