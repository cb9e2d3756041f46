"""What portals receive and how clients and browsers authenticate (issue 8, item 11).

- Portals never receive the sign-in user ID (half the credential and the lockout
  key): no ``preferred_username`` in the ID token or UserInfo, even when asked for
  by the ``claims`` parameter, and no ``username`` from introspection, for public
  and pairwise subjects alike. No ``updated_at`` either: it was the time of the
  last password change.
- A client authenticating two ways in one request is refused (RFC 6749 §2.3).
- The SSO cookie ends with the browser unless the patient asks to stay signed in;
  the CSRF secret is new after sign-in.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie

import pytest
from flask.testing import FlaskClient

from ..conftest import ALL_SCOPES, PASSWORD, Factory
from ..helpers import OIDCActions, basic, csrf_token, jwt_claims

USER_ID = "gh-signin-7391"
ASK_EVERYTHING = json.dumps(
    {
        "id_token": {"preferred_username": None, "updated_at": None, "name": None},
        "userinfo": {"preferred_username": {"essential": True}, "updated_at": None},
    }
)


@pytest.mark.parametrize("subject_type", ["public", "pairwise"])
def test_portals_never_receive_the_user_id_or_password_change_time(
    oidc: OIDCActions, factory: Factory, subject_type: str
) -> None:
    factory.account(username=USER_ID, email="grace@example.test")
    rp = factory.client(subject_type=subject_type)
    req = oidc.request(rp, scope=ALL_SCOPES, extra={"claims": ASK_EVERYTHING})
    tokens = oidc.tokens(rp, req, username=USER_ID)
    id_token = jwt_claims(tokens["id_token"])
    info = oidc.userinfo(tokens["access_token"]).get_json()
    introspection = oidc.introspect(rp, tokens["access_token"]).get_json()
    assert introspection["active"] is True
    assert id_token["name"] == "Alice Smith" and info["given_name"] == "Alice"
    for answer in (id_token, info, introspection):
        assert not {"preferred_username", "updated_at", "username"} & set(answer)
        assert USER_ID not in json.dumps(answer)


def test_discovery_does_not_offer_the_withheld_claims(oidc: OIDCActions) -> None:
    supported = set(oidc.discovery()["claims_supported"])
    assert "name" in supported
    assert not {"preferred_username", "updated_at"} & supported


# --- RFC 6749 §2.3: one client authentication method per request ------------------------


def _two_ways(factory: Factory) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    rp = factory.client()
    secret = factory.secrets[rp.client_id]
    assertion = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    }
    return [
        ("basic+body-secret", basic(rp.client_id, secret), {"client_secret": secret}),
        ("basic+assertion", basic(rp.client_id, secret), assertion),
        (
            "body-secret+assertion",
            {},
            {"client_id": rp.client_id, "client_secret": secret, **assertion},
        ),
    ]


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_two_client_authentications_in_one_request_are_invalid_request(
    client: FlaskClient, factory: Factory, path: str
) -> None:
    for name, headers, extra in _two_ways(factory):
        data = {"grant_type": "client_credentials", "token": "x", **extra}
        response = client.post(path, data=data, headers=headers)
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert response.get_json()["error"] == "invalid_request", name


def test_one_authentication_with_client_id_in_the_body_is_fine(
    client: FlaskClient, factory: Factory
) -> None:
    rp = factory.client()
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": rp.client_id},
        headers=basic(rp.client_id, factory.secrets[rp.client_id]),
    )
    assert response.status_code == 200, response.text


# --- the SSO cookie and the CSRF secret ----------------------------------------------------


def _sign_in(client: FlaskClient, **extra: str):
    page = client.get("/login")
    data = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    response = client.post("/login", data={**data, **extra})
    assert response.status_code == 303, response.text
    return page, response


def _sso_cookie(response) -> SimpleCookie:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("idp_session="):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            return jar
    raise AssertionError("no idp_session cookie set")


def test_sso_cookie_ends_with_the_browser_by_default(client: FlaskClient, factory: Factory) -> None:
    factory.account()
    page, response = _sign_in(client)
    assert 'name="remember"' in page.text and "Keep me signed in on this device" in page.text
    morsel = _sso_cookie(response)["idp_session"]
    assert morsel["max-age"] == "" and morsel["expires"] == ""
    assert morsel["httponly"] and morsel["samesite"] == "Lax"


def test_keep_me_signed_in_makes_it_last_up_to_the_absolute_timeout(
    client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    _, response = _sign_in(client, remember="yes")
    morsel = _sso_cookie(response)["idp_session"]
    absolute = client.application.extensions["idp"].settings.session.absolute_timeout
    assert morsel["max-age"] == str(absolute)


def test_csrf_tokens_from_before_sign_in_stop_working_after_it(
    client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    page, _ = _sign_in(client)
    stale = csrf_token(page.text)
    refused = client.post("/account/sessions/end-all", data={"csrf_token": stale})
    assert refused.status_code == 400
    assert 'data-message-id="csrf_failed"' in refused.text
    fresh = csrf_token(client.get("/account/sessions").text)
    assert fresh != stale
    assert client.post("/account/sessions/end-all", data={"csrf_token": fresh}).status_code == 303
