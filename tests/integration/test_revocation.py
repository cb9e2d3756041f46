"""Token revocation (RFC 7009)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import Factory
from ..helpers import OIDCActions, audit_types, basic


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoking_an_access_token_makes_userinfo_401(oidc: OIDCActions, rp, hint) -> None:
    tokens = oidc.tokens(rp)
    response = oidc.revoke(rp, tokens["access_token"], hint=hint)
    assert response.status_code == 200, response.text
    assert response.get_json() == {}
    assert oidc.userinfo(tokens["access_token"]).status_code == 401
    assert oidc.introspect(rp, tokens["access_token"]).get_json() == {"active": False}


def test_revoking_an_access_token_leaves_the_refresh_token(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    oidc.revoke(rp, tokens["access_token"])
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoking_a_refresh_token_ends_the_family(oidc: OIDCActions, rp, hint, services) -> None:
    first = oidc.tokens(rp)
    second = oidc.refresh(rp, first["refresh_token"]).get_json()
    response = oidc.revoke(rp, second["refresh_token"], hint=hint)
    assert response.status_code == 200, response.text
    refreshed = oidc.refresh(rp, second["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"
    # RFC 7009 §2.1: access tokens of the same grant go too.
    assert oidc.userinfo(second["access_token"]).status_code == 401
    assert oidc.userinfo(first["access_token"]).status_code == 401
    assert "grant_revoked" in audit_types(services)


def test_revoking_another_clients_token_does_not_revoke_it(
    oidc: OIDCActions, factory: Factory, rp
) -> None:
    other = factory.client(name="Other Portal")
    tokens = oidc.tokens(rp)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = oidc.revoke(other, token)
        assert response.status_code == 400
        assert response.get_json()["error"] in ("invalid_grant", "unauthorized_client")
    assert oidc.userinfo(tokens["access_token"]).status_code == 200
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200


def test_unknown_token_is_200(oidc: OIDCActions, rp) -> None:
    """RFC 7009 §2.2: an invalid token is not an error for the client."""
    response = oidc.revoke(rp, "no-such-token")
    assert response.status_code == 200
    assert response.get_json() == {}


def test_revoking_twice_is_200(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    assert oidc.revoke(rp, tokens["refresh_token"]).status_code == 200
    assert oidc.revoke(rp, tokens["refresh_token"]).status_code == 200


def test_public_client_revokes_its_own_token_without_a_secret(
    oidc: OIDCActions, factory: Factory
) -> None:
    factory.account()
    rp = factory.client(public=True)
    tokens = oidc.tokens(rp)
    assert oidc.revoke(rp, tokens["refresh_token"], auth="none").status_code == 200
    assert oidc.refresh(rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_confidential_client_must_authenticate_to_revoke(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    response = oidc.revoke(rp, tokens["access_token"], auth="none")
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"
    assert oidc.userinfo(tokens["access_token"]).status_code == 200


def test_wrong_secret_cannot_revoke(oidc: OIDCActions, rp, client: FlaskClient) -> None:
    tokens = oidc.tokens(rp)
    response = client.post(
        "/revoke", data={"token": tokens["access_token"]}, headers=basic(rp.client_id, "nope")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert oidc.userinfo(tokens["access_token"]).status_code == 200


def test_missing_token_is_invalid_request(oidc: OIDCActions, rp, client: FlaskClient) -> None:
    secret = oidc.factory.secrets[rp.client_id]
    response = client.post("/revoke", data={}, headers=basic(rp.client_id, secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_revocation_is_get_proof(client: FlaskClient) -> None:
    assert client.get("/revoke", query_string={"token": "x"}).status_code == 405


def test_repeated_token_parameter_is_invalid_request(
    oidc: OIDCActions, rp, client: FlaskClient
) -> None:
    tokens = oidc.tokens(rp)
    secret = oidc.factory.secrets[rp.client_id]
    response = client.post(
        "/revoke",
        data=f"token=unknown&token={tokens['access_token']}",
        content_type="application/x-www-form-urlencoded",
        headers=basic(rp.client_id, secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert oidc.userinfo(tokens["access_token"]).status_code == 200


def test_revocation_as_json_is_invalid_request(oidc: OIDCActions, rp, client: FlaskClient) -> None:
    tokens = oidc.tokens(rp)
    secret = oidc.factory.secrets[rp.client_id]
    response = client.post(
        "/revoke", json={"token": tokens["access_token"]}, headers=basic(rp.client_id, secret)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert oidc.userinfo(tokens["access_token"]).status_code == 200
