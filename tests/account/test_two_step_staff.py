"""The staff path for lost factors: `idp users mfa-reset U --staff NAME --reason TEXT`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from idp.cli import main
from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql import models

from .conftest import Browser, Inbox, Mail, body, events
from .test_two_step import authenticator, kinds
from .two_step import credential_rows, enrol_app, open_passkey_page, post_passkey

STAFF = ["--staff", "Dana Lee", "--reason", "ticket 4711: caller verified by DOB and MRN"]


@pytest.fixture
def idp(
    database_url: str,
    tmp_path: Path,
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Run ``idp users`` as an operator would, on the test database and SMTP server."""
    for name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST")]:
        monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": "cli-test-secret-" + "z" * 32,
        "IDP_SMTP_HOST": "127.0.0.1",
        "IDP_SMTP_PORT": str(smtp[1]),
        "IDP_SMTP_SECURITY": "none",
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["users", *args], env=env)

    return run


def test_staff_remove_every_factor_and_the_patient_hears_everywhere(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord, idp: Any
) -> None:
    enrol_app(browser, services)
    page = open_passkey_page(browser)
    assert post_passkey(browser, page, credential=authenticator(services).create(page.options))
    mail.deliver()

    result = idp("mfa-reset", "alice", *STAFF, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "username": "alice",
        "removed": {"authenticator_apps": 1, "passkeys": 1, "recovery_codes": 10},
        "notified": ["email", "sms"],
    }
    assert kinds(services, alice.id) == frozenset()
    assert credential_rows(services) == {}

    [event] = [e for e in events(services, alice.subject) if e.type == "second_factors_reset"]
    assert event.actor == "staff:Dana Lee"
    assert event.details["reason"] == "ticket 4711: caller verified by DOB and MRN"
    assert event.details["notified"] == ["email", "sms"]

    [notice] = Mail.to(mail.inbox.snapshot()[-1:], alice.email or "")
    assert "turned off by our support team" in str(notice["Subject"])
    assert "removed every second step" in body(notice)
    with services.db.session() as session:
        texts = session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.channel == "sms")
        ).all()
    assert [t.recipient for t in texts] == ["+16175550100"]
    assert "two-step verification" in texts[0].body_text

    # Signing in with the password alone works again; enrolling again works too.
    assert 'data-mfa-status="off"' in browser.get("/account/two-step").text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["alice", "--staff", "", "--reason", "ticket 1"], "--staff"),
        (["alice", "--staff", "Dana", "--reason", "x"], "--reason"),
        (["alice", "--staff", "Dana\x07", "--reason", "ticket 1"], "--staff"),
        (["nobody", *STAFF], "no account"),
        (["alice", "--reason", "ticket 1"], "Missing option '--staff'"),
    ],
)
def test_bad_input_changes_nothing(
    browser: Browser, services: Services, idp: Any, args: list[str], error: str
) -> None:
    enrol_app(browser, services)
    before = credential_rows(services)
    result = idp("mfa-reset", *args)
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert credential_rows(services) == before
    assert "second_factors_reset" not in [e.type for e in events(services)]


def test_an_account_without_factors_is_refused(
    services: Services, alice: AccountRecord, idp: Any
) -> None:
    result = idp("mfa-reset", "alice", *STAFF)
    assert result.exit_code == 2
    assert "has no second factor" in result.output
    assert "second_factors_reset" not in [e.type for e in events(services)]
