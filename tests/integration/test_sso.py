"""Single sign-on across portals and remembered consent (OIDC Core §3.1.2.3–4)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, assert_error_redirect, audit_types, query, row_counts

PORTAL_B = "http://portal-b.test/callback"


@pytest.fixture(autouse=True)
def alice(factory: Factory):
    return factory.account()


def _direct_code(oidc: OIDCActions, rp, **kw) -> str:
    """Authorize and expect a code straight away: no login page, no consent page."""
    req = oidc.request(rp, **kw)
    response = oidc.authorize(req)
    assert response.status_code == 302, response.headers.get("Location")
    params = query(response.headers["Location"])
    assert "code" in params, params
    assert oidc.exchange(rp, req, params["code"]).status_code == 200
    return params["code"]


def test_second_first_party_portal_gets_a_code_without_login(
    oidc: OIDCActions, factory: Factory
) -> None:
    a = factory.client(name="Portal A", first_party=True)
    b = factory.client(name="Portal B", redirect_uris=[PORTAL_B], first_party=True)
    oidc.tokens(a)
    _direct_code(oidc, b)


def test_second_portal_asks_for_consent_but_not_for_login(
    oidc: OIDCActions, factory: Factory
) -> None:
    a = factory.client(name="Portal A")
    b = factory.client(name="Portal B", redirect_uris=[PORTAL_B])
    oidc.tokens(a)
    response = oidc.authorize(oidc.request(b))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/consent?")
    done = oidc.follow_to_redirect(response, login=False)
    assert "code" in query(done.headers["Location"])


def test_consent_is_remembered_per_client(oidc: OIDCActions, factory: Factory) -> None:
    a = factory.client(name="Portal A")
    b = factory.client(name="Portal B", redirect_uris=[PORTAL_B])
    oidc.tokens(a)
    _direct_code(oidc, a)
    response = oidc.authorize(oidc.request(b))
    assert response.headers["Location"].startswith("/consent?")


def test_consent_is_remembered_per_scope(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    oidc.tokens(rp, oidc.request(rp, scope="openid email"))
    _direct_code(oidc, rp, scope="openid email")
    _direct_code(oidc, rp, scope="openid")
    response = oidc.authorize(oidc.request(rp, scope="openid email phone"))
    assert response.headers["Location"].startswith("/consent?")
    oidc.follow_to_redirect(response)
    _direct_code(oidc, rp, scope="openid phone")


def test_consent_page_lists_only_scopes_the_client_may_have(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client(scope="openid email")
    oidc.sign_in()
    response = oidc.authorize(oidc.request(rp, scope="openid email phone"))
    page = client.get(response.headers["Location"])
    assert re.findall(r'data-scope="([^"]+)"', page.text) == ["openid", "email"]
    assert re.search(r'<button type="submit" name="decision" value="allow">', page.text)


def test_first_party_client_skips_consent(oidc: OIDCActions, factory: Factory, services) -> None:
    rp = factory.client(first_party=True)
    oidc.sign_in()
    _direct_code(oidc, rp)
    assert row_counts(services)["consents"] == 0


def test_prompt_consent_asks_again(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    oidc.tokens(rp)
    req = oidc.request(rp, extra={"prompt": "consent"})
    response = oidc.authorize(req)
    assert response.headers["Location"].startswith("/consent?")
    done = oidc.follow_to_redirect(response)
    assert query(done.headers["Location"])["state"] == req.state


def test_denying_consent_is_access_denied(oidc: OIDCActions, factory: Factory, services) -> None:
    rp = factory.client()
    oidc.sign_in()
    req = oidc.request(rp)
    response = oidc.authorize(req)
    denied = oidc.consent(response.headers["Location"], decision="deny")
    params = assert_error_redirect(denied, REDIRECT_URI, "access_denied", state=req.state)
    assert params["iss"] == oidc.issuer()
    assert row_counts(services)["consents"] == 0
    assert "consent" in audit_types(services)


def test_consent_without_csrf_token_is_refused(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    rp = factory.client()
    oidc.sign_in()
    location = oidc.authorize(oidc.request(rp)).headers["Location"]
    interaction = query(location)["i"]
    response = client.post("/consent", data={"decision": "allow", "i": interaction})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert row_counts(services)["consents"] == 0


def test_consent_for_an_unknown_interaction_is_an_error_page(
    oidc: OIDCActions, client: FlaskClient
) -> None:
    response = client.get("/consent", query_string={"i": "no-such-interaction"})
    assert response.status_code == 400
    assert 'data-message-id="interaction_expired"' in response.text
    # Signed in, a malformed id is still bad input.
    oidc.sign_in()
    response = client.get("/consent", query_string={"i": "not/an id"})
    assert response.status_code == 400


def test_a_signed_in_browser_coming_back_to_a_used_request_lands_on_the_signed_in_page(
    oidc: OIDCActions, client: FlaskClient
) -> None:
    """Issue 14 item 7: the Back button after signing in lands somewhere useful."""
    oidc.sign_in()
    for path in ("/consent", "/login"):
        response = client.get(path, query_string={"i": "used-or-expired-interaction-id"})
        assert response.status_code == 303 and response.headers["Location"] == "/"
    assert 'data-message-id="signed_in"' in client.get("/").text


def test_sso_session_is_per_browser(oidc: OIDCActions, factory: Factory, app) -> None:
    rp = factory.client(first_party=True)
    oidc.tokens(rp)
    other_browser = OIDCActions(app.test_client(), factory)
    req = other_browser.request(rp, extra={"prompt": "none"})
    assert_error_redirect(other_browser.authorize(req), REDIRECT_URI, "login_required")


def test_disabled_account_loses_its_sso_session(
    oidc: OIDCActions, factory: Factory, services
) -> None:
    rp = factory.client(first_party=True)
    oidc.tokens(rp)
    with services.db.transaction() as uow:
        alice = uow.accounts.by_username("alice")
        uow.accounts.set_status(alice.id, "disabled", now=datetime.now(UTC))
    req = oidc.request(rp, extra={"prompt": "none"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required")
