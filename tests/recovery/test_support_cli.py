"""Support paths (FAQ: "don't remember my secret question", "no access to my email")."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from idp.cli import main
from idp.services import Services
from idp.store.sql import models
from tests.helpers import message_ids
from tests.notify.conftest import SmtpServer

from .conftest import DOB, NEW_PASSWORD, Recovery, local, text_of

STAFF = ["--staff", "Dana Lee", "--reason", "ticket 4711: caller verified by DOB and MRN"]


@pytest.fixture
def idp(
    database_url: str, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Run ``idp`` as an operator would, on the test database and SMTP server."""
    for name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST")]:
        monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        # Commands that make links need the provider's address (never a guessed one).
        "IDP_ISSUER": "http://127.0.0.1:5000",
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": "cli-test-secret-" + "z" * 32,
        "IDP_SMTP_HOST": smtp.host,
        "IDP_SMTP_PORT": str(smtp.port),
        "IDP_SMTP_SECURITY": "none",
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["users", *args], env=env)

    return run


def _counts(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (models.AuditEvent, models.ActionToken, models.OutboxMessage)
        }


def test_reset_link_is_printed_and_sets_a_new_password(
    recovery: Recovery, services: Services, idp: Any
) -> None:
    recovery.patient("alice", status="locked")
    result = idp("reset-link", "alice", *STAFF, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["username"] == "alice" and data["expires_in"] == 1800
    link = local(data["link"])
    assert link.startswith("/reset/password?token=")
    assert recovery.mail() == []  # printed, not sent

    done = recovery.choose(link)
    assert message_ids(done.text) == ["recovery_password_changed"]
    assert recovery.sign_in("alice", NEW_PASSWORD).status_code == 303
    assert recovery.account("alice").status == "active"
    assert recovery.open_link(link).status_code == 400  # single use
    with services.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(50) if e.type == "reset_link_issued"]
    assert event.actor == "staff:Dana Lee"
    assert event.subject == recovery.account("alice").subject
    assert event.details["reason"] == "ticket 4711: caller verified by DOB and MRN"
    assert event.details["delivery"] == "printed"
    assert data["link"].split("token=")[1] not in repr(event)


def test_reset_link_can_be_emailed_to_the_verified_address(
    recovery: Recovery, services: Services, idp: Any
) -> None:
    recovery.patient("alice", email="alice.smith@example.test")
    result = idp("reset-link", "alice", *STAFF, "--email")
    assert result.exit_code == 0, result.output
    assert "a***@example.test" in result.output and "token" not in result.output
    [mail] = recovery.mail()
    assert mail["To"] == "alice.smith@example.test"
    assert "support team" in text_of(mail)
    assert recovery.choose(recovery.link(mail)).status_code == 200


def test_a_new_reset_link_kills_the_previous_one(recovery: Recovery, idp: Any) -> None:
    recovery.patient("alice")
    first = local(json.loads(idp("reset-link", "alice", *STAFF, "--json").output)["link"])
    second = local(json.loads(idp("reset-link", "alice", *STAFF, "--json").output)["link"])
    assert recovery.open_link(first).status_code == 400
    assert recovery.choose(second).status_code == 200


def test_change_email_marks_it_verified_and_tells_the_old_address(
    recovery: Recovery, services: Services, idp: Any
) -> None:
    recovery.patient("alice", email="old@example.test")
    pending = local(json.loads(idp("reset-link", "alice", *STAFF, "--json").output)["link"])

    result = idp("change-email", "alice", "--email", "new.address@example.org", *STAFF, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "username": "alice",
        "email": "new.address@example.org",
        "email_verified": True,
    }
    account = recovery.account("alice")
    assert (account.email, account.email_verified) == ("new.address@example.org", True)
    [notice] = recovery.mail()
    assert notice["To"] == "old@example.test"
    assert "n***@example.org" in text_of(notice)
    assert "new.address@example.org" not in notice.as_string()
    # A link that went to the old mailbox no longer works.
    assert recovery.open_link(pending).status_code == 400
    with services.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(50) if e.type == "email_changed"]
    assert event.actor == "staff:Dana Lee"
    assert event.details["reason"] == "ticket 4711: caller verified by DOB and MRN"
    # The patient can now recover through the new address.
    recovery.forgot_id("new.address@example.org", DOB.isoformat(), "Blue Oyster Cult")
    [mail] = recovery.mail()
    assert mail["To"] == "new.address@example.org" and "User ID: alice" in text_of(mail)


@pytest.mark.parametrize(
    "args",
    [
        ["reset-link", "nobody", *STAFF],
        ["reset-link", "alice", "--reason", "forgot question"],
        ["reset-link", "alice", "--staff", "Dana Lee"],
        ["reset-link", "alice", "--staff", " ", "--reason", "forgot question"],
        ["reset-link", "alice", "--staff", "Dana Lee", "--reason", "x"],
        ["reset-link", "alice", "--staff", "Dana\x07Lee", "--reason", "forgot question"],
        ["reset-link", "unverified", *STAFF, "--email"],
        ["reset-link", "closed", *STAFF],
        ["change-email", "alice", "--email", "not an address", *STAFF],
        ["change-email", "alice", "--email", "a@b.org, c@d.org", *STAFF],
        ["change-email", "alice", "--email", "alice@example.test", *STAFF],
        ["change-email", "nobody", "--email", "new@example.org", *STAFF],
        ["change-email", "alice", "--email", "new@example.org", "--staff", "Dana Lee"],
    ],
    ids=[
        "unknown_user",
        "no_staff",
        "no_reason",
        "blank_staff",
        "short_reason",
        "control_character",
        "email_not_verified",
        "closed_account",
        "bad_email",
        "two_emails",
        "same_email",
        "change_unknown_user",
        "change_no_reason",
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    recovery: Recovery, services: Services, idp: Any, args: list[str]
) -> None:
    recovery.patient("alice")
    recovery.patient("unverified", email_verified=False)
    recovery.patient("closed", status="closed")
    before = _counts(services)
    result = idp(*args)
    assert result.exit_code == 2, result.output
    assert "rror" in result.output  # "error: …" from us, "Error: …" from click
    assert _counts(services) == before
    assert recovery.account("alice").email == "alice@example.test"
    assert recovery.mail() == []
