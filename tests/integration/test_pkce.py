"""PKCE (RFC 7636) with S256 on every authorization code (security invariant 2)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, assert_error_redirect, pkce_pair


@pytest.fixture(autouse=True)
def alice(factory: Factory):
    return factory.account()


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_authorization_without_code_challenge_is_refused(
    oidc: OIDCActions, factory: Factory, public: bool
) -> None:
    rp = factory.client(public=public)
    req = oidc.request(rp, extra={"code_challenge": None, "code_challenge_method": None})
    response = oidc.follow_to_redirect(oidc.authorize(req))
    assert_error_redirect(response, REDIRECT_URI, "invalid_request", state=req.state)


def test_code_challenge_method_plain_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    verifier, _ = pkce_pair()
    req = oidc.request(rp, extra={"code_challenge": verifier, "code_challenge_method": "plain"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_code_challenge_without_method_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    """RFC 7636 §4.3: no method means plain, which we refuse."""
    rp = factory.client()
    req = oidc.request(rp, extra={"code_challenge_method": None})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


@pytest.mark.parametrize("challenge", ["abc", "x" * 129, "a" * 42 + "!"])
def test_malformed_code_challenge_is_refused(
    oidc: OIDCActions, factory: Factory, challenge: str
) -> None:
    rp = factory.client()
    req = oidc.request(rp, extra={"code_challenge": challenge})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_correct_verifier_redeems_the_code(
    oidc: OIDCActions, factory: Factory, public: bool
) -> None:
    rp = factory.client(public=public)
    assert oidc.tokens(rp)["access_token"]


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_wrong_verifier_is_invalid_grant(oidc: OIDCActions, factory: Factory, public: bool) -> None:
    rp = factory.client(public=public)
    req = oidc.request(rp)
    code = oidc.code_for(req)
    other_verifier, _ = pkce_pair()
    req.verifier = other_verifier
    response = oidc.exchange(rp, req, code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_wrong_verifier_burns_the_code(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    req = oidc.request(rp)
    code = oidc.code_for(req)
    right = req.verifier
    req.verifier, _ = pkce_pair()
    assert oidc.exchange(rp, req, code).status_code == 400
    req.verifier = right
    response = oidc.exchange(rp, req, code)
    assert response.get_json()["error"] == "invalid_grant"


def test_verifier_equal_to_the_challenge_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    """Sending the challenge itself as the verifier (a plain downgrade) fails."""
    rp = factory.client()
    req = oidc.request(rp)
    code = oidc.code_for(req)
    req.verifier = req.challenge
    assert oidc.exchange(rp, req, code).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_missing_verifier_is_refused(oidc: OIDCActions, factory: Factory, public: bool) -> None:
    rp = factory.client(public=public)
    req = oidc.request(rp)
    code = oidc.code_for(req)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": req.redirect_uri}
    response = oidc.token(rp, data)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_malformed_verifier_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    req = oidc.request(rp)
    code = oidc.code_for(req)
    req.verifier = "short"
    assert oidc.exchange(rp, req, code).get_json()["error"] == "invalid_request"


def test_pkce_optional_client_can_run_without_pkce(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(pkce_required=False)
    req = oidc.request(rp, extra={"code_challenge": None, "code_challenge_method": None})
    code = oidc.code_for(req)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": req.redirect_uri}
    response = oidc.token(rp, data)
    assert response.status_code == 200, response.text
    assert response.get_json()["id_token"]


def test_pkce_optional_client_may_still_use_pkce(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(pkce_required=False)
    assert oidc.tokens(rp)["access_token"]
    req = oidc.request(rp)
    code = oidc.code_for(req)
    req.verifier, _ = pkce_pair()
    assert oidc.exchange(rp, req, code).get_json()["error"] == "invalid_grant"


def test_pkce_optional_client_still_cannot_use_plain(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(pkce_required=False)
    verifier, _ = pkce_pair()
    req = oidc.request(rp, extra={"code_challenge": verifier, "code_challenge_method": "plain"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_verifier_without_challenge_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    """RFC 9700 §4.8.2: a code_verifier for a code issued without a challenge fails."""
    rp = factory.client(pkce_required=False)
    req = oidc.request(rp, extra={"code_challenge": None, "code_challenge_method": None})
    code = oidc.code_for(req)
    response = oidc.exchange(rp, req, code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_padded_s256_challenge_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    """RFC 7636 §4.2: the challenge is base64url *without* padding."""
    rp = factory.client()
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    assert challenge.endswith("=")
    req = oidc.request(rp, verifier=verifier, challenge=challenge)
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)
