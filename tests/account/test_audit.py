"""Audit events share the change's transaction (security invariant 9): a change and
its event commit together or not at all, and events never hold secrets."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import PASSWORD, Factory
from .conftest import Browser, Mail, account, events, snapshot

NEW = "lantern violet harbour quietly"


def boom(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the ephemeral store went away")


def test_event_records_who_what_when_where(browser: Browser, services, alice) -> None:
    browser.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_repeat": NEW},
    )
    [event] = [e for e in events(services) if e.type == "password_changed"]
    record = account(services, alice.id)
    assert (event.actor, event.subject, event.outcome) == (alice.subject, alice.subject, "success")
    # One clock reading for the change and its event: they were written together.
    assert event.at == record.password_changed_at
    assert event.ip == "198.51.100.7" and "Firefox" in (event.user_agent or "")
    assert event.session_id and len(event.session_id) == 16
    assert PASSWORD not in repr(event) and NEW not in repr(event)


def test_a_change_that_fails_before_commit_leaves_no_event(
    browser: Browser, phone: Browser, factory: Factory, services, mail: Mail, monkeypatch, alice
) -> None:
    rp = factory.client()
    tokens = phone.oidc.tokens(rp)
    mail.deliver()
    before = snapshot(services)
    # The last step (ending the phone's session) fails after the event was added.
    monkeypatch.setattr(services.sessions, "end_by_key", boom)
    response = browser.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW,
            "new_password_repeat": NEW,
            "sign_out_others": "yes",
        },
    )
    assert response.status_code == 500
    assert snapshot(services) == before  # no new password, no event, no email
    assert "password_changed" not in [e.type for e in events(services)]
    monkeypatch.undo()
    assert phone.signed_in()
    assert phone.oidc.refresh(rp, tokens["refresh_token"]).status_code == 200
    assert mail.deliver() == []


def test_closing_that_fails_before_commit_leaves_the_account_open(
    browser: Browser, services, monkeypatch, mail: Mail, alice
) -> None:
    before = snapshot(services)
    monkeypatch.setattr(services.sessions, "end_all_for", boom)
    response = browser.submit(
        "/account/close", {"current_password": PASSWORD, "confirmation": "CLOSE"}
    )
    assert response.status_code == 500
    assert snapshot(services) == before
    assert account(services, alice.id).status == "active"
    assert mail.deliver() == []


def test_email_confirmation_that_fails_keeps_the_link(
    browser: Browser, services, monkeypatch, mail: Mail, alice
) -> None:
    browser.submit("/account/email", {"new_email": "new@example.org", "current_password": PASSWORD})
    [verify] = mail.to(mail.deliver(), "new@example.org")
    from .conftest import link_in

    link = link_in(verify)
    path = link[link.index("/account") :]
    page = browser.get(path)
    token = path.split("token=", 1)[1]
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"')[0]
    before = snapshot(services)
    monkeypatch.setattr(services.notifier, "email", boom)
    failed = browser.client.post(
        "/account/email/confirm", data={"csrf_token": csrf, "token": token}
    )
    assert failed.status_code == 500
    assert snapshot(services) == before
    monkeypatch.undo()
    done = browser.client.post("/account/email/confirm", data={"csrf_token": csrf, "token": token})
    assert done.status_code == 303
    assert account(services, alice.id).email == "new@example.org"


@pytest.mark.parametrize(
    "data",
    [
        {"current_password": PASSWORD, "new_password": "short", "new_password_repeat": "short"},
        {"current_password": PASSWORD, "new_password": NEW, "new_password_repeat": "other"},
        {"current_password": "", "new_password": NEW, "new_password_repeat": NEW},
    ],
    ids=["weak", "mismatch", "missing"],
)
def test_refused_input_writes_no_event(browser: Browser, services, data) -> None:
    before = len(events(services))
    assert browser.submit("/account/password", data).status_code == 400
    assert len(events(services)) == before


def test_a_wrong_password_writes_one_failure_event_and_no_change(
    browser: Browser, services
) -> None:
    before = len(events(services))
    browser.submit(
        "/account/password",
        {"current_password": "guess", "new_password": NEW, "new_password_repeat": NEW},
    )
    new_events = events(services)[before:]
    assert [(e.type, e.outcome) for e in new_events] == [("reauthentication", "failure")]
    assert "guess" not in repr(new_events)
