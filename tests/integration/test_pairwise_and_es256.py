"""Pairwise subject identifiers (OIDC Core §8.1) and ES256 ID tokens (RFC 7518 §3.4)."""

from __future__ import annotations

import base64
import hashlib

from joserfc import jwt
from joserfc.jwk import KeySet

from ..conftest import LOGOUT_URI, Factory
from ..helpers import OIDCActions, query

PORTAL_A = "http://portal-a.test/callback"
PORTAL_A2 = "http://portal-a.test/other-callback"
PORTAL_B = "http://portal-b.test/callback"


def _sub(oidc: OIDCActions, rp) -> str:
    tokens = oidc.tokens(rp)
    sub = oidc.id_token(tokens["id_token"], rp).claims["sub"]
    assert oidc.userinfo(tokens["access_token"]).get_json()["sub"] == sub
    return str(sub)


def test_pairwise_clients_on_different_hosts_get_different_subs(
    oidc: OIDCActions, factory: Factory
) -> None:
    account = factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    b = factory.client(name="B", redirect_uris=[PORTAL_B], subject_type="pairwise")
    sub_a, sub_b = _sub(oidc, a), _sub(oidc, b)
    assert sub_a != sub_b
    assert account.subject not in (sub_a, sub_b)


def test_pairwise_sub_is_stable_for_one_client(oidc: OIDCActions, factory: Factory, client) -> None:
    factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    first = _sub(oidc, a)
    client.delete_cookie("idp_session")
    assert _sub(oidc, a) == first


def test_pairwise_clients_of_one_sector_share_the_sub(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    a2 = factory.client(name="A2", redirect_uris=[PORTAL_A2], subject_type="pairwise")
    assert _sub(oidc, a) == _sub(oidc, a2)


def test_pairwise_differs_between_accounts(oidc: OIDCActions, factory: Factory, app) -> None:
    factory.account()
    factory.account("bob")
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    bob = OIDCActions(app.test_client(), factory)
    alice_sub = _sub(oidc, a)
    bob_tokens = bob.tokens(a, username="bob")
    assert bob.id_token(bob_tokens["id_token"], a).claims["sub"] != alice_sub


def test_public_subject_is_the_same_for_every_client(oidc: OIDCActions, factory: Factory) -> None:
    account = factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A])
    b = factory.client(name="B", redirect_uris=[PORTAL_B])
    assert _sub(oidc, a) == _sub(oidc, b) == account.subject


def test_pairwise_sub_is_used_for_introspection(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    tokens = oidc.tokens(a)
    sub = oidc.id_token(tokens["id_token"], a).claims["sub"]
    assert oidc.introspect(a, tokens["access_token"]).get_json()["sub"] == sub


def test_pairwise_id_token_hint_is_recognised(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    hint = oidc.tokens(a)["id_token"]
    req = oidc.request(a, extra={"id_token_hint": hint, "prompt": "none"})
    assert "code" in query(oidc.authorize(req).headers["Location"])


def test_pairwise_id_token_hint_logs_out_without_confirmation(
    oidc: OIDCActions, factory: Factory, client
) -> None:
    factory.account()
    a = factory.client(name="A", redirect_uris=[PORTAL_A], subject_type="pairwise")
    hint = oidc.tokens(a)["id_token"]
    response = client.get(
        "/logout", query_string={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI


def test_es256_client_gets_an_es256_id_token_verifiable_by_the_jwks(
    oidc: OIDCActions, factory: Factory, client
) -> None:
    factory.account()
    rp = factory.client(id_token_signed_response_alg="ES256")
    req = oidc.request(rp)
    tokens = oidc.tokens(rp, req)
    jwks = client.get("/jwks.json").get_json()
    token = oidc.id_token(tokens["id_token"], rp, nonce=req.nonce)
    assert token.header["alg"] == "ES256"
    published = {k["kid"]: k for k in jwks["keys"]}
    assert published[token.header["kid"]]["alg"] == "ES256"
    assert published[token.header["kid"]]["crv"] == "P-256"
    # Only the ES256 key verifies it.
    es_only = KeySet.import_key_set({"keys": [published[token.header["kid"]]]})
    assert jwt.decode(tokens["id_token"], es_only, algorithms=["ES256"]).claims["aud"] == (
        rp.client_id
    )
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert token.claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_rs256_client_gets_an_rs256_id_token(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client()
    token = oidc.id_token(oidc.tokens(rp)["id_token"], rp)
    assert token.header["alg"] == "RS256"


def test_es256_id_token_works_as_a_hint(oidc: OIDCActions, factory: Factory, client) -> None:
    factory.account()
    rp = factory.client(id_token_signed_response_alg="ES256")
    hint = oidc.tokens(rp)["id_token"]
    req = oidc.request(rp, extra={"id_token_hint": hint, "prompt": "none"})
    assert "code" in query(oidc.authorize(req).headers["Location"])
    response = client.get(
        "/logout", query_string={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI}
    )
    assert response.headers["Location"] == LOGOUT_URI
