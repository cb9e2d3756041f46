"""What the browser sees: security headers, login CSRF, the SSO cookie (security invariant 7)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, message_ids, query, row_counts


@pytest.fixture(autouse=True)
def alice(factory: Factory):
    return factory.account()


@pytest.mark.parametrize("path", ["/login", "/", "/logout", "/authorize"])
def test_pages_carry_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_login_page_has_one_form_with_username_password_and_csrf(client: FlaskClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.text.count("<form") == 1
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert page.text.count('type="submit"') == 1
    assert csrf_token(page.text)


def test_login_without_csrf_token_is_400(client: FlaskClient, oidc: OIDCActions, services) -> None:
    before = row_counts(services)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert message_ids(response.text) == ["csrf_failed"]
    assert oidc.session_cookie() is None
    assert row_counts(services) == before


def test_login_with_a_csrf_token_from_another_browser_is_400(
    client: FlaskClient, app, oidc: OIDCActions
) -> None:
    other = app.test_client()
    token = csrf_token(other.get("/login").text)
    client.get("/login")
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 400
    assert oidc.session_cookie() is None


def test_session_cookie_is_httponly_samesite_lax_and_host_wide(oidc: OIDCActions) -> None:
    response = oidc.sign_in()
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_session=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower() for part in cookies[0].split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in cookies[0].lower()
    assert "path=/" in cookies[0].lower()
    # http issuer in tests: no Secure flag (it would be dropped by the browser).
    assert "secure" not in attributes


@pytest.mark.settings(issuer="https://id.example.org")
def test_session_cookie_is_secure_behind_https(client: FlaskClient, oidc: OIDCActions) -> None:
    page = client.get("/login", base_url="https://id.example.org")
    response = client.post(
        "/login",
        base_url="https://id.example.org",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        headers={"Referer": "https://id.example.org/login"},
    )
    assert response.status_code == 303, response.text
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "idp_session=" in c)
    assert "Secure" in cookie
    # The lockout's device cookie too (docs/lockout.md).
    device = next(c for c in response.headers.getlist("Set-Cookie") if "idp_device=" in c)
    assert "Secure" in device and "HttpOnly" in device and "SameSite=Lax" in device
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_csrf_cookie_is_httponly_and_samesite_lax(client: FlaskClient) -> None:
    response = client.get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_csrf="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_id_is_rotated_at_each_sign_in(oidc: OIDCActions) -> None:
    oidc.sign_in()
    first = oidc.session_cookie()
    oidc.sign_in()
    second = oidc.session_cookie()
    assert first and second and first != second


def test_old_session_id_is_dead_after_a_new_sign_in(
    oidc: OIDCActions, client: FlaskClient, factory: Factory
) -> None:
    rp = factory.client(first_party=True)
    oidc.sign_in()
    first = oidc.session_cookie()
    oidc.sign_in()
    client.set_cookie("idp_session", first or "")
    req = oidc.request(rp, extra={"prompt": "none"})
    assert query(oidc.authorize(req).headers["Location"])["error"] == "login_required"


def test_planted_session_id_is_not_adopted(oidc: OIDCActions, client: FlaskClient) -> None:
    """Session fixation: a cookie set by an attacker before sign-in is replaced."""
    client.set_cookie("idp_session", "attacker-chosen-value")
    oidc.sign_in()
    assert oidc.session_cookie() != "attacker-chosen-value"


def test_login_with_wrong_password_sets_no_session(client: FlaskClient, oidc) -> None:
    response = oidc.login("/login", password="wrong password here")
    assert response.status_code == 401
    assert message_ids(response.text) == ["invalid_credentials"]
    assert oidc.session_cookie() is None


def test_login_with_missing_fields_is_400(client: FlaskClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"username": "alice", "password": "", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 400
    assert message_ids(response.text) == ["missing_fields"]


def test_login_for_an_expired_interaction_is_an_error_page(client: FlaskClient) -> None:
    response = client.get("/login", query_string={"i": "expired-or-made-up"})
    assert response.status_code == 400
    assert message_ids(response.text) == ["interaction_expired"]


def test_resume_for_an_unknown_interaction_is_an_error_page(client: FlaskClient) -> None:
    response = client.get("/authorize/resume", query_string={"i": "nope"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert message_ids(response.text) == ["interaction_expired"]
