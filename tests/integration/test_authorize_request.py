"""Authorization requests that must succeed (OIDC Core §3.1.2.1; conformance Basic OP)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, jwt_claims, query


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_authorization_by_get_and_post_returns_a_code_with_state_and_iss(
    oidc: OIDCActions, rp, method: str
) -> None:
    req = oidc.request(rp)
    response = oidc.follow_to_redirect(oidc.authorize(req, method=method))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.split("?", 1)[0] == REDIRECT_URI
    params = query(location)
    assert params["state"] == req.state
    # RFC 9207: the issuer identifies who answered (mix-up defence).
    assert params["iss"] == oidc.issuer()
    assert set(params) == {"code", "state", "iss"}
    tokens = oidc.exchange(rp, req, params["code"])
    assert tokens.status_code == 200, tokens.text


def test_post_authorization_request_needs_no_csrf_token(oidc: OIDCActions, rp) -> None:
    """A relying party's form POST is cross-site by design (conformance post-request)."""
    response = oidc.authorize(oidc.request(rp), method="POST")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?i=")


def test_state_is_echoed_exactly(oidc: OIDCActions, rp) -> None:
    state = "a b/c?d=e&f=ü+%20"
    req = oidc.request(rp, state=state)
    response = oidc.follow_to_redirect(oidc.authorize(req))
    assert query(response.headers["Location"])["state"] == state


def test_request_without_state_gets_a_code_without_state(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, state="")
    response = oidc.follow_to_redirect(oidc.authorize(req))
    params = query(response.headers["Location"])
    assert "code" in params
    assert "state" not in params


def test_unknown_parameters_are_ignored(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"extra_param": "foo", "x-vendor": "1", "response_mode": "query"})
    assert oidc.tokens(rp, req)["id_token"]


@pytest.mark.parametrize(
    "extra",
    [
        {"display": "page"},
        {"display": "popup"},
        {"display": "touch"},
        {"ui_locales": "se fr-CA en-US"},
        {"claims_locales": "se fr-CA en-US"},
        {"acr_values": "1 2"},
        {"acr_values": "urn:mace:incommon:iap:silver"},
    ],
    ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()),
)
def test_optional_parameters_are_accepted(oidc: OIDCActions, rp, extra: dict[str, str]) -> None:
    req = oidc.request(rp, extra=extra)
    assert oidc.tokens(rp, req)["id_token"]


def test_nonce_goes_into_the_id_token(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, nonce="n-0S6_WzA2Mj")
    tokens = oidc.tokens(rp, req)
    token = oidc.id_token(tokens["id_token"], rp, nonce="n-0S6_WzA2Mj")
    assert token.claims["nonce"] == "n-0S6_WzA2Mj"


def test_request_without_nonce_succeeds_for_code_flow(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, nonce=None)
    assert "nonce" not in req.params()
    token = oidc.id_token(oidc.tokens(rp, req)["id_token"], rp)
    assert "nonce" not in token.claims


def test_a_nonce_already_used_with_this_client_is_refused(oidc: OIDCActions, rp) -> None:
    oidc.tokens(rp, oidc.request(rp, nonce="used-once"))
    req = oidc.request(rp, nonce="used-once")
    response = oidc.authorize(req)
    assert response.status_code == 302
    assert query(response.headers["Location"])["error"] == "invalid_request"


def test_id_token_carries_standard_claims_and_header(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    tokens = oidc.tokens(rp, req)
    token = oidc.id_token(tokens["id_token"], rp, nonce=req.nonce)
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] in {k.kid for k in oidc.jwks().keys}
    claims = token.claims
    assert claims["aud"] == rp.client_id
    assert claims["exp"] > claims["iat"]
    assert isinstance(claims["auth_time"], int)
    assert claims["at_hash"]
    # With the code flow personal data comes from UserInfo, not the ID token.
    assert "email" not in claims and "name" not in claims


def test_id_token_times_come_from_the_provider_clock(
    oidc: OIDCActions, rp, clock, settings
) -> None:
    clock.advance(7200)
    now = int(clock().timestamp())
    tokens = oidc.tokens(rp)
    claims = jwt_claims(tokens["id_token"])
    assert now <= claims["iat"] <= now + 5
    assert claims["exp"] == claims["iat"] + settings.tokens.id_token
    assert claims["auth_time"] <= claims["iat"]


def test_token_response_shape(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["expires_in"] == 600
    assert set(tokens["scope"].split()) == {"openid", "profile", "email"}
    assert tokens["refresh_token"] and tokens["access_token"]


@pytest.mark.settings(tokens__access_token=120)
def test_access_token_lifetime_follows_settings(oidc: OIDCActions, rp) -> None:
    assert oidc.tokens(rp)["expires_in"] == 120


def test_token_response_is_not_cached(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    response = oidc.exchange(rp, req, oidc.code_for(req))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def test_scopes_the_client_may_not_use_are_dropped(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client(scope="openid email")
    req = oidc.request(rp, scope="openid email profile admin")
    assert set(oidc.tokens(rp, req)["scope"].split()) == {"openid", "email"}


def test_login_hint_prefills_the_username_input(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    req = oidc.request(rp, extra={"login_hint": "bob.jones"})
    response = oidc.authorize(req)
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    field = re.search(r'<input id="username"[^>]*>', page.text, re.S)
    assert field is not None
    assert 'value="bob.jones"' in field.group(0)


def test_login_hint_is_escaped_in_the_page(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    req = oidc.request(rp, extra={"login_hint": '"><script>alert(1)</script>'})
    page = client.get(oidc.authorize(req).headers["Location"])
    assert "<script>alert(1)</script>" not in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text


def test_login_hint_does_not_sign_anybody_in(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"login_hint": "alice", "prompt": "none"})
    response = oidc.authorize(req)
    assert query(response.headers["Location"])["error"] == "login_required"


def test_registered_redirect_uri_with_a_query_keeps_it(oidc: OIDCActions, factory: Factory) -> None:
    factory.account("carol")
    uri = "http://127.0.0.1:9000/cb?tenant=7"
    rp = factory.client(redirect_uris=[uri])
    req = oidc.request(rp)
    response = oidc.follow_to_redirect(oidc.authorize(req), username="carol")
    location = response.headers["Location"]
    assert location.startswith(uri + "&")
    params = query(location)
    assert params["tenant"] == "7"
    assert oidc.exchange(rp, req, params["code"]).status_code == 200
