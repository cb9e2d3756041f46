"""Authorization codes and access tokens in the ephemeral store.

Both are random 256-bit strings handed to the client once; the store keys them
by SHA-256 (security invariant 5), so a store dump holds nothing usable.

Every code redemption starts a *grant* (a token family); access tokens and
refresh tokens carry its id. Replaying a code or a rotated refresh token marks
the grant revoked, which kills the access tokens already issued from it without
having to find them (RFC 6749 §4.1.2; OAuth 2.0 Security BCP §4.14).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from idp.store.interfaces import EphemeralStore
from idp.store.user_data import VERSION_KEY as USER_DATA_VERSION_KEY


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What an authorization code stands for (stored, never shown to the client)."""

    grant_id: str
    client_id: str
    account_id: int
    subject: str
    redirect_uri: str
    scope: str
    auth_time: int
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    claims: dict[str, list[str]] = field(default_factory=dict)
    amr: list[str] = field(default_factory=list)
    acr: str | None = None
    session_key: str | None = None
    # The person the representative chose to act for (issue 10), else None.
    acting_for: int | None = None
    # Unix time after which the code is refused, checked against the provider's clock
    # (the store's TTL only bounds how long it is kept).
    expires_at: int | None = None

    # Authlib's AuthorizationCodeMixin and OpenIDCode read these.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return list(self.amr) or None

    def is_expired(self, now: int) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class AccessTokenGrant:
    """What an access token stands for."""

    grant_id: str
    client_id: str
    scope: str
    issued_at: int
    expires_at: int
    account_id: int | None = None
    subject: str | None = None
    claims: dict[str, list[str]] = field(default_factory=dict)
    # The person a representative's token acts for (issue 10): checked again at each use.
    acting_for: int | None = None


@dataclass(frozen=True, slots=True)
class FoundAccessToken:
    """A live access token's grant, and the user-data version read with it."""

    grant: AccessTokenGrant
    user_data_version: str | None


# What an access token's record names: its grant's and its account's revocation
# markers, and (a fixed key) the version of the user data UserInfo shows.
_TOKEN_LINKS: tuple[tuple[str | None, str], ...] = (
    ("grant_id", "grant-revoked:"),
    ("account_id", "account-revoked:"),
    (None, USER_DATA_VERSION_KEY),
)


class CodeStore:
    """Authorization codes: single use, short-lived, replay-detecting."""

    def __init__(self, store: EphemeralStore, *, ttl: int, replay_window: int) -> None:
        self._store = store
        self._ttl = ttl
        self._replay_window = replay_window

    def save(self, code: str, grant: CodeGrant) -> None:
        self._store.put(f"code:{token_hash(code)}", json.dumps(asdict(grant)), ttl=self._ttl)

    def redeem(self, code: str) -> CodeGrant | None:
        """Take the code (GETDEL: one caller only) and remember it was used.

        Authlib deletes a code only after the token is saved, so two concurrent
        redemptions could both succeed; taking it here closes that race.
        """
        key = token_hash(code)
        raw = self._store.take(f"code:{key}")
        if raw is None:
            return None
        grant = CodeGrant(**json.loads(raw))
        self._store.put(f"code-used:{key}", grant.grant_id, ttl=self._replay_window)
        return grant

    def restore(self, code: str, grant: CodeGrant, *, now: int) -> None:
        """Undo :meth:`redeem` for a request that failed before anything was issued.

        Run only as the token request's rollback step: nothing was committed and no
        token left the server, so the client's retry should find the code as it was,
        not a "replayed" code that revokes the grant. An expired code stays gone.
        """
        left = (grant.expires_at or now + self._ttl) - now
        key = token_hash(code)
        if left > 0:
            self._store.put(f"code:{key}", json.dumps(asdict(grant)), ttl=min(left, self._ttl))
        self._store.delete(f"code-used:{key}")

    def replayed_grant(self, code: str) -> str | None:
        """The grant a used code started, if this code was already redeemed."""
        return self._store.get(f"code-used:{token_hash(code)}")

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        return self._store.get(f"nonce:{client_id}:{token_hash(nonce)}") is not None

    def remember_nonce(self, client_id: str, nonce: str) -> None:
        self._store.put(f"nonce:{client_id}:{token_hash(nonce)}", "1", ttl=self._replay_window)


class AccessTokenStore:
    """Opaque bearer tokens, revocable at once in every process."""

    def __init__(self, store: EphemeralStore, *, ttl: int) -> None:
        self._store = store
        self.ttl = ttl

    def save(self, token: str, grant: AccessTokenGrant) -> None:
        ttl = max(1, grant.expires_at - grant.issued_at)
        self._store.put(f"at:{token_hash(token)}", _grant_json(grant), ttl=ttl)

    def find(self, token: str, *, now: int) -> AccessTokenGrant | None:
        """The live, unrevoked grant of an access token, or None."""
        found = self.lookup(token, now=now)
        return None if found is None else found.grant

    def lookup(self, token: str, *, now: int) -> FoundAccessToken | None:
        """The live, unrevoked grant of an access token and the user-data version, or None.

        One round trip to the store and no SQL (``EphemeralStore.get_linked``): the
        token, its grant's and its account's revocation markers (an account that was
        closed or locked voids its tokens through :meth:`revoke_account`), and the
        version of what UserInfo shows (``idp.store.user_data``), read before any of
        it is loaded so that a cached copy is never newer than the version says.
        """
        if not token or len(token) > 512:
            return None
        raw, markers = self._store.get_linked(f"at:{token_hash(token)}", _TOKEN_LINKS)
        if raw is None:
            return None
        grant = AccessTokenGrant(**json.loads(raw))
        if grant.expires_at <= now:
            return None
        grant_marker, account_marker, version = markers
        if grant_marker is not None:
            return None
        if grant.account_id is not None and account_marker is not None:
            if grant.issued_at <= int(account_marker):
                return None
        return FoundAccessToken(grant, version)

    def revoke(self, token: str) -> bool:
        return bool(self._store.delete(f"at:{token_hash(token)}"))

    def revoke_grant(self, grant_id: str) -> None:
        """Void every access token of a grant; the marker outlives the longest token."""
        self._store.put(f"grant-revoked:{grant_id}", "1", ttl=self.ttl + 60)

    def revoke_account(self, account_id: int, *, now: float | None = None) -> None:
        """Void every access token the account holds now (issued up to this second)."""
        stamp = int(time.time() if now is None else now)
        self._store.put(f"account-revoked:{account_id}", str(stamp), ttl=self.ttl + 60)

    def grant_revoked(self, grant_id: str) -> bool:
        return self._store.get(f"grant-revoked:{grant_id}") is not None


_GRANT_FIELDS = tuple(f.name for f in fields(AccessTokenGrant))


def _grant_json(grant: AccessTokenGrant) -> str:
    """The stored form: what ``asdict`` gives, without its deep copy (a token request's
    hot path; the values are str, int, None and a dict of lists)."""
    return json.dumps({name: getattr(grant, name) for name in _GRANT_FIELDS})


def as_dict(grant: AccessTokenGrant) -> dict[str, Any]:
    return asdict(grant)
