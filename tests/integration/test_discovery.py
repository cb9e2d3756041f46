"""Discovery (OpenID Connect Discovery 1.0 §3, §4) and the JWKS (RFC 7517): Config OP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask.testing import FlaskClient

from ..helpers import OIDCActions

ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
)
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_discovery_document_passes_authlib_validation(oidc: OIDCActions) -> None:
    doc = oidc.discovery()
    OpenIDProviderMetadata(doc).validate()


def test_discovery_lists_every_endpoint_under_the_issuer(
    oidc: OIDCActions, client: FlaskClient
) -> None:
    doc = oidc.discovery()
    issuer = doc["issuer"]
    for name in ENDPOINTS:
        assert doc[name].startswith(issuer + "/"), name
    # Every advertised endpoint is served here (a GET at a POST-only endpoint is a 405).
    for name in ENDPOINTS:
        response = client.get(urlsplit(doc[name]).path)
        assert response.status_code != 404, name
        assert response.status_code < 500, name
    assert len({doc[name] for name in ENDPOINTS}) == len(ENDPOINTS)


def test_discovery_issuer_matches_the_configured_issuer(oidc: OIDCActions, settings) -> None:
    assert oidc.discovery()["issuer"] == settings.issuer


def test_discovery_advertises_what_the_provider_enforces(oidc: OIDCActions) -> None:
    doc = oidc.discovery()
    assert "openid" in doc["scopes_supported"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["subject_types_supported"]) == {"public", "pairwise"}
    assert set(doc["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert "none" not in doc["id_token_signing_alg_values_supported"]
    assert {"sub", "email", "name", "address", "phone_number"} <= set(doc["claims_supported"])
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    assert doc["claims_parameter_supported"] is True
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]


def test_jwks_keys_have_kid_alg_use_and_no_private_members(client: FlaskClient) -> None:
    response = client.get("/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    keys = response.get_json()["keys"]
    assert keys
    for jwk in keys:
        assert jwk["kid"]
        assert jwk["alg"] in ("RS256", "ES256")
        assert jwk["use"] == "sig"
        assert not PRIVATE_JWK_MEMBERS & set(jwk), jwk["kid"]
    assert len({jwk["kid"] for jwk in keys}) == len(keys)
    assert {jwk["alg"] for jwk in keys} == {"RS256", "ES256"}


def test_jwks_is_the_document_named_by_jwks_uri(oidc: OIDCActions, client: FlaskClient) -> None:
    path = urlsplit(oidc.discovery()["jwks_uri"]).path
    assert client.get(path).get_json() == client.get("/jwks.json").get_json()
    assert len(oidc.jwks().keys) == len(client.get(path).get_json()["keys"])


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks.json"])
def test_discovery_and_jwks_are_cacheable_for_a_short_time(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["Cache-Control"] == "public, max-age=300"
