"""RP-Initiated Logout 1.0 (conformance RP-Initiated OP) and ending the SSO session."""

from __future__ import annotations

import base64
import json
import re

import pytest
from flask.testing import FlaskClient

from ..conftest import LOGOUT_URI, Factory
from ..helpers import (
    OIDCActions,
    assert_error_page,
    audit_types,
    csrf_token,
    message_ids,
    query,
)


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def _signed_in(oidc: OIDCActions, rp) -> bool:
    """Does this browser still have an SSO session (prompt=none answers without login)?"""
    response = oidc.authorize(oidc.request(rp, extra={"prompt": "none"}))
    params = query(response.headers["Location"])
    assert "code" in params or params.get("error") in ("login_required", "consent_required")
    return params.get("error") != "login_required"


def _logout(client: FlaskClient, **params: str):
    return client.get("/logout", query_string=params)


def test_logout_with_hint_redirects_to_registered_uri_with_state_and_ends_session(
    oidc: OIDCActions, client: FlaskClient, rp, services
) -> None:
    tokens = oidc.tokens(rp)
    assert _signed_in(oidc, rp)
    response = _logout(
        client,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri=LOGOUT_URI,
        state="bye-123",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI + "?state=bye-123"
    assert not _signed_in(oidc, rp)
    assert "logout" in audit_types(services)


def test_logout_by_post_works_like_get(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    tokens = oidc.tokens(rp)
    response = client.post(
        "/logout",
        data={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGOUT_URI},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI
    assert not _signed_in(oidc, rp)


def test_logout_without_state_redirects_without_state(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    tokens = oidc.tokens(rp)
    response = _logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LOGOUT_URI
    )
    assert response.headers["Location"] == LOGOUT_URI


def test_logout_clears_the_session_cookie(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    tokens = oidc.tokens(rp)
    assert oidc.session_cookie()
    _logout(client, id_token_hint=tokens["id_token"])
    assert oidc.session_cookie() is None


def test_logout_ends_the_session_server_side(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    """A copy of the old cookie is worthless after logout (ASVS 7.4.1)."""
    tokens = oidc.tokens(rp)
    old_cookie = oidc.session_cookie()
    assert old_cookie
    _logout(client, id_token_hint=tokens["id_token"])
    client.set_cookie("idp_session", old_cookie)
    assert not _signed_in(oidc, rp)


def test_logout_ends_sso_for_every_portal(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, rp
) -> None:
    other = factory.client(name="Portal B", first_party=True)
    tokens = oidc.tokens(rp)
    assert _signed_in(oidc, other)
    _logout(client, id_token_hint=tokens["id_token"])
    assert not _signed_in(oidc, other)


def test_hint_without_post_logout_redirect_uri_shows_the_logged_out_page(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    tokens = oidc.tokens(rp)
    response = _logout(client, id_token_hint=tokens["id_token"], state="s")
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert message_ids(response.text) == ["signed_out"]
    assert not _signed_in(oidc, rp)


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/signed-out",
        LOGOUT_URI + "?extra=1",
        LOGOUT_URI + "/",
        LOGOUT_URI.upper(),
    ],
)
def test_unregistered_post_logout_redirect_uri_is_not_redirected_to(
    oidc: OIDCActions, client: FlaskClient, rp, uri: str
) -> None:
    tokens = oidc.tokens(rp)
    response = _logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri, state="s"
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert message_ids(response.text) == ["signed_out"]


def test_redirect_uri_of_another_client_is_not_redirected_to(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, rp
) -> None:
    factory.client(name="Other", post_logout_redirect_uris=["https://other.example/bye"])
    tokens = oidc.tokens(rp)
    response = _logout(
        client,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri="https://other.example/bye",
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert message_ids(response.text) == ["signed_out"]


def test_confirmed_logout_without_hint_does_not_redirect(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    """RP-Initiated Logout §3: without an id_token_hint nothing proves the RP asked."""
    oidc.tokens(rp)
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_URI, "state": "s"}
    page = _logout(client, **params)
    response = client.post(
        "/logout", data={**params, "decision": "logout", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert message_ids(response.text) == ["signed_out"]
    assert not _signed_in(oidc, rp)


def _tamper(id_token: str) -> str:
    header, payload, signature = id_token.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    return ".".join([header, payload, signature[:5] + flipped + signature[6:]])


@pytest.mark.parametrize(
    "hint",
    [
        "tampered",
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ],
)
def test_modified_or_bad_id_token_hint_is_an_error_page_and_keeps_the_session(
    oidc: OIDCActions, client: FlaskClient, rp, hint: str
) -> None:
    tokens = oidc.tokens(rp)
    if hint == "tampered":
        hint = _tamper(tokens["id_token"])
    response = _logout(client, id_token_hint=hint, post_logout_redirect_uri=LOGOUT_URI, state="s")
    assert_error_page(response, "invalid_logout_request")
    assert _signed_in(oidc, rp)


def test_hint_with_a_modified_payload_is_refused(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    tokens = oidc.tokens(rp)
    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = _logout(client, id_token_hint=f"{header}.{forged}.{signature}")
    assert_error_page(response, "invalid_logout_request")
    assert _signed_in(oidc, rp)


def test_client_id_not_matching_the_hint_audience_is_refused(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, rp
) -> None:
    other = factory.client(name="Other")
    tokens = oidc.tokens(rp)
    response = _logout(
        client,
        id_token_hint=tokens["id_token"],
        client_id=other.client_id,
        post_logout_redirect_uri=LOGOUT_URI,
    )
    assert_error_page(response, "invalid_logout_request")
    assert _signed_in(oidc, rp)


def _confirmation_form(html: str) -> str:
    form = re.search(r'<form method="post" action="/logout">.*?</form>', html, re.S)
    assert form, html
    return form.group(0)


def test_logout_without_hint_asks_for_confirmation(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    oidc.tokens(rp)
    response = _logout(client, post_logout_redirect_uri=LOGOUT_URI, client_id=rp.client_id)
    assert response.status_code == 200
    assert "Location" not in response.headers
    form = _confirmation_form(response.text)
    assert re.search(r'<button type="submit" name="decision" value="logout">', form), form
    assert 'name="csrf_token"' in form
    # Nothing happened yet.
    assert _signed_in(oidc, rp)


def test_posting_the_confirmation_logs_out(oidc: OIDCActions, client: FlaskClient, rp) -> None:
    oidc.tokens(rp)
    page = _logout(client)
    response = client.post(
        "/logout", data={"decision": "logout", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200
    assert message_ids(response.text) == ["signed_out"]
    assert not _signed_in(oidc, rp)


def test_confirmation_without_csrf_token_is_refused(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    oidc.tokens(rp)
    response = client.post("/logout", data={"decision": "logout"})
    assert_error_page(response, "csrf_failed")
    assert _signed_in(oidc, rp)


def test_confirmation_with_a_forged_csrf_token_is_refused(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    oidc.tokens(rp)
    response = client.post("/logout", data={"decision": "logout", "csrf_token": "forged"})
    assert_error_page(response, "csrf_failed")
    assert _signed_in(oidc, rp)


def test_confirmation_keeps_the_request_parameters(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    oidc.tokens(rp)
    page = _logout(client, client_id=rp.client_id, state="keep-me", ui_locales="en")
    form = _confirmation_form(page.text)
    assert 'name="state" value="keep-me"' in form
    assert f'name="client_id" value="{rp.client_id}"' in form


def test_no_params_and_no_session_shows_the_logged_out_page(client: FlaskClient) -> None:
    response = _logout(client)
    assert response.status_code == 200
    assert message_ids(response.text) == ["signed_out"]


def test_logout_with_hint_when_already_signed_out_still_redirects(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    tokens = oidc.tokens(rp)
    _logout(client, id_token_hint=tokens["id_token"])
    response = _logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LOGOUT_URI, state="2"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI + "?state=2"


def test_hint_for_another_user_asks_before_ending_this_session(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, rp, app
) -> None:
    """Anyone holding some ID token must not be able to sign this browser out silently."""
    factory.account("bob")
    bob_browser = app.test_client()
    bob = OIDCActions(bob_browser, factory)
    bob_tokens = bob.tokens(rp, username="bob")
    oidc.tokens(rp)  # alice, in this browser
    response = _logout(
        client, id_token_hint=bob_tokens["id_token"], post_logout_redirect_uri=LOGOUT_URI
    )
    assert response.status_code == 200
    _confirmation_form(response.text)
    assert _signed_in(oidc, rp)


def test_repeated_logout_parameter_is_an_error_page(
    oidc: OIDCActions, client: FlaskClient, rp
) -> None:
    tokens = oidc.tokens(rp)
    response = client.get(
        "/logout",
        query_string=[
            ("id_token_hint", tokens["id_token"]),
            ("post_logout_redirect_uri", LOGOUT_URI),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
    )
    assert_error_page(response, "repeated_parameter")
    assert _signed_in(oidc, rp)
