"""Changing the password: current password first, lockout shared with sign-in,
other sessions and apps ended on request (ASVS 7.4.3), a notice by email."""

from __future__ import annotations

import re

import pytest

from idp.policies.password import PASSWORD_PRESETS

from ..conftest import PASSWORD, Factory
from ..helpers import message_ids
from .conftest import Browser, Mail, body, events, snapshot

NEW = "lantern violet harbour quietly"


def change(browser: Browser, *, current: str = PASSWORD, new: str = NEW, others: bool = True):
    data = {"current_password": current, "new_password": new, "new_password_repeat": new}
    if others:
        data["sign_out_others"] = "yes"
    return browser.submit("/account/password", data)


def reasons(html: str) -> set[str]:
    return set(re.findall(r'data-reason="([^"]+)"', html))


def test_change_ends_other_sessions_and_apps_but_keeps_this_one(
    browser: Browser, phone: Browser, anonymous: Browser, factory: Factory, mail: Mail, services
) -> None:
    rp = factory.client()
    tokens = phone.oidc.tokens(rp)
    mail.deliver()

    response = change(browser)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/password"
    page = browser.get("/account/password")
    assert message_ids(page.text) == ["account_password_changed_others_ended"]

    # This browser stays signed in; the phone and the portal's tokens do not.
    assert browser.signed_in()
    assert not phone.signed_in()
    refreshed = phone.oidc.refresh(rp, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert phone.oidc.userinfo(tokens["access_token"]).status_code == 401

    # The old password is refused, the new one works.
    old = anonymous.oidc.login("/login", password=PASSWORD)
    assert old.status_code == 401 and message_ids(old.text) == ["invalid_credentials"]
    assert anonymous.oidc.login("/login", password=NEW).status_code == 303

    [notice] = mail.deliver()
    assert notice["To"] == "alice@example.test"
    assert "password was changed" in str(notice["Subject"])
    text = body(notice)
    assert "198.51.100.7" in text and "other devices and apps were signed out" in text
    assert NEW not in text and PASSWORD not in text

    [event] = [e for e in events(services) if e.type == "password_changed"]
    assert event.outcome == "success" and event.ip == "198.51.100.7"
    assert event.details == {
        "sign_out_others": True,
        "sessions_ended": 1,
        "token_families_revoked": 1,
    }


def test_unticked_box_keeps_other_sessions_and_apps(
    browser: Browser, phone: Browser, factory: Factory, mail: Mail
) -> None:
    rp = factory.client()
    tokens = phone.oidc.tokens(rp)
    assert change(browser, others=False).status_code == 303
    assert message_ids(browser.get("/account/password").text) == ["account_password_changed"]
    assert phone.signed_in()
    assert phone.oidc.refresh(rp, tokens["refresh_token"]).status_code == 200
    [notice] = mail.deliver()
    assert "signed out" not in body(notice)


def test_the_box_is_ticked_by_default(browser: Browser) -> None:
    html = browser.get("/account/password").text
    assert re.search(r'name="sign_out_others" type="checkbox" value="yes" checked', html)


def test_wrong_current_password_is_refused_and_counted(
    browser: Browser, anonymous: Browser, mail: Mail, services
) -> None:
    before = snapshot(services)["accounts"]
    for _ in range(4):
        response = change(browser, current="not my password")
        assert response.status_code == 401
        assert message_ids(response.text) == ["account_wrong_password"]
    assert snapshot(services)["accounts"] == before
    # Four misses here and one on this browser's login page make five: the lock of this
    # browser's device cookie (it signed in before), not of other browsers (invariant 12).
    locked = browser.oidc.login("/login", password="also wrong")
    assert message_ids(locked.text) == ["account_locked"]
    assert anonymous.oidc.login("/login", password=PASSWORD).status_code == 303
    # The only mail is the lock notice to the owner (no "password changed" notice).
    [notice] = mail.deliver()
    assert notice["Subject"] == "Your account was locked for 15 minutes"
    failures = [e for e in events(services) if e.type == "reauthentication"]
    assert [e.details for e in failures] == [
        {"action": "change_password", "reason": "invalid_credentials"}
    ] * 4
    assert all(e.outcome == "failure" and e.ip == "198.51.100.7" for e in failures)


def test_reaching_the_limit_refuses_the_change_but_keeps_the_session(
    browser: Browser, anonymous: Browser, services
) -> None:
    replies = [message_ids(change(browser, current=f"wrong {i}").text) for i in range(5)]
    assert replies == [["account_wrong_password"]] * 4 + [["account_locked"]]
    # Locked: even the right password is refused, here and on this browser's login page
    # (the device's own lock); another browser is not affected (invariant 12)...
    refused = change(browser)
    assert refused.status_code == 401 and message_ids(refused.text) == ["account_locked"]
    login = browser.oidc.login("/login", password=PASSWORD)
    assert message_ids(login.text) == ["account_locked"]
    assert anonymous.oidc.login("/login", password=PASSWORD).status_code == 303
    # ...but this browser is not signed out.
    assert browser.signed_in()
    assert "account_locked" in [e.type for e in events(services)]


def test_success_clears_the_count(browser: Browser, anonymous: Browser) -> None:
    for i in range(4):
        change(browser, current=f"wrong {i}")
    assert change(browser).status_code == 303
    for i in range(4):
        assert message_ids(anonymous.oidc.login("/login", password=f"bad {i}").text) == [
            "invalid_credentials"
        ]


def test_weak_new_password_shows_every_reason_and_costs_no_attempt(
    browser: Browser, services, mail: Mail
) -> None:
    before = snapshot(services)
    expected = set(services.credentials.check_password("alice", context=["alice", "Smith"]).reasons)
    assert {"too_short", "contains_context_word"} <= expected
    for _ in range(6):  # more than the lockout limit: weak choices are not failures
        response = change(browser, current="wrong as well", new="alice")
        assert response.status_code == 400
        assert message_ids(response.text) == ["account_password_rejected"]
        assert reasons(response.text) == expected
    assert snapshot(services) == before
    assert change(browser).status_code == 303
    assert mail.deliver()


def test_repeated_password_must_match(browser: Browser, services) -> None:
    before = snapshot(services)
    response = browser.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_repeat": NEW + "x"},
    )
    assert response.status_code == 400
    assert message_ids(response.text) == ["account_password_mismatch"]
    assert snapshot(services) == before


