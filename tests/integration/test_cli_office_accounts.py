"""Office-made accounts: staff create a user ID, the patient gets a temporary password by mail."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.store.sql.database import Database
from tests.notify.conftest import SmtpServer


def _env(database_url: str, tmp_path: Path, smtp: SmtpServer) -> dict[str, str]:
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        # Commands that make links need the provider's address (never a guessed one).
        "IDP_ISSUER": "http://127.0.0.1:5000",
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "IDP_SMTP_HOST": smtp.host,
        "IDP_SMTP_PORT": str(smtp.port),
        "IDP_SMTP_SECURITY": "none",
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]
    return env


def test_temporary_password_is_emailed_and_must_be_changed(
    clean_database: Database,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(
        main,
        [
            "users",
            "add",
            "--username",
            "mrivera",
            "--send-temporary-password",
            "--email",
            "m.rivera@example.org",
            "--first-name",
            "Maria",
            "--last-name",
            "Rivera",
            "--json",
        ],
        env=_env(database_url, tmp_path, smtp),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["username"] == "mrivera"
    assert "temporary" not in result.output.lower()  # the password is not printed

    [mail] = smtp.mailbox.messages
    assert mail["Subject"] == "Portal login information"
    assert mail["To"] == "m.rivera@example.org"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "mrivera" in text
    password = re.search(r"Temporary password:\s+(\S+)", text).group(1)
    assert re.fullmatch(r"([2-9a-z]{4}-){3}[2-9a-z]{4}", password)

    with clean_database.transaction() as uow:
        account = uow.accounts.by_username("mrivera")
        assert account is not None and account.must_change_password
        events = uow.audit.tail(5)
        assert events[-1].type == "account_created"
        assert password not in repr(events)
        outbox = uow.outbox.newest(5)
    # The sent message's body is not kept (it held a credential).
    assert all(password not in (m.body_text or "") for m in outbox)


def test_password_and_temporary_password_are_exclusive(
    clean_database: Database, database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    for args in (["--password", "x" * 20, "--send-temporary-password"], []):
        result = CliRunner().invoke(
            main,
            ["users", "add", "--username", "abc", "--email", "a@b.org", *args],
            env=_env(database_url, tmp_path, smtp),
        )
        assert result.exit_code == 2 and "exactly one" in result.output
    assert smtp.mailbox.messages == []
