"""Closing the account: password and "CLOSE" required; everything ends; nothing deleted."""

from __future__ import annotations

from sqlalchemy import select

from idp.store.sql import models

from ..conftest import PASSWORD, Factory
from ..helpers import message_ids
from .conftest import Browser, Mail, account, alert, body, events, snapshot, table_counts


def close(browser: Browser, *, password: str = PASSWORD, confirmation: str = "CLOSE"):
    return browser.submit(
        "/account/close", {"current_password": password, "confirmation": confirmation}
    )


def test_close_ends_everything_and_deletes_nothing(
    browser: Browser,
    phone: Browser,
    anonymous: Browser,
    factory: Factory,
    mail: Mail,
    services,
    alice,
) -> None:
    rp = factory.client()
    tokens = phone.oidc.tokens(rp)
    mail.deliver()
    with services.db.transaction() as uow:
        assert uow.consents.granted_scopes(alice.id, rp.id)
    before = table_counts(services)

    response = close(browser)
    assert response.status_code == 200
    assert message_ids(response.text) == ["account_closed"]
    assert any(c.startswith("idp_session=;") for c in response.headers.getlist("Set-Cookie"))

    # Signed out everywhere; the portal's tokens and consent are gone.
    assert not browser.signed_in() and not phone.signed_in()
    assert phone.oidc.refresh(rp, tokens["refresh_token"]).status_code == 400
    assert phone.oidc.userinfo(tokens["access_token"]).status_code == 401
    with services.db.transaction() as uow:
        assert uow.consents.granted_scopes(alice.id, rp.id) == frozenset()

    # The right password now gets exactly the reply a wrong one gets.
    right = anonymous.oidc.login("/login", password=PASSWORD)
    wrong = anonymous.oidc.login("/login", password="wrong")
    assert right.status_code == wrong.status_code == 401
    assert message_ids(right.text) == message_ids(wrong.text) == ["invalid_credentials"]

    # Nothing deleted: the rows stay, the account is marked closed.
    after = table_counts(services)
    assert all(after[name] >= count for name, count in before.items()), (before, after)
    record = account(services, alice.id)
    assert record.status == "closed" and record.person is not None
    with services.db.session() as session:
        closed_at = session.scalar(
            select(models.Account.closed_at).where(models.Account.id == alice.id)
        )
    assert closed_at is not None

    [confirmation] = mail.deliver()
    assert confirmation["To"] == "alice@example.test"
    assert "account was closed" in str(confirmation["Subject"])
    assert "alice" in body(confirmation)
    [event] = [e for e in events(services) if e.type == "account_closed"]
    assert event.subject == alice.subject and event.ip == "198.51.100.7"
    assert event.details == {
        "initiated_by": "account_page",
        "token_families_revoked": 1,
        "consents_revoked": 1,
    }


def test_close_needs_the_password(browser: Browser, services, mail: Mail, alice) -> None:
    response = close(browser, password="not it")
    assert response.status_code == 401
    assert alert(response.text) == "account_wrong_password"
    assert account(services, alice.id).status == "active"
    assert browser.signed_in()
    assert mail.deliver() == []


def test_close_needs_the_word(browser: Browser, services, alice) -> None:
    before = snapshot(services)
    for word in ("close it", "CLOSED", "yes"):
        response = close(browser, confirmation=word)
        assert response.status_code == 400
        assert alert(response.text) == "account_close_confirmation"
    assert snapshot(services) == before
    # Not a credential failure: nothing was counted.
    assert services.ephemeral.get("attempts:alice") is None
    assert close(browser, confirmation=" close ").status_code == 200


def test_pending_email_link_dies_with_the_account(
    browser: Browser, mail: Mail, services, alice
) -> None:
    browser.submit("/account/email", {"new_email": "x@example.org", "current_password": PASSWORD})
    mail.deliver()
    close(browser)
    with services.db.session() as session:
        live = session.scalars(
            select(models.ActionToken).where(
                models.ActionToken.account_id == alice.id, models.ActionToken.used_at.is_(None)
            )
        ).all()
    assert live == []
