"""Refresh tokens rotate; reuse of an old one revokes the family (RFC 6749 §6,
OAuth 2.0 Security BCP §4.14; security invariant 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from idp.store.sql import models

from ..conftest import Factory
from ..helpers import MovableClock, OIDCActions, audit_types


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def _error(response) -> str:
    assert response.status_code == 400, response.text
    return str(response.get_json()["error"])


def test_refresh_returns_a_new_refresh_token_and_access_token(oidc: OIDCActions, rp) -> None:
    first = oidc.tokens(rp)
    response = oidc.refresh(rp, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 600
    assert set(second["scope"].split()) == set(first["scope"].split())
    assert oidc.userinfo(second["access_token"]).status_code == 200


def test_each_rotation_gives_a_fresh_token(oidc: OIDCActions, rp) -> None:
    seen = set()
    refresh = oidc.tokens(rp)["refresh_token"]
    for _ in range(4):
        seen.add(refresh)
        refresh = oidc.refresh(rp, refresh).get_json()["refresh_token"]
        assert refresh not in seen


def test_rotated_refresh_token_is_refused(oidc: OIDCActions, rp) -> None:
    first = oidc.tokens(rp)
    oidc.refresh(rp, first["refresh_token"])
    assert _error(oidc.refresh(rp, first["refresh_token"])) == "invalid_grant"


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    oidc: OIDCActions, rp, services
) -> None:
    first = oidc.tokens(rp)
    second = oidc.refresh(rp, first["refresh_token"]).get_json()
    third = oidc.refresh(rp, second["refresh_token"]).get_json()
    assert oidc.userinfo(third["access_token"]).status_code == 200

    # An attacker replays the first refresh token.
    assert _error(oidc.refresh(rp, first["refresh_token"])) == "invalid_grant"

    # The newest refresh token and every access token of the family are dead.
    assert _error(oidc.refresh(rp, third["refresh_token"])) == "invalid_grant"
    for tokens in (first, second, third):
        assert oidc.userinfo(tokens["access_token"]).status_code == 401
    assert oidc.introspect(rp, third["refresh_token"]).get_json() == {"active": False}
    assert "grant_revoked" in audit_types(services)


def test_family_revocation_spares_other_families(oidc: OIDCActions, rp) -> None:
    mine = oidc.tokens(rp)
    other = oidc.tokens(rp)
    oidc.refresh(rp, mine["refresh_token"])
    oidc.refresh(rp, mine["refresh_token"])  # reuse: revokes only this family
    assert oidc.userinfo(other["access_token"]).status_code == 200
    assert oidc.refresh(rp, other["refresh_token"]).status_code == 200


def test_refresh_keeps_the_family_absolute_expiry(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    first = oidc.tokens(rp)
    original_exp = oidc.introspect(rp, first["refresh_token"]).get_json()["exp"]
    clock.advance(3600)
    second = oidc.refresh(rp, first["refresh_token"]).get_json()
    info = oidc.introspect(rp, second["refresh_token"]).get_json()
    assert info["active"] is True
    assert info["exp"] == original_exp


def test_refresh_token_expires_with_its_family(
    oidc: OIDCActions, rp, clock: MovableClock, settings
) -> None:
    first = oidc.tokens(rp)
    clock.advance(settings.tokens.refresh_token - 100)
    second = oidc.refresh(rp, first["refresh_token"]).get_json()
    clock.advance(101)
    assert _error(oidc.refresh(rp, second["refresh_token"])) == "invalid_grant"


@pytest.mark.settings(tokens__refresh_token=3600)
def test_refresh_token_lifetime_follows_settings(
    oidc: OIDCActions, rp, clock: MovableClock
) -> None:
    first = oidc.tokens(rp)
    clock.advance(3601)
    assert _error(oidc.refresh(rp, first["refresh_token"])) == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(
    oidc: OIDCActions, factory: Factory, rp
) -> None:
    other = factory.client(name="Other Portal")
    tokens = oidc.tokens(rp)
    assert _error(oidc.refresh(other, tokens["refresh_token"])) == "invalid_grant"
    # Refused without being burned: the rightful client still rotates it.
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200


def test_refresh_may_narrow_the_scope(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    response = oidc.refresh(rp, tokens["refresh_token"], extra={"scope": "openid"})
    assert response.status_code == 200, response.text
    narrowed = response.get_json()
    assert narrowed["scope"] == "openid"
    info = oidc.userinfo(narrowed["access_token"]).get_json()
    assert "email" not in info


def test_refresh_cannot_widen_the_scope_and_does_not_burn_the_token(oidc: OIDCActions, rp) -> None:
    tokens = oidc.tokens(rp)
    response = oidc.refresh(rp, tokens["refresh_token"], extra={"scope": "openid phone"})
    assert _error(response) == "invalid_scope"
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_invalid_grant(oidc: OIDCActions, rp) -> None:
    assert _error(oidc.refresh(rp, "no-such-token")) == "invalid_grant"


def test_no_refresh_token_for_a_client_without_the_grant(
    oidc: OIDCActions, factory: Factory
) -> None:
    factory.account()
    rp = factory.client(grant_types=["authorization_code"])
    tokens = oidc.tokens(rp)
    assert "refresh_token" not in tokens


def test_client_without_the_grant_cannot_refresh(oidc: OIDCActions, factory: Factory, rp) -> None:
    tokens = oidc.tokens(rp)
    with factory.services.db.session() as session:
        session.execute(
            update(models.Client)
            .where(models.Client.client_id == rp.client_id)
            .values(grant_types=["authorization_code"])
        )
    # Changed behind the provider's back: announce it, as `idp clients` commands do.
    factory.services.clients.changed()
    response = oidc.refresh(rp, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_public_client_refreshes_without_a_secret(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client(public=True)
    tokens = oidc.tokens(rp)
    response = oidc.refresh(rp, tokens["refresh_token"])
    assert response.status_code == 200, response.text


def test_refresh_response_keeps_the_claims_request(oidc: OIDCActions, rp) -> None:
    req = oidc.request(
        rp, scope="openid", extra={"claims": '{"userinfo": {"name": {"essential": true}}}'}
    )
    tokens = oidc.tokens(rp, req)
    refreshed = oidc.refresh(rp, tokens["refresh_token"]).get_json()
    assert oidc.userinfo(refreshed["access_token"]).get_json()["name"] == "Alice Smith"


def test_disabled_account_cannot_refresh_or_redeem(oidc: OIDCActions, rp, services) -> None:
    tokens = oidc.tokens(rp)
    req = oidc.request(rp)
    code = oidc.code_for(req)
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("alice")
        uow.accounts.set_status(account.id, "disabled", now=datetime.now(UTC))
    # What every path that takes an account out of service does with it (lockout,
    # closing): introspection reads the ephemeral store alone.
    services.access_tokens.revoke_account(account.id)
    assert _error(oidc.refresh(rp, tokens["refresh_token"])) == "invalid_grant"
    assert _error(oidc.exchange(rp, req, code)) == "invalid_grant"
    assert oidc.introspect(rp, tokens["access_token"]).get_json() == {"active": False}


def test_token_and_account_in_one_query_read_as_separately(oidc: OIDCActions, rp, services) -> None:
    """find_with_account (on PostgreSQL straight on psycopg) gives exactly the records
    find and accounts.by_id give: same values, timestamps in UTC, claims as a dict."""
    from idp.oidc.tokens import token_hash

    tokens = oidc.tokens(rp)
    key = token_hash(tokens["refresh_token"])
    with services.db.transaction() as uow:
        found = uow.refresh_tokens.find_with_account(key)
        record = uow.refresh_tokens.find(key)
        assert record is not None
        account = uow.accounts.by_id(record.account_id)
    assert found == (record, account)
    assert account is not None and account.person is not None
    assert found[0].issued_at.tzinfo == UTC and found[1].created_at.tzinfo == UTC
    with services.db.transaction() as uow:
        assert uow.refresh_tokens.find_with_account(token_hash("unknown")) is None


def test_claim_reads_as_find_and_claims_once(oidc: OIDCActions, rp, services) -> None:
    """claim_with_account (one statement on PostgreSQL) shows the token as it was
    before its claim, as find_with_account does, and only the first claim takes."""
    from idp.oidc.tokens import token_hash

    tokens = oidc.tokens(rp)
    key = token_hash(tokens["refresh_token"])
    with services.db.transaction() as uow:
        before = uow.refresh_tokens.find_with_account(key)
    now = datetime.now(UTC)
    with services.db.transaction() as uow:
        claim = uow.refresh_tokens.claim_with_account(key, now=now)
    assert claim is not None and before is not None
    assert claim == (*before, True)
    with services.db.transaction() as uow:
        again = uow.refresh_tokens.claim_with_account(key, now=now)
        assert uow.refresh_tokens.claim_with_account(token_hash("unknown"), now=now) is None
    assert again is not None and again[2] is False
    assert again[0].rotated_at is not None


def test_an_unclaimed_token_is_as_it_was(oidc: OIDCActions, rp, services) -> None:
    """A refusal gives its claim back in the same transaction: the token stays live."""
    from idp.oidc.tokens import token_hash

    tokens = oidc.tokens(rp)
    key = token_hash(tokens["refresh_token"])
    with services.db.transaction() as uow:
        claim = uow.refresh_tokens.claim_with_account(key, now=datetime.now(UTC))
        assert claim is not None and claim[2]
        uow.refresh_tokens.unclaim(claim[0].id)
    with services.db.transaction() as uow:
        record = uow.refresh_tokens.find(key)
    assert record is not None and record.rotated_at is None
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200


def test_a_token_of_a_revoked_family_is_refused_without_a_claim_left(
    oidc: OIDCActions, factory: Factory, rp, services
) -> None:
    """A live token whose family was revoked (a sibling revoked) is claimed by the one
    statement, refused, and given back: refusing changes nothing."""
    from idp.oidc.tokens import token_hash

    tokens = oidc.tokens(rp)
    key = token_hash(tokens["refresh_token"])
    with services.db.transaction() as uow:
        record = uow.refresh_tokens.find(key)
        assert record is not None
        uow.session.execute(
            update(models.RefreshToken)
            .where(models.RefreshToken.id == record.id)
            .values(family_id="family-x")
        )
        uow.refresh_tokens.add(
            token_hash=token_hash("sibling"),
            family_id="family-x",
            client_pk=rp.id,
            account_id=record.account_id,
            scope=record.scope,
            claims=None,
            auth_time=record.auth_time,
            now=datetime.now(UTC),
            expires_at=record.expires_at,
        )
        uow.refresh_tokens.revoke(token_hash("sibling"), now=datetime.now(UTC))
    assert _error(oidc.refresh(rp, tokens["refresh_token"])) == "invalid_grant"
    with services.db.transaction() as uow:
        after = uow.refresh_tokens.find(key)
    assert after is not None and after.rotated_at is None and after.revoked_at is None


def test_of_two_concurrent_claims_exactly_one_takes(oidc: OIDCActions, rp, services) -> None:
    """The claim waits on the first claimer's row lock and then sees the token taken
    (atomic single use), although its own read shows the token as it was."""
    import threading

    from idp.oidc.tokens import token_hash

    tokens = oidc.tokens(rp)
    key = token_hash(tokens["refresh_token"])
    results: list[bool] = []
    first_claimed = threading.Event()

    def second() -> None:
        first_claimed.wait(10)
        with services.db.transaction() as uow:
            claim = uow.refresh_tokens.claim_with_account(key, now=datetime.now(UTC))
            assert claim is not None
            results.append(claim[2])

    other = threading.Thread(target=second)
    other.start()
    with services.db.transaction() as uow:
        claim = uow.refresh_tokens.claim_with_account(key, now=datetime.now(UTC))
        assert claim is not None
        results.append(claim[2])
        first_claimed.set()
        other.join(0.3)  # PostgreSQL: blocked on the row lock until this commits
    other.join(10)
    assert sorted(results) == [False, True]
