"""The authorization code flow end to end through Flask's test client."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from ..conftest import Factory
from ..helpers import OIDCActions


def test_code_flow_issues_verifiable_id_token(oidc: OIDCActions, factory: Factory, client) -> None:
    rp = factory.client()
    factory.account()
    req = oidc.request(rp)
    tokens = oidc.tokens(rp, req)
    jwks = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(tokens["id_token"], jwks)
    issuer = client.get("/.well-known/openid-configuration").get_json()["issuer"]
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": rp.client_id},
        nonce={"essential": True, "value": req.nonce},
        sub={"essential": True},
    ).validate(token.claims)
    assert token.header["kid"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["sub"] == token.claims["sub"]
    assert info.get_json()["email"] == "alice@example.test"
