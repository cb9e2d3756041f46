"""The claims request parameter (OIDC Core §5.5; conformance claims-essential)."""

from __future__ import annotations

import json

import pytest

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, assert_error_redirect


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def _tokens(oidc: OIDCActions, rp, claims: object, scope: str = "openid") -> dict:
    raw = claims if isinstance(claims, str) else json.dumps(claims)
    return oidc.tokens(rp, oidc.request(rp, scope=scope, extra={"claims": raw}))


def test_essential_userinfo_claim_is_returned_with_scope_openid_only(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(oidc, rp, {"userinfo": {"name": {"essential": True}}})
    info = oidc.userinfo(tokens["access_token"]).get_json()
    assert info["name"] == "Alice Smith"
    assert set(info) == {"sub", "name"}
    assert "name" not in oidc.id_token(tokens["id_token"], rp).claims


def test_id_token_claim_with_null_goes_into_the_id_token(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(oidc, rp, {"id_token": {"email": None}})
    claims = oidc.id_token(tokens["id_token"], rp).claims
    assert claims["email"] == "alice@example.test"
    assert "email" not in oidc.userinfo(tokens["access_token"]).get_json()


def test_claims_for_both_targets(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(
        oidc,
        rp,
        {"id_token": {"given_name": None}, "userinfo": {"family_name": {"essential": False}}},
    )
    assert oidc.id_token(tokens["id_token"], rp).claims["given_name"] == "Alice"
    assert oidc.userinfo(tokens["access_token"]).get_json()["family_name"] == "Smith"


def test_unknown_claims_and_members_are_ignored(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(
        oidc,
        rp,
        {"userinfo": {"favourite_colour": None, "name": None}, "something": {"x": 1}},
    )
    assert set(oidc.userinfo(tokens["access_token"]).get_json()) == {"sub", "name"}


def test_claims_combine_with_scopes(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(oidc, rp, {"userinfo": {"name": None}}, scope="openid email")
    assert set(oidc.userinfo(tokens["access_token"]).get_json()) == {
        "sub",
        "name",
        "email",
        "email_verified",
    }


def test_claims_request_cannot_override_sub(oidc: OIDCActions, rp) -> None:
    tokens = _tokens(oidc, rp, {"userinfo": {"sub": {"value": "someone-else"}}})
    sub = oidc.id_token(tokens["id_token"], rp).claims["sub"]
    assert oidc.userinfo(tokens["access_token"]).get_json()["sub"] == sub != "someone-else"


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '"a string"',
        "[]",
        "42",
        '{"userinfo": []}',
        '{"id_token": "email"}',
        "null",
        "[" * 900 + "]" * 900,
    ],
    ids=[
        "malformed",
        "string",
        "array",
        "number",
        "userinfo-array",
        "id_token-string",
        "null",
        "deeply-nested",
    ],
)
def test_malformed_claims_parameter_is_invalid_request(oidc: OIDCActions, rp, raw: str) -> None:
    req = oidc.request(rp, extra={"claims": raw})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_empty_claims_parameter_is_treated_as_omitted(oidc: OIDCActions, rp) -> None:
    """RFC 6749 §3.1: parameters sent without a value are treated as omitted."""
    tokens = _tokens(oidc, rp, "")
    assert set(oidc.userinfo(tokens["access_token"]).get_json()) == {"sub"}
