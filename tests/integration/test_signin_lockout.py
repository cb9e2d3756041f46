"""Sign-in replies and the lockout, through the real login page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from idp.app import build_services, create_app
from idp.services import Services
from idp.store.memory import MemoryEphemeralStore
from idp.store.sql.database import Database

from ..conftest import PASSWORD, Factory
from ..helpers import csrf_token, strip_csrf


def _post_login(client: FlaskClient, username: str, password: str):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text)},
    )


def _message_id(html: str) -> str | None:
    import re

    match = re.search(r'data-message-id="([^"]+)"', html)
    return match.group(1) if match else None


def test_right_password_signs_in_and_sets_a_safe_cookie(
    client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    response = _post_login(client, "Alice", PASSWORD)  # user IDs are case-insensitive
    assert response.status_code == 303
    cookie = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("idp_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie


def test_wrong_password_and_unknown_user_get_identical_responses(
    client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    wrong = _post_login(client, "alice", "not the password at all")
    unknown = _post_login(client, "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert _message_id(wrong.text) == "invalid_credentials"

    def normalised(resp) -> tuple:
        headers = sorted(
            (k, v)
            for k, v in resp.headers.items()
            if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")
        )
        body = strip_csrf(resp.text).replace("alice", "USER").replace("nobody-here", "USER")
        return resp.status_code, headers, body

    assert normalised(wrong) == normalised(unknown)


@pytest.mark.parametrize("known", [True, False], ids=["existing", "unknown"])
def test_five_failures_lock_for_fifteen_minutes_alike_for_unknown_ids(
    client: FlaskClient, factory: Factory, known: bool
) -> None:
    factory.account()
    username = "alice" if known else "ghost"
    replies = [_message_id(_post_login(client, username, f"wrong {i}").text) for i in range(5)]
    assert replies == ["invalid_credentials"] * 4 + ["account_locked"]
    # While locked, even the right password gets the lock reply.
    locked = _post_login(client, username, PASSWORD)
    assert locked.status_code == 401 and _message_id(locked.text) == "account_locked"


def test_lock_ends_after_the_lock_period(settings, clean_database: Database) -> None:
    """With a moving clock (the contract suite proves Redis expires keys alike)."""
    wall = [datetime.now(UTC)]
    mono = [0.0]
    store = MemoryEphemeralStore(clock=lambda: mono[0])
    services: Services = build_services(
        settings,
        db=clean_database,
        ephemeral=store,
        clock=lambda: wall[0],
        background_delivery=False,
    )
    Factory(services).account(username="bob")
    for i in range(5):
        result = services.login.submit(username="bob", password=f"bad {i}", meta=_meta())
    assert result.reason == "account_locked"
    mono[0] += 14 * 60
    assert (
        services.login.submit(username="bob", password=PASSWORD, meta=_meta()).reason
        == "account_locked"
    )
    mono[0] += 61
    wall[0] += timedelta(minutes=15, seconds=1)
    assert services.login.submit(username="bob", password=PASSWORD, meta=_meta()).ok


def test_success_resets_the_count(services: Services, factory: Factory) -> None:
    factory.account(username="carol")
    for i in range(4):
        services.login.submit(username="carol", password=f"bad {i}", meta=_meta())
    assert services.login.submit(username="carol", password=PASSWORD, meta=_meta()).ok
    for i in range(4):
        assert (
            services.login.submit(username="carol", password=f"bad {i}", meta=_meta()).reason
            == "invalid_credentials"
        )


def test_failures_are_audited_without_secrets(services: Services, factory: Factory) -> None:
    factory.account()
    services.login.submit(username="alice", password="s3cret-guess", meta=_meta())
    services.login.submit(username="alice", password=PASSWORD, meta=_meta())
    with services.db.transaction() as uow:
        events = uow.audit.tail(10)
    assert [(e.type, e.outcome) for e in events] == [("login", "failure"), ("login", "success")]
    assert events[0].ip == "203.0.113.9"
    assert "s3cret-guess" not in repr(events) and PASSWORD not in repr(events)


def test_second_app_instance_sees_the_same_lock(services: Services, factory: Factory) -> None:
    """Two provider instances sharing stores (as two processes share Redis) agree."""
    factory.account()
    other = create_app(services=services).test_client()
    for i in range(5):
        services.login.submit(username="alice", password=f"bad {i}", meta=_meta())
    assert _message_id(_post_login(other, "alice", PASSWORD).text) == "account_locked"


def _meta():
    from idp.records import RequestMeta

    return RequestMeta(ip="203.0.113.9", user_agent="pytest")


# Both locks come from the test client's one address (see test_device_cookies.py for
# the per-address budget).
@pytest.mark.settings(lockout__accounts_per_address=2)
def test_lock_reply_is_identical_for_existing_and_unknown_accounts(
    client: FlaskClient, factory: Factory
) -> None:
    """The whole response while locked: status, headers, body minus the CSRF token."""
    factory.account()

    def lock_then_reply(username: str, password: str):
        for i in range(5):
            _post_login(client, username, f"wrong {i}")
        return _post_login(client, username, password)

    existing = lock_then_reply("alice", PASSWORD)  # the right password, during the lock
    unknown = lock_then_reply("ghost01", "anything at all")

    def normalised(resp) -> tuple:
        headers = sorted(
            (k, v)
            for k, v in resp.headers.items()
            if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")
        )
        body = strip_csrf(resp.text).replace("alice", "USER").replace("ghost01", "USER")
        return resp.status_code, headers, body

    assert _message_id(existing.text) == "account_locked"
    assert normalised(existing) == normalised(unknown)
