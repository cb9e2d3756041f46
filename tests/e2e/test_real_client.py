"""A real OIDC client library (Authlib's requests client) against the live provider.

The provider runs as gunicorn on loopback (tests/live.py); the relying party is
Authlib's ``OAuth2Session`` with PKCE S256 and the patient's browser is a
``requests.Session``. ID tokens are checked with joserfc against the keys served
at ``jwks_uri``, as any portal would. With PostgreSQL + Redis configured the
provider runs two workers, and the last test proves they share keys and state.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.live import LiveAccount, LiveClient, LiveProvider

from .webclient import PatientBrowser, query

pytestmark = pytest.mark.live

# Never connected to: the browser stops at the redirect, as a test of the provider.
REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "openid profile email offline_access"


def get_json(url: str, **kw: Any) -> Any:
    with requests.get(url, timeout=10, **kw) as response:
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def metadata(live: LiveProvider) -> dict[str, Any]:
    return get_json(live.endpoint("/.well-known/openid-configuration"))


@pytest.fixture(scope="module")
def rp(live: LiveProvider) -> LiveClient:
    portal = live.add_portal("Riverside Family Practice")
    return live.add_client(name="Riverside portal", redirect_uris=[REDIRECT_URI], portal_id=portal)


@pytest.fixture
def account(live: LiveProvider) -> LiveAccount:
    return live.add_account(first_name="Grace", last_name="Hopper")


@pytest.fixture
def oauth(rp: LiveClient, metadata: dict[str, Any]) -> Iterator[OAuth2Session]:
    with OAuth2Session(
        rp.client_id,
        rp.client_secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint=metadata["token_endpoint"],
    ) as session:
        yield session


def sign_in(
    oauth: OAuth2Session,
    metadata: dict[str, Any],
    browser: PatientBrowser,
    account: LiveAccount | None,
    **params: str,
) -> tuple[dict[str, Any], str]:
    """Run the code flow through the browser; return the token response and the nonce."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
    )
    journey = browser.authorize(
        url,
        stop_at=REDIRECT_URI,
        username=account.username if account else None,
        password=account.password if account else None,
    )
    callback = query(journey.final_url)
    assert "error" not in callback, callback
    assert callback["state"] == state
    # RFC 9207: the response names its issuer, so a mix-up attack is detectable.
    assert callback["iss"] == metadata["issuer"]
    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=journey.final_url,
        state=state,
        code_verifier=verifier,
    )
    return dict(token), nonce


