"""Authorization codes: single use, short-lived, bound to client and redirect URI
(RFC 6749 §4.1.2, §4.1.3; security invariant 2; conformance oidcc-codereuse)."""

from __future__ import annotations

import pytest

from ..conftest import Factory
from ..helpers import MovableClock, OIDCActions, audit_types


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client(
        redirect_uris=["http://127.0.0.1:9000/callback", "http://127.0.0.1:9000/other"]
    )


def _error(response) -> str:
    assert response.status_code == 400, response.text
    return str(response.get_json()["error"])


def test_code_redeems_once(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    assert oidc.exchange(rp, req, code).status_code == 200
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"


def test_replayed_code_revokes_issued_tokens(oidc: OIDCActions, rp, services) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    first = oidc.exchange(rp, req, code).get_json()
    assert oidc.userinfo(first["access_token"]).status_code == 200

    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"

    assert oidc.userinfo(first["access_token"]).status_code == 401
    assert _error(oidc.refresh(rp, first["refresh_token"])) == "invalid_grant"
    assert oidc.introspect(rp, first["access_token"]).get_json() == {"active": False}
    assert oidc.introspect(rp, first["refresh_token"]).get_json() == {"active": False}
    assert "grant_revoked" in audit_types(services)


def test_code_replayed_thirty_seconds_later_still_revokes(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    """Conformance oidcc-codereuse-30seconds."""
    req = oidc.request(rp)
    code = oidc.code_for(req)
    first = oidc.exchange(rp, req, code).get_json()
    clock.advance(30)
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"
    assert oidc.userinfo(first["access_token"]).status_code == 401


def test_replay_revokes_tokens_refreshed_from_the_code(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    first = oidc.exchange(rp, req, code).get_json()
    refreshed = oidc.refresh(rp, first["refresh_token"]).get_json()
    assert oidc.userinfo(refreshed["access_token"]).status_code == 200

    oidc.exchange(rp, req, code)

    assert oidc.userinfo(refreshed["access_token"]).status_code == 401
    assert _error(oidc.refresh(rp, refreshed["refresh_token"])) == "invalid_grant"


def test_replay_does_not_touch_other_grants(oidc: OIDCActions, rp) -> None:
    other = oidc.tokens(rp)
    req = oidc.request(rp)
    code = oidc.code_for(req)
    oidc.exchange(rp, req, code)
    oidc.exchange(rp, req, code)
    assert oidc.userinfo(other["access_token"]).status_code == 200
    assert oidc.refresh(rp, other["refresh_token"]).status_code == 200


def test_code_is_bound_to_the_client(oidc: OIDCActions, factory: Factory, rp) -> None:
    thief = factory.client(name="Other Portal")
    req = oidc.request(rp)
    code = oidc.code_for(req)
    assert _error(oidc.exchange(thief, req, code)) == "invalid_grant"
    # A code shown to the wrong client is spent: the rightful client cannot use it either.
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"


def test_code_is_bound_to_the_redirect_uri(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    req.redirect_uri = "http://127.0.0.1:9000/other"  # registered, but not the one used
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"


def test_code_exchange_without_redirect_uri_is_refused(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": req.verifier}
    assert _error(oidc.token(rp, data)) == "invalid_grant"


@pytest.mark.parametrize("code", ["", "not-a-code", "x" * 600])
def test_unknown_code_is_invalid_grant(oidc: OIDCActions, rp, code: str) -> None:
    req = oidc.request(rp)
    response = oidc.exchange(rp, req, code)
    assert _error(response) in ("invalid_grant", "invalid_request")
    if code:
        assert _error(response) == "invalid_grant"


def test_code_expires_after_the_default_sixty_seconds(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    clock.advance(61)
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"


def test_code_is_good_within_its_lifetime(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    clock.advance(55)
    assert oidc.exchange(rp, req, code).status_code == 200


@pytest.mark.settings(tokens__code=10)
def test_code_expires_after_the_configured_ttl(oidc: OIDCActions, rp, clock: MovableClock) -> None:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    clock.advance(11)
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"
    req2 = oidc.request(rp)
    code2 = oidc.code_for(req2)
    clock.advance(9)
    assert oidc.exchange(rp, req2, code2).status_code == 200


def test_one_sign_in_cannot_mint_two_codes_from_one_resume_link(
    oidc: OIDCActions, rp, client
) -> None:
    req = oidc.request(rp)
    first = oidc.authorize(req)
    login = oidc.login(first.headers["Location"])
    resume = login.headers["Location"]
    consent = client.get(resume)
    done = oidc.follow_to_redirect(consent)
    assert "code" in done.headers["Location"]
    again = client.get(resume)
    assert again.status_code == 400
    assert "Location" not in again.headers
