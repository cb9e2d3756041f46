"""prompt and max_age (OIDC Core §3.1.2.1, §3.1.2.3, §3.1.2.6; conformance prompt-*, max-age-*)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import REDIRECT_URI, Factory
from ..helpers import MovableClock, OIDCActions, assert_error_redirect, query


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def _auth_time(oidc: OIDCActions, rp, tokens: dict) -> int:
    return int(oidc.id_token(tokens["id_token"], rp).claims["auth_time"])


def test_prompt_none_not_signed_in_is_login_required(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"prompt": "none"})
    params = assert_error_redirect(
        oidc.authorize(req), REDIRECT_URI, "login_required", state=req.state
    )
    assert params["iss"] == oidc.issuer()


def test_prompt_none_signed_in_with_consent_returns_a_code(oidc: OIDCActions, rp) -> None:
    oidc.tokens(rp)  # signs in and consents
    req = oidc.request(rp, extra={"prompt": "none"})
    response = oidc.authorize(req)
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert params["state"] == req.state
    assert oidc.exchange(rp, req, params["code"]).status_code == 200


def test_prompt_none_signed_in_without_consent_is_consent_required(oidc: OIDCActions, rp) -> None:
    oidc.sign_in()
    req = oidc.request(rp, extra={"prompt": "none"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "consent_required", state=req.state)


def test_prompt_none_with_more_scopes_than_consented_is_consent_required(
    oidc: OIDCActions, rp
) -> None:
    oidc.tokens(rp, oidc.request(rp, scope="openid"))
    req = oidc.request(rp, scope="openid email", extra={"prompt": "none"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "consent_required", state=req.state)


def test_prompt_none_for_first_party_client_needs_no_consent(
    oidc: OIDCActions, factory: Factory
) -> None:
    factory.account()
    rp = factory.client(first_party=True)
    oidc.sign_in()
    req = oidc.request(rp, extra={"prompt": "none"})
    assert "code" in query(oidc.authorize(req).headers["Location"])


def test_prompt_login_forces_a_new_sign_in_and_a_later_auth_time(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    first = oidc.tokens(rp)
    first_auth = _auth_time(oidc, rp, first)
    clock.advance(5)
    req = oidc.request(rp, extra={"prompt": "login"})
    response = oidc.authorize(req)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?")
    second = oidc.tokens(rp, req)
    assert _auth_time(oidc, rp, second) >= first_auth + 5


def test_prompt_login_does_not_loop_after_signing_in(oidc: OIDCActions, rp) -> None:
    oidc.sign_in()
    req = oidc.request(rp, extra={"prompt": "login"})
    response = oidc.follow_to_redirect(oidc.authorize(req))
    assert "code" in query(response.headers["Location"])


def test_prompt_login_is_not_satisfied_by_someone_elses_sign_in(
    oidc: OIDCActions, rp, client: FlaskClient
) -> None:
    """The sign-in must happen in this interaction, after the request arrived."""
    oidc.tokens(rp)
    req = oidc.request(rp, extra={"prompt": "login"})
    login_page = oidc.authorize(req).headers["Location"]
    oidc.sign_in()  # a sign-in on another tab, not for this request
    response = client.get(login_page.replace("/login", "/authorize/resume"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?")


def test_max_age_1_after_more_than_a_second_forces_sign_in(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    first = oidc.tokens(rp)
    first_auth = _auth_time(oidc, rp, first)
    clock.advance(2)
    req = oidc.request(rp, extra={"max_age": "1"})
    response = oidc.authorize(req)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?")
    second = oidc.tokens(rp, req)
    assert _auth_time(oidc, rp, second) >= first_auth + 2


def test_max_age_10000_does_not_force_sign_in(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    first = oidc.tokens(rp)
    clock.advance(120)
    req = oidc.request(rp, extra={"max_age": "10000"})
    response = oidc.authorize(req)
    assert response.status_code == 302
    code = query(response.headers["Location"])["code"]
    second = oidc.exchange(rp, req, code).get_json()
    assert _auth_time(oidc, rp, second) == _auth_time(oidc, rp, first)


def test_max_age_0_always_forces_sign_in(oidc: OIDCActions, rp) -> None:
    oidc.tokens(rp)
    response = oidc.authorize(oidc.request(rp, extra={"max_age": "0"}))
    assert response.headers["Location"].startswith("/login?")


def test_prompt_none_with_stale_max_age_is_login_required(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    oidc.tokens(rp)
    clock.advance(5)
    req = oidc.request(rp, extra={"prompt": "none", "max_age": "1"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required", state=req.state)


def test_auth_time_is_the_time_of_sign_in(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    before = int(clock().timestamp())
    tokens = oidc.tokens(rp)
    after = int(clock().timestamp())
    assert before <= _auth_time(oidc, rp, tokens) <= after


def test_auth_time_stays_with_the_session_for_later_codes(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    first = oidc.tokens(rp)
    clock.advance(60)
    second = oidc.tokens(rp)
    assert _auth_time(oidc, rp, second) == _auth_time(oidc, rp, first)


def test_prompt_consent_asks_again(oidc: OIDCActions, rp) -> None:
    oidc.tokens(rp)
    req = oidc.request(rp, extra={"prompt": "consent"})
    response = oidc.authorize(req)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/consent?")


def test_prompt_consent_for_first_party_client_skips_consent(
    oidc: OIDCActions, factory: Factory
) -> None:
    """First-party portals are the provider's own; there is nothing to approve."""
    factory.account()
    rp = factory.client(first_party=True)
    oidc.sign_in()
    response = oidc.authorize(oidc.request(rp, extra={"prompt": "consent"}))
    assert "code" in query(response.headers["Location"])


def test_idle_session_needs_a_new_sign_in(
    oidc: OIDCActions, rp, clock: MovableClock, settings
) -> None:
    oidc.tokens(rp)
    clock.advance(settings.session.idle_timeout + 1)
    req = oidc.request(rp, extra={"prompt": "none"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required")


def test_session_ends_at_its_absolute_timeout_even_when_used(
    oidc: OIDCActions, rp, clock: MovableClock, settings
) -> None:
    oidc.tokens(rp)
    step = settings.session.idle_timeout - 60
    elapsed = 0
    while elapsed + step < settings.session.absolute_timeout:
        clock.advance(step)
        elapsed += step
        assert "code" in query(
            oidc.authorize(oidc.request(rp, extra={"prompt": "none"})).headers["Location"]
        )
    clock.advance(settings.session.absolute_timeout - elapsed + 1)
    req = oidc.request(rp, extra={"prompt": "none"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "login_required")
