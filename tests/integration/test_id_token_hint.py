"""id_token_hint at the authorization endpoint (OIDC Core §3.1.2.1; conformance id-token-hint)."""

from __future__ import annotations

import base64
import json

import pytest
from flask.testing import FlaskClient

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, assert_error_redirect, query


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    factory.account("bob")
    return factory.client()


def _hint_request(oidc: OIDCActions, rp, hint: str, **extra: str):
    return oidc.request(rp, extra={"id_token_hint": hint, **extra})


def test_hint_of_the_signed_in_user_with_prompt_none_returns_a_code(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    req = _hint_request(oidc, rp, tokens["id_token"], prompt="none")
    response = oidc.authorize(req)
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["state"] == req.state
    second = oidc.exchange(rp, req, params["code"]).get_json()
    first_sub = oidc.id_token(tokens["id_token"], rp).claims["sub"]
    assert oidc.id_token(second["id_token"], rp).claims["sub"] == first_sub


def test_hint_for_another_user_with_prompt_none_is_login_required(
    oidc: OIDCActions, rp, app
) -> None:
    bob = OIDCActions(app.test_client(), oidc.factory)
    bob_hint = bob.tokens(rp, username="bob")["id_token"]
    oidc.tokens(rp)  # alice is signed in here
    req = _hint_request(oidc, rp, bob_hint, prompt="none")
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required", state=req.state)


def test_hint_for_another_user_asks_to_sign_in(oidc: OIDCActions, rp, app) -> None:
    bob = OIDCActions(app.test_client(), oidc.factory)
    bob_hint = bob.tokens(rp, username="bob")["id_token"]
    oidc.tokens(rp)
    response = oidc.authorize(_hint_request(oidc, rp, bob_hint))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?")


def test_hint_with_prompt_none_and_nobody_signed_in_is_login_required(
    oidc: OIDCActions, rp, client: FlaskClient
) -> None:
    hint = oidc.tokens(rp)["id_token"]
    client.delete_cookie("idp_session")
    req = _hint_request(oidc, rp, hint, prompt="none")
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required", state=req.state)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tampered(id_token: str, kind: str) -> str:
    header, payload, signature = id_token.split(".")
    if kind == "signature":
        return f"{header}.{payload}.{signature[::-1]}"
    if kind == "payload":
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "someone-else"
        return f"{header}.{_b64(claims)}.{signature}"
    if kind == "alg-none":
        return f"{_b64({'alg': 'none'})}.{payload}."
    if kind == "garbage":
        return "not-a-token"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["signature", "payload", "alg-none", "garbage"])
def test_tampered_hint_is_invalid_request(oidc: OIDCActions, rp, kind: str) -> None:
    hint = oidc.tokens(rp)["id_token"]
    req = _hint_request(oidc, rp, _tampered(hint, kind), prompt="none")
    params = assert_error_redirect(
        oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state
    )
    assert params["iss"] == oidc.issuer()


def test_hint_issued_to_another_client_is_invalid_request(
    oidc: OIDCActions, factory: Factory, rp
) -> None:
    other = factory.client(name="Other", redirect_uris=["http://127.0.0.1:9100/cb"])
    hint = oidc.tokens(other)["id_token"]
    req = _hint_request(oidc, rp, hint, prompt="none")
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)