@pytest.mark.settings(password_policy="portal-classic")
def test_portal_classic_preset_rules_apply(browser: Browser, anonymous: Browser) -> None:
    policy = PASSWORD_PRESETS["portal-classic"]
    refused = change(browser, new="ab#d")
    assert refused.status_code == 400
    assert {"too_short", "needs_digit_or_upper", "forbidden_character"} <= reasons(refused.text)
    assert f"at least {policy.min_length} characters" in refused.text
    assert change(browser, new="Tulip9").status_code == 303
    assert anonymous.oidc.login("/login", password="Tulip9").status_code == 303


@pytest.mark.settings(lockout__max_failures=3, lockout__hard_cap=3)
def test_hard_cap_locks_the_account_as_at_sign_in(browser: Browser, services, alice) -> None:
    for i in range(3):
        change(browser, current=f"wrong {i}")
    with services.db.transaction() as uow:
        assert uow.accounts.by_id(alice.id).status == "locked"
    locks = [e for e in events(services) if e.type == "account_locked"]
    # This signed-in browser holds a device cookie: its failures lock its own device
    # counter and, at the hard cap, the account (only the owner's devices can do that).
    assert {e.details["reason"] for e in locks} == {"hard_cap", "device_locked"}
    assert all(e.outcome == "failure" for e in locks)
    # Only active accounts load: this browser is signed out until staff or recovery unlock.
    assert not browser.signed_in()
