"""UserInfo from each process's cache, exact all the same (issue 12).

After a first call, UserInfo of a known account runs no SQL at all: the account and
its practice link come from the process's cache, checked against the user-data
version read with the access token. Any committed change to an account, its person
or its practice links (by any writer: here a repository call, as a staff tool or
the command line makes one) shows at the very next call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql import models as m
from idp.store.user_data import VERSION_KEY

from ..helpers import OIDCActions
from .conftest import NORTH_MRN, Practice

pytestmark = pytest.mark.usefixtures("linked")


@pytest.fixture(autouse=True)
def keep_at_once(services: Services) -> None:
    # Keep what is loaded at once (not a second after a new version was first seen).
    services.users.settle = 0.0


@contextmanager
def sql_statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = {services.db.engine, services.db.replica or services.db.engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


def _userinfo(oidc: OIDCActions, token: str) -> dict[str, Any]:
    response = oidc.userinfo(token)
    assert response.status_code == 200, response.text
    return response.get_json()  # type: ignore[no-any-return]


def _signed_in(oidc: OIDCActions, north: Practice) -> str:
    tokens = oidc.tokens(north.client, oidc.request(north.client, scope="openid email profile"))
    return str(tokens["access_token"])


def test_a_known_account_is_served_without_sql(
    oidc: OIDCActions, services: Services, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    first = _userinfo(oidc, token)
    assert first["patient_id"] == NORTH_MRN
    with sql_statements(services) as statements:
        assert _userinfo(oidc, token) == first
    assert statements == []


def test_a_changed_email_shows_at_once(
    oidc: OIDCActions, services: Services, alice: AccountRecord, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    assert _userinfo(oidc, token)["email"] == alice.email
    with services.db.transaction() as uow:
        uow.accounts.set_email(alice.id, "new@example.test", verified=True, now=datetime.now(UTC))
    assert _userinfo(oidc, token)["email"] == "new@example.test"


def test_a_changed_person_shows_at_once(
    oidc: OIDCActions, services: Services, alice: AccountRecord, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    assert _userinfo(oidc, token)["given_name"] == "Alice"
    assert alice.person is not None
    with services.db.transaction() as uow:  # an ORM flush, not an UPDATE statement
        person = uow.session.get(m.Person, alice.person.id)
        person.first_name = "Alicia"
    assert _userinfo(oidc, token)["given_name"] == "Alicia"


def test_a_disabled_account_is_refused_at_once(
    oidc: OIDCActions, services: Services, alice: AccountRecord, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    _userinfo(oidc, token)
    with services.db.transaction() as uow:
        uow.accounts.set_status(alice.id, "disabled", now=datetime.now(UTC))
    assert oidc.userinfo(token).status_code == 401


def test_an_ended_link_stops_showing_at_once(
    oidc: OIDCActions, services: Services, alice: AccountRecord, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    assert _userinfo(oidc, token)["patient_id"] == NORTH_MRN
    with services.db.transaction() as uow:
        assert uow.portal_links.revoke(alice.id, north.portal.id, services.clock())
    assert "patient_id" not in _userinfo(oidc, token)


def test_only_committed_writes_to_user_tables_change_the_version(
    services: Services, alice: AccountRecord, north: Practice
) -> None:
    before = services.ephemeral.get(VERSION_KEY)
    with pytest.raises(RuntimeError), services.db.transaction() as uow:
        uow.accounts.set_status(alice.id, "disabled", now=datetime.now(UTC))
        raise RuntimeError("rolled back")
    with services.db.transaction() as uow:
        uow.portals.set_require_mfa(north.portal.id, True)
    assert services.ephemeral.get(VERSION_KEY) == before
    with services.db.transaction() as uow:
        uow.accounts.set_status(alice.id, "active", now=datetime.now(UTC))
    assert services.ephemeral.get(VERSION_KEY) not in (before, None)


def test_introspecting_an_access_token_runs_no_sql(
    oidc: OIDCActions, services: Services, north: Practice
) -> None:
    token = _signed_in(oidc, north)
    assert oidc.introspect(north.client, token).get_json()["active"] is True  # client cached
    with sql_statements(services) as statements:
        response = oidc.introspect(north.client, token)
    assert response.get_json()["active"] is True
    assert statements == []
