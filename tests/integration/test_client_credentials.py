"""The client credentials grant (RFC 6749 §4.4): confidential clients only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import PG_URL, Factory
from ..helpers import OIDCActions, audit_types, basic, bearer, row_counts


def _grant(oidc: OIDCActions, rp, *, auth: str = "basic", scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return oidc.token(rp, data, auth=auth)


def test_confidential_client_gets_an_access_token(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client()
    response = _grant(oidc, rp, scope="profile")
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "profile"
    # No user: no refresh token and no ID token.
    assert "refresh_token" not in body
    assert "id_token" not in body


def test_client_credentials_token_introspects_without_a_subject(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client()
    token = _grant(oidc, rp, scope="profile").get_json()["access_token"]
    info = oidc.introspect(rp, token).get_json()
    assert info["active"] is True
    assert info["client_id"] == rp.client_id
    assert "sub" not in info


def test_client_credentials_token_gets_no_userinfo(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client()
    token = _grant(oidc, rp, scope="openid profile").get_json()["access_token"]
    response = client.get("/userinfo", headers=bearer(token))
    assert response.status_code == 401, response.text
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_public_client_is_refused(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(public=True)
    response = _grant(oidc, rp, auth="none")
    assert response.status_code in (400, 401), response.text
    assert response.get_json()["error"] == "invalid_client"


def test_confidential_client_without_a_secret_is_refused(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client()
    response = _grant(oidc, rp, auth="none")
    assert response.get_json()["error"] == "invalid_client"


def test_wrong_secret_is_refused(factory: Factory, client: FlaskClient) -> None:
    rp = factory.client()
    response = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(rp.client_id, "nope")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_client_without_the_grant_is_unauthorized_client(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client(grant_types=["authorization_code", "refresh_token"])
    response = _grant(oidc, rp)
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_scope_outside_the_clients_registration_is_not_granted(
    oidc: OIDCActions, factory: Factory
) -> None:
    """RFC 6749 §3.3: the server may grant less than asked and says so in ``scope``."""
    rp = factory.client(scope="openid profile")
    response = _grant(oidc, rp, scope="profile email")
    assert response.status_code == 200
    assert response.get_json()["scope"] == "profile"


@pytest.mark.parametrize("auth", ["post", "basic"])
def test_only_the_registered_method_authenticates(
    oidc: OIDCActions, factory: Factory, auth: str
) -> None:
    rp = factory.client(token_endpoint_auth_method="client_secret_post")
    response = _grant(oidc, rp, auth=auth)
    if auth == "post":
        assert response.status_code == 200, response.text
    else:
        assert response.get_json()["error"] == "invalid_client"


def test_client_credentials_writes_only_an_audit_event(
    oidc: OIDCActions, factory: Factory, services
) -> None:
    rp = factory.client()
    before = row_counts(services)
    assert _grant(oidc, rp).status_code == 200
    after = row_counts(services)
    assert after["refresh_tokens"] == before["refresh_tokens"]
    assert after["audit_events"] == before["audit_events"] + 1


@pytest.mark.parametrize("scope", ['profile "x"', "profile\\x", "pro\u00effile"])
def test_malformed_scope_is_invalid_scope(oidc: OIDCActions, factory: Factory, scope: str) -> None:
    rp = factory.client()
    response = _grant(oidc, rp, scope=scope)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_token_whose_audit_event_did_not_commit_is_deleted(
    oidc: OIDCActions, factory: Factory, services, monkeypatch
) -> None:
    """The token is stored before its audit event commits; when that commit fails
    (the database went away) the answer is a 503 and the token is gone, so no
    unaudited token can ever be used (security invariants 9 and 10)."""
    from idp.errors import UnavailableError
    from idp.store.sql import audit_chain

    rp = factory.client()
    saved: list[str] = []
    save = services.access_tokens.save
    monkeypatch.setattr(
        services.access_tokens,
        "save",
        lambda token, grant: (saved.append(token), save(token, grant)),
    )

    def down(*_args, **_kwargs):
        raise UnavailableError("database", "test outage")

    monkeypatch.setattr(audit_chain, "append", down)
    if services.db.audit_committer is not None:
        monkeypatch.setattr(services.db.audit_committer, "write", down)
    response = _grant(oidc, rp)
    assert response.status_code == 503, response.text
    assert len(saved) == 1
    assert services.access_tokens.find(saved[0], now=0) is None
    monkeypatch.undo()
    assert _grant(oidc, rp).status_code == 200


@pytest.mark.skipif(not PG_URL, reason="the group committer is PostgreSQL only")
def test_a_grant_and_a_revocation_touch_no_session_and_no_pooled_connection(
    oidc: OIDCActions, factory: Factory, services
) -> None:
    """Their only durable write is an audit event: handed to the group committer,
    with no SQL session, transaction or pooled connection of the request's own
    (issue 12). Still audited, durably, before the answer."""
    from sqlalchemy import event

    rp = factory.client()
    assert _grant(oidc, rp).status_code == 200  # the client cached, the committer up
    db = services.db
    counts = {"checkouts": 0, "sessions": 0}

    def checked_out(*_args: object) -> None:
        counts["checkouts"] += 1

    def began(*_args: object) -> None:
        counts["sessions"] += 1

    event.listen(db.engine, "checkout", checked_out)
    event.listen(db._sessions, "after_transaction_create", began)
    try:
        token = _grant(oidc, rp, scope="profile").get_json()["access_token"]
        assert oidc.revoke(rp, token, hint="access_token").status_code == 200
    finally:
        event.remove(db.engine, "checkout", checked_out)
        event.remove(db._sessions, "after_transaction_create", began)
    assert counts == {"checkouts": 0, "sessions": 0}
    assert audit_types(services)[-3:] == ["token_issued", "token_issued", "token_revoked"]
