"""UserInfo (OIDC Core §5.3, §5.4) with bearer tokens (RFC 6750 §2.1, §2.2, §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient

from ..conftest import ALL_SCOPES, Factory
from ..helpers import MovableClock, OIDCActions, bearer

PROFILE = {
    "name",
    "given_name",
    "family_name",
    "gender",
    "birthdate",
}
EMAIL = {"email", "email_verified"}
PHONE = {"phone_number", "phone_number_verified"}
ADDRESS = {"address"}


@pytest.fixture
def rp(factory: Factory):
    factory.account(phone="+1 617 555 0100", dob=date(1980, 1, 2))
    return factory.client()


def _userinfo(oidc: OIDCActions, rp, scope: str, how: str = "get") -> dict:
    tokens = oidc.tokens(rp, oidc.request(rp, scope=scope))
    response = oidc.userinfo(tokens["access_token"], how=how)
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid", set()),
        ("openid profile", PROFILE),
        ("openid email", EMAIL),
        ("openid phone", PHONE),
        ("openid address", ADDRESS),
        (ALL_SCOPES, PROFILE | EMAIL | PHONE | ADDRESS),
    ],
    ids=["openid", "profile", "email", "phone", "address", "all"],
)
def test_each_scope_returns_its_standard_claims(
    oidc: OIDCActions, rp, scope: str, expected: set[str]
) -> None:
    info = _userinfo(oidc, rp, scope)
    assert set(info) == {"sub"} | expected


def test_claim_values_come_from_the_account(oidc: OIDCActions, rp) -> None:
    info = _userinfo(oidc, rp, ALL_SCOPES)
    assert info["name"] == "Alice Smith"
    assert info["given_name"] == "Alice"
    assert info["family_name"] == "Smith"
    assert info["gender"] == "female"
    assert info["birthdate"] == "1980-01-02"
    assert info["email"] == "alice@example.test"
    assert info["email_verified"] is True
    assert info["phone_number"] == "+1 617 555 0100"
    assert info["phone_number_verified"] is False
    assert info["address"] == {"postal_code": "02139", "country": "US"}


@pytest.mark.parametrize("how", ["get", "post", "body"])
def test_userinfo_by_get_post_header_and_post_body(oidc: OIDCActions, rp, how: str) -> None:
    req = oidc.request(rp, scope="openid email")
    tokens = oidc.tokens(rp, req)
    sub = oidc.id_token(tokens["id_token"], rp).claims["sub"]
    response = oidc.userinfo(tokens["access_token"], how=how)
    assert response.status_code == 200, response.text
    assert response.get_json() == {
        "sub": sub,
        "email": "alice@example.test",
        "email_verified": True,
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_no_token_is_401_with_a_bearer_challenge_and_no_error_code(client: FlaskClient) -> None:
    """RFC 6750 §3.1: without credentials, the challenge carries no error code."""
    for response in (client.get("/userinfo"), client.post("/userinfo")):
        assert response.status_code == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer")
        assert "error=" not in challenge
        assert "error" not in response.get_json()


@pytest.mark.parametrize("how", ["get", "post", "body"])
def test_bad_token_is_401_invalid_token(oidc: OIDCActions, how: str) -> None:
    response = oidc.userinfo("not-a-real-token", how=how)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_token_in_the_query_string_is_not_accepted(
    oidc: OIDCActions, rp, client: FlaskClient
) -> None:
    """RFC 6750 §2.3 is refused: URLs end up in logs."""
    tokens = oidc.tokens(rp)
    response = client.get("/userinfo", query_string={"access_token": tokens["access_token"]})
    assert response.status_code == 401


def test_refresh_token_is_not_an_access_token(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    assert oidc.userinfo(tokens["refresh_token"]).status_code == 401


def test_id_token_is_not_an_access_token(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    assert oidc.userinfo(tokens["id_token"]).status_code == 401


def test_expired_access_token_is_401(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    tokens = oidc.tokens(rp)
    clock.advance(601)
    response = oidc.userinfo(tokens["access_token"])
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_access_token_is_good_until_it_expires(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    tokens = oidc.tokens(rp)
    clock.advance(590)
    assert oidc.userinfo(tokens["access_token"]).status_code == 200


def test_token_without_openid_scope_is_refused(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    factory.account()
    rp = factory.client()
    tokens = oidc.tokens(rp, oidc.request(rp, scope="profile email"))
    assert "id_token" not in tokens
    response = client.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_disabled_account_gets_no_userinfo(oidc: OIDCActions, rp, services) -> None:
    tokens = oidc.tokens(rp)
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("alice")
        uow.accounts.set_status(account.id, "disabled", now=datetime.now(UTC))
    assert oidc.userinfo(tokens["access_token"]).status_code == 401
