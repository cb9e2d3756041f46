"""A stranger cannot lock the owner out (DESIGN invariant 12; issue 8, item 4).

Through the real login page: the owner's browser signed in before and holds a
device cookie; strangers' browsers do not. See docs/lockout.md for the rule.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.flows.devices import DEVICE_COOKIE
from idp.records import RequestMeta
from idp.services import Services
from idp.settings import Settings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.repositories import username_key

from ..conftest import PASSWORD, Factory
from ..helpers import csrf_token, message_ids, strip_csrf


def _browser(app: Flask, ip: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def _post_login(client: FlaskClient, username: str, password: str):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text)},
    )


def _device_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(DEVICE_COOKIE)
    return cookie.value if cookie else None


def _owners_browser(app: Flask, username: str = "alice") -> FlaskClient:
    owner = _browser(app, "192.0.2.10")
    assert _post_login(owner, username, PASSWORD).status_code == 303
    assert _device_cookie(owner)
    return owner


def test_sign_in_gives_a_safe_device_cookie(client: FlaskClient, factory: Factory) -> None:
    factory.account()
    response = _post_login(client, "alice", PASSWORD)
    [header] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE)]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=" in header
    # Signed and opaque: neither the user ID nor the password is in it.
    assert "alice" not in header.casefold() and PASSWORD not in header
    # A wrong password gives none.
    other = _post_login(_browser(client.application, "192.0.2.99"), "alice", "wrong")
    assert not [c for c in other.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE)]


def test_a_strangers_failures_do_not_stop_the_owners_browser(app: Flask, factory: Factory) -> None:
    factory.account()
    owner = _owners_browser(app)
    stranger = _browser(app, "203.0.113.66")
    replies = [message_ids(_post_login(stranger, "alice", f"guess {i}").text) for i in range(5)]
    assert replies == [["invalid_credentials"]] * 4 + [["account_locked"]]
    # The FAQ's lock holds for unknown browsers, even with the right password...
    assert message_ids(_post_login(stranger, "alice", PASSWORD).text) == ["account_locked"]
    fresh = _browser(app, "192.0.2.10")  # the owner's network, but a browser never used
    assert message_ids(_post_login(fresh, "alice", PASSWORD).text) == ["account_locked"]
    # ...but not for the browser that signed in as alice before.
    assert _post_login(owner, "alice", PASSWORD).status_code == 303


def test_a_device_cookie_counts_only_for_its_own_user_id(app: Flask, factory: Factory) -> None:
    factory.account(username="alice")
    factory.account(username="bob", email="bob@example.test")
    bobs = _owners_browser(app, "bob")
    stranger = _browser(app, "203.0.113.66")
    for i in range(5):
        _post_login(stranger, "alice", f"guess {i}")
    # Bob's cookie is no proof for alice; a forged or altered cookie is no proof at all.
    assert message_ids(_post_login(bobs, "alice", PASSWORD).text) == ["account_locked"]
    forged = _browser(app, "192.0.2.11")
    value = _device_cookie(bobs)
    assert value
    for bad in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "x" * 4000, "\x00"):
        forged.set_cookie(DEVICE_COOKIE, bad)
        assert message_ids(_post_login(forged, "alice", PASSWORD).text) == ["account_locked"]


def test_a_device_that_fails_too_often_is_locked_itself(app: Flask, factory: Factory) -> None:
    factory.account()
    owner = _owners_browser(app)
    replies = [message_ids(_post_login(owner, "alice", f"typo {i}").text) for i in range(5)]
    assert replies == [["invalid_credentials"]] * 4 + [["account_locked"]]
    # A stolen cookie buys a thief no more guesses than the FAQ's rule allows...
    assert message_ids(_post_login(owner, "alice", PASSWORD).text) == ["account_locked"]
    # ...and other browsers were not charged for them.
    assert _post_login(_browser(app, "192.0.2.12"), "alice", PASSWORD).status_code == 303


@pytest.mark.settings(lockout__max_failures=3, lockout__hard_cap=6)
def test_strangers_past_the_hard_cap_do_not_lock_the_account(
    moving: tuple[Services, list[float], EphemeralStore], settings: Settings
) -> None:
    """NIST's hard cap stops unknown browsers, never the owner's device (invariant 12)."""
    services, mono, _ = moving
    account = Factory(services).account(username="dave")
    owner = services.login.submit(username="dave", password=PASSWORD, meta=_meta("192.0.2.10"))
    key = username_key("dave")
    for round_ in range(3):
        for i in range(3):  # each round from its own address (a botnet)
            services.login.submit(
                username="dave", password=f"bad {i}", meta=_meta(f"203.0.113.{round_}")
            )
        mono[0] += settings.lockout.lock_seconds + 1  # the temporary lock runs out
    with services.db.transaction() as uow:
        assert uow.accounts.by_id(account.id).status == "active"
    # Unknown browsers stay refused until recovery, staff or a quiet month...
    stranger = services.login.submit(username="dave", password=PASSWORD, meta=_meta("192.0.2.1"))
    assert stranger.reason == "account_locked"
    # ...the owner's device signs in.
    again = services.login.submit(
        username="dave",
        password=PASSWORD,
        meta=_meta("192.0.2.10"),
        device_cookie=owner.device_cookie,
    )
    assert again.ok
    services.attempts.unlock(key)
    assert services.login.submit(username="dave", password=PASSWORD, meta=_meta("192.0.2.1")).ok


@pytest.mark.settings(lockout__max_failures=3, lockout__hard_cap=6)
def test_the_owners_own_device_failures_reach_the_hard_cap(
    moving: tuple[Services, list[float], EphemeralStore], settings: Settings
) -> None:
    services, mono, _ = moving
    account = Factory(services).account(username="erin", email="erin@example.test")
    cookie = services.login.submit(
        username="erin", password=PASSWORD, meta=_meta("192.0.2.10")
    ).device_cookie
    device = services.devices.device_for(cookie, "erin")
    assert device
    for _ in range(2):
        for i in range(3):
            services.login.submit(
                username="erin", password=f"bad {i}", meta=_meta("192.0.2.10"), device_cookie=cookie
            )
        mono[0] += settings.lockout.lock_seconds + 1
    with services.db.transaction() as uow:
        assert uow.accounts.by_id(account.id).status == "locked"
    refused = services.login.submit(
        username="erin", password=PASSWORD, meta=_meta("192.0.2.10"), device_cookie=cookie
    )
    assert refused.reason == "account_locked"


@pytest.mark.parametrize("accounts", [1, 2])
def test_one_address_cannot_lock_more_accounts_than_the_setting(
    settings, services: Services, factory: Factory, accounts: int
) -> None:
    from dataclasses import replace

    from idp.app import build_services

    services = build_services(
        replace(settings, lockout=replace(settings.lockout, accounts_per_address=accounts)),
        db=services.db,
        ephemeral=services.ephemeral,
        background_delivery=False,
    )
    names = [f"victim{n}" for n in range(4)]
    for name in names:
        factory.account(username=name, email=f"{name}@example.test")
    attacker = _meta("203.0.113.80")
    for name in names:
        for i in range(5):
            services.login.submit(username=name, password=f"guess {i}", meta=attacker)
    # From elsewhere: which accounts did that one address manage to lock?
    locked = [
        name
        for name in names
        if not services.login.submit(username=name, password=PASSWORD, meta=_meta("192.0.2.5")).ok
    ]
    assert locked == names[:accounts]
    # The address itself is slowed with one reply, whatever the user ID.
    assert services.login.submit(username=names[-1], password=PASSWORD, meta=attacker).reason == (
        "too_many_attempts"
    )


def test_throttle_and_lock_replies_stay_identical_with_device_cookies(
    app: Flask, factory: Factory
) -> None:
    """Enumeration: the lock reply for a real account with a device cookie for another
    user ID is byte-for-byte the reply for an unknown user ID."""
    factory.account(username="alice")
    factory.account(username="bob", email="bob@example.test")
    bobs = _owners_browser(app, "bob")
    for name, ip in (("alice", "203.0.113.1"), ("ghost01", "203.0.113.2")):
        stranger = _browser(app, ip)
        for i in range(5):
            _post_login(stranger, name, f"guess {i}")

    def normalised(resp) -> tuple:
        headers = sorted(
            (k, v)
            for k, v in resp.headers.items()
            if k not in ("Set-Cookie", "Content-Length", "X-Request-ID")
        )
        body = strip_csrf(resp.text).replace("alice", "USER").replace("ghost01", "USER")
        return resp.status_code, headers, body

    existing = _post_login(bobs, "alice", PASSWORD)
    unknown = _post_login(bobs, "ghost01", PASSWORD)
    assert message_ids(existing.text) == ["account_locked"]
    assert normalised(existing) == normalised(unknown)


def _meta(ip: str) -> RequestMeta:
    return RequestMeta(ip=ip, user_agent="pytest")


def test_staff_unlock_also_ends_the_owners_device_lock(app: Flask, factory: Factory) -> None:
    factory.account()
    owner = _owners_browser(app)
    for i in range(5):
        _post_login(owner, "alice", f"typo {i}")
    assert message_ids(_post_login(owner, "alice", PASSWORD).text) == ["account_locked"]
    services: Services = app.extensions["idp"]
    services.attempts.unlock(username_key("alice"))  # what `idp users unlock alice` does
    assert _post_login(owner, "alice", PASSWORD).status_code == 303
