"""Office-made accounts: the user ID by email, the temporary password by text message."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.store.sql.database import Database
from tests.notify.conftest import SmtpServer, WebhookServer
from tests.notify.conftest import webhook_server as webhook_server  # noqa: F401 - the fixture


def _env(
    database_url: str, tmp_path: Path, smtp: SmtpServer, sms: WebhookServer | None = None
) -> dict[str, str]:
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
    if sms is not None:
        env["IDP_SMS_WEBHOOK_URL"] = sms.url
        env["IDP_SMS_WEBHOOK_SECRET"] = "sms-webhook-secret-" + "s" * 32
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]
    return env


def test_user_id_by_email_and_temporary_password_by_text_never_together(
    clean_database: Database,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    webhook_server: WebhookServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 8, item 12: an intercepted email alone (or text alone) opens nothing."""
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
            "--phone",
            "(617) 555-0123",
            "--first-name",
            "Maria",
            "--last-name",
            "Rivera",
            "--json",
        ],
        env=_env(database_url, tmp_path, smtp, webhook_server),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["username"] == "mrivera"
    assert "temporary" not in result.output.lower()  # the password is not printed

    [mail] = smtp.mailbox.messages
    assert mail["Subject"] == "Portal login information"
    assert mail["To"] == "m.rivera@example.org"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "mrivera" in text and "mrivera" in html
    assert "ending in 0123" in " ".join(text.split())

    [texted] = webhook_server.requests
    sms = texted.json()
    assert sms["to"] == "+16175550123"
    password = re.search(r"temporary password: (\S+?)\.", sms["body"]).group(1)
    assert re.fullmatch(r"([2-9a-z]{4}-){3}[2-9a-z]{4}", password)
    assert "mrivera" not in sms["body"]
    assert password not in text and password not in html

    with clean_database.transaction() as uow:
        account = uow.accounts.by_username("mrivera")
        assert account is not None and account.must_change_password
        events = uow.audit.tail(5)
        assert events[-1].type == "account_created"
        assert password not in repr(events)
        outbox = uow.outbox.newest(5)
    # The sent messages' bodies are not kept (they held a credential).
    assert all(password not in (m.body_text or "") for m in outbox)


@pytest.mark.parametrize(
    ("extra", "drop_sms", "expected"),
    [
        ([], False, "give --phone"),
        (["--phone", "12"], False, "--phone must be a mobile number"),
        (["--phone", "+16175550123"], True, "IDP_SMS_WEBHOOK_URL"),
    ],
)
def test_temporary_password_needs_a_phone_and_a_text_channel_before_anything_is_written(
    clean_database: Database,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    webhook_server: WebhookServer,
    extra: list[str],
    drop_sms: bool,
    expected: str,
) -> None:
    env = _env(database_url, tmp_path, smtp, webhook_server)
    if drop_sms:
        # Production without an SMS gateway: the text could never be delivered.
        for name in ("IDP_SMS_WEBHOOK_URL", "IDP_SMS_WEBHOOK_SECRET"):
            env.pop(name)
        env.update(IDP_ENV="production", IDP_PASSWORD_HASHING="owasp")
    result = CliRunner().invoke(
        main,
        [
            "users",
            "add",
            "--username",
            "abc",
            "--send-temporary-password",
            "--email",
            "a@b.org",
            *extra,
        ],  # fmt: skip
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output
    with clean_database.transaction() as uow:
        assert uow.accounts.by_username("abc") is None
    assert smtp.mailbox.messages == [] and webhook_server.requests == []


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