def verify_id_token(
    id_token: str, metadata: dict[str, Any], client_id: str, nonce: str, access_token: str
) -> dict[str, Any]:
    """What a portal must do with an ID token (OIDC Core §3.1.3.7), with joserfc."""
    keys = KeySet.import_key_set(get_json(metadata["jwks_uri"]))
    token = jwt.decode(id_token, keys, algorithms=metadata["id_token_signing_alg_values_supported"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    # at_hash (§3.1.3.8): left half of SHA-256 of the access token, for RS256 and ES256.
    digest = hashlib.sha256(access_token.encode()).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    if "at_hash" in token.claims:
        assert token.claims["at_hash"] == expected
    return dict(token.claims)


def userinfo(metadata: dict[str, Any], access_token: str) -> requests.Response:
    with requests.get(
        metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    ) as response:
        response.content  # noqa: B018 - read the body before the connection goes back
        return response


def test_code_flow_with_pkce_id_token_userinfo_and_refresh_rotation(
    live: LiveProvider,
    rp: LiveClient,
    account: LiveAccount,
    oauth: OAuth2Session,
    metadata: dict[str, Any],
) -> None:
    assert metadata["issuer"] == live.issuer
    assert "S256" in metadata["code_challenge_methods_supported"]
    with PatientBrowser() as browser:
        token, nonce = sign_in(oauth, metadata, browser, account)

    assert token["token_type"].lower() == "bearer"
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(token)
    claims = verify_id_token(
        token["id_token"], metadata, rp.client_id, nonce, token["access_token"]
    )
    assert claims["sub"] == account.subject

    info = userinfo(metadata, token["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["name"] == account.name
    assert info.json()["email"] == account.email

    # The library's own call, with the token it holds.
    with oauth.get(metadata["userinfo_endpoint"], timeout=10) as response:
        assert response.status_code == 200 and response.json()["sub"] == claims["sub"]

    old_refresh = token["refresh_token"]
    refreshed = dict(oauth.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh))
    assert refreshed["refresh_token"] != old_refresh
    assert refreshed["access_token"] != token["access_token"]
    if "id_token" in refreshed:
        again = verify_id_token(
            refreshed["id_token"], metadata, rp.client_id, nonce, refreshed["access_token"]
        )
        assert again["sub"] == claims["sub"]
    assert userinfo(metadata, refreshed["access_token"]).status_code == 200

    # Rotation: the old refresh token is refused, and its reuse ends the family
    # (security invariant 3), so the new one and its access token die too.
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh)
    assert refused.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as family:
        oauth.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert family.value.error == "invalid_grant"
    assert userinfo(metadata, refreshed["access_token"]).status_code == 401


def test_revocation_ends_refresh_and_access_tokens(
    rp: LiveClient, account: LiveAccount, oauth: OAuth2Session, metadata: dict[str, Any]
) -> None:
    with PatientBrowser() as browser:
        token, _ = sign_in(oauth, metadata, browser, account)
        # Same browser, same SSO session: a second grant needs neither login nor consent.
        second, _ = sign_in(oauth, metadata, browser, None)

    # Revoking an access token ends that token only.
    with oauth.revoke_token(
        metadata["revocation_endpoint"],
        token=second["access_token"],
        token_type_hint="access_token",
    ) as response:
        assert response.status_code == 200, response.text
    assert userinfo(metadata, second["access_token"]).status_code == 401
    assert userinfo(metadata, token["access_token"]).status_code == 200

    # Revoking a refresh token ends its grant, access tokens included (RFC 7009 §2.1).
    with oauth.revoke_token(
        metadata["revocation_endpoint"],
        token=token["refresh_token"],
        token_type_hint="refresh_token",
    ) as response:
        assert response.status_code == 200, response.text
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert userinfo(metadata, token["access_token"]).status_code == 401
    # The other grant is untouched.
    refreshed = oauth.refresh_token(
        metadata["token_endpoint"], refresh_token=second["refresh_token"]
    )
    assert refreshed["access_token"]


def test_client_credentials_grant(
    live: LiveProvider, rp: LiveClient, metadata: dict[str, Any]
) -> None:
    with OAuth2Session(rp.client_id, rp.client_secret, scope="profile") as service:
        token = dict(
            service.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
        )
    assert token["token_type"].lower() == "bearer" and token["access_token"]
    assert token["expires_in"] > 0
    # No user, so no ID token and nothing to refresh (RFC 6749 §4.4.3).
    assert "id_token" not in token and "refresh_token" not in token

    with requests.post(
        metadata["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(rp.client_id, rp.client_secret or ""),
        timeout=10,
    ) as response:
        assert response.status_code == 200, response.text
        introspected = response.json()
    assert introspected["active"] is True
    assert introspected["client_id"] == rp.client_id

    with OAuth2Session(rp.client_id, "not the secret") as impostor:
        with pytest.raises(OAuthError) as refused:
            impostor.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_every_worker_shares_keys_sessions_and_codes(
    live: LiveProvider,
    rp: LiveClient,
    account: LiveAccount,
    oauth: OAuth2Session,
    metadata: dict[str, Any],
) -> None:
    """One browser session, many fresh connections: whichever worker answers must
    know the SSO session, redeem codes another worker issued, and sign with the
    same keys. With one worker (embedded backend) this is a plain repeat test."""
    oauth.headers["Connection"] = "close"
    jwks = get_json(metadata["jwks_uri"], headers={"Connection": "close"})
    watched = ("jwks_uri", "authorization_endpoint", "token_endpoint", "userinfo_endpoint")
    # The access log records paths; discovery says where each endpoint lives.
    paths = {name: urlsplit(metadata[name]).path for name in watched}
    with PatientBrowser(fresh_connections=True) as browser:
        sign_in(oauth, metadata, browser, account)
        subjects = set()
        for round_number in range(80):
            # Silent re-authentication: only works if this worker sees the SSO session.
            token, nonce = sign_in(oauth, metadata, browser, None, prompt="none")
            claims = verify_id_token(
                token["id_token"], metadata, rp.client_id, nonce, token["access_token"]
            )
            subjects.add(claims["sub"])
            assert get_json(metadata["jwks_uri"], headers={"Connection": "close"}) == jwks
            with requests.get(
                metadata["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {token['access_token']}", "Connection": "close"},
                timeout=10,
            ) as info:
                assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
            served = live.served_by()
            if round_number >= 9 and all(
                len(served.get(path, set())) >= live.workers for path in paths.values()
            ):
                break
    assert subjects == {account.subject}
    served = live.served_by()
    for name, path in paths.items():
        assert len(served.get(path, set())) == live.workers, (name, served)
