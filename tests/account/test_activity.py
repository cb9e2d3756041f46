"""Recent sign-in activity: the account's own events, newest first, no secrets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from idp.records import AuditEntry

from ..conftest import PASSWORD, Factory
from .conftest import Browser


def items(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<li data-event="([^"]+)" data-outcome="([^"]+)"', html)


def test_shows_recent_sign_ins_and_failures_without_secrets(
    browser: Browser, anonymous: Browser, app, factory: Factory
) -> None:
    anonymous.oidc.login("/login", password="hunter2-wrong-guess")
    anonymous.oidc.login("/login", password=PASSWORD)
    factory.account(username="bob")
    Browser(app.test_client(), factory, user_agent="curl/8", ip="192.0.2.8").sign_in("bob")

    html = browser.get("/account/activity").text
    assert items(html) == [
        ("login", "success"),
        ("login", "failure"),
        ("login", "success"),
    ]
    assert "Wrong password" in html
    assert "192.0.2.1" in html and "198.51.100.7" in html
    assert "Firefox on Linux" in html
    assert "192.0.2.8" not in html  # Bob's sign-in is Bob's business
    assert "hunter2-wrong-guess" not in html and PASSWORD not in html


def test_shows_account_changes_and_sign_outs(browser: Browser, phone: Browser) -> None:
    new = "lantern violet harbour quietly"
    browser.submit(
        "/account/password",
        {"current_password": "wrong", "new_password": new, "new_password_repeat": new},
    )
    browser.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_repeat": new},
    )
    kinds = items(browser.get("/account/activity").text)
    assert kinds[:2] == [("password_changed", "success"), ("reauthentication", "failure")]
    assert new not in browser.get("/account/activity").text


def test_at_most_twenty_and_only_sign_in_related_types(browser: Browser, services, alice) -> None:
    start = datetime.now(UTC)
    with services.db.transaction() as uow:
        for i in range(30):
            uow.audit.record(
                AuditEntry(
                    type="login", outcome="success", actor=alice.subject, subject=alice.subject
                ),
                now=start + timedelta(seconds=i),
            )
        uow.audit.record(
            AuditEntry(type="token_issued", outcome="success", actor="rp", subject=alice.subject),
            now=start + timedelta(seconds=40),
        )
    html = browser.get("/account/activity").text
    assert len(items(html)) == 20
    assert "token_issued" not in html


def test_for_subject_filters_orders_and_limits(services, alice) -> None:
    start = datetime.now(UTC)
    with services.db.transaction() as uow:
        for i, kind in enumerate(["login", "consent", "logout", "login"]):
            uow.audit.record(
                AuditEntry(
                    type=kind, outcome="success", actor=alice.subject, subject=alice.subject
                ),
                now=start + timedelta(seconds=i),
            )
        uow.audit.record(
            AuditEntry(type="login", outcome="success", actor="x", subject="someone-else"),
            now=start,
        )
    with services.db.transaction() as uow:
        found = uow.audit.for_subject(alice.subject, ("login", "logout"), 2)
        everything = uow.audit.for_subject(alice.subject, ("login", "logout"), 20)
    assert [e.type for e in found] == ["login", "logout"]
    assert found[0].id > found[1].id
    assert [e.type for e in everything] == ["login", "logout", "login"]
