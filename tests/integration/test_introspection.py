"""Token introspection (RFC 7662): only for the client the token was issued to."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import Factory
from ..helpers import MovableClock, OIDCActions, basic


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def test_active_access_token(oidc: OIDCActions, rp, settings) -> None:
    tokens = oidc.tokens(rp)
    sub = oidc.id_token(tokens["id_token"], rp).claims["sub"]
    response = oidc.introspect(rp, tokens["access_token"])
    assert response.status_code == 200, response.text
    info = response.get_json()
    assert info["active"] is True
    assert set(info["scope"].split()) == {"openid", "profile", "email"}
    assert info["client_id"] == rp.client_id
    assert info["sub"] == sub
    assert info["iss"] == settings.issuer
    assert info["token_type"].lower() == "bearer"
    assert info["exp"] - info["iat"] == 600
    assert response.headers["Cache-Control"] == "no-store"


def test_active_refresh_token(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    info = oidc.introspect(rp, tokens["refresh_token"], hint="refresh_token").get_json()
    assert info["active"] is True
    assert info["client_id"] == rp.client_id
    assert info["token_type"] == "refresh_token"
    assert info["exp"] > info["iat"]
    # Whose it is, as this client sees them (the ID token's `sub`); no proxy, no `act`.
    assert info["sub"] == oidc.id_token(tokens["id_token"], rp).claims["sub"]
    assert "act" not in info


def test_rotated_refresh_token_is_inactive(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    oidc.refresh(rp, tokens["refresh_token"])
    assert oidc.introspect(rp, tokens["refresh_token"]).get_json() == {"active": False}


def test_revoked_token_is_inactive(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    oidc.revoke(rp, tokens["access_token"])
    assert oidc.introspect(rp, tokens["access_token"]).get_json() == {"active": False}


def test_unknown_token_is_inactive(oidc: OIDCActions, rp) -> None:
    response = oidc.introspect(rp, "no-such-token")
    assert response.status_code == 200
    assert response.get_json() == {"active": False}


def test_expired_access_token_is_inactive(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    tokens = oidc.tokens(rp)
    clock.advance(601)
    assert oidc.introspect(rp, tokens["access_token"]).get_json() == {"active": False}


def test_another_clients_token_is_inactive(oidc: OIDCActions, factory: Factory, rp) -> None:
    other = factory.client(name="Other Portal")
    tokens = oidc.tokens(rp)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = oidc.introspect(other, token)
        assert response.status_code == 200
        assert response.get_json() == {"active": False}


def test_public_clients_cannot_introspect(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client(public=True)
    tokens = oidc.tokens(rp)
    response = oidc.introspect(rp, tokens["access_token"], auth="none")
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert "active" not in response.get_json()


def test_introspection_needs_the_right_secret(oidc: OIDCActions, rp, client: FlaskClient) -> None:
    tokens = oidc.tokens(rp)
    response = client.post(
        "/introspect", data={"token": tokens["access_token"]}, headers=basic(rp.client_id, "x")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_confidential_client_without_secret_cannot_introspect(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    response = oidc.introspect(rp, tokens["access_token"], auth="none")
    assert response.get_json()["error"] == "invalid_client"


def test_missing_token_is_invalid_request(oidc: OIDCActions, rp, client: FlaskClient) -> None:
    secret = oidc.factory.secrets[rp.client_id]
    response = client.post("/introspect", data={}, headers=basic(rp.client_id, secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
