"""``idp invitations create|revoke|list`` against the test database and a real SMTP server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from idp.cli import main
from idp.store.sql.database import Database
from tests.notify.conftest import SmtpServer

from .conftest import LINK_RE, PATIENT, text_of

Run = Callable[..., Result]


@pytest.fixture
def run(
    clean_database: Database,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
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
        "IDP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "IDP_SMTP_HOST": smtp.host,
        "IDP_SMTP_PORT": str(smtp.port),
        "IDP_SMTP_SECURITY": "none",
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    return invoke


def _portal(
    database: Database, slug: str = "northside", name: str = "Northside Pediatrics"
) -> None:
    with database.transaction() as uow:
        uow.portals.add(slug=slug, name=name, now=datetime.now(UTC))


def _create_args(**changes: str) -> list[str]:
    values = {**PATIENT, **changes}
    return [
        "invitations",
        "create",
        "--portal",
        values.pop("portal", "northside"),
        "--patient-id",
        values["patient_id"],
        "--first-name",
        values["first_name"],
        "--last-name",
        values["last_name"],
        "--dob",
        values["dob"],
        "--zip",
        values["zip"],
        "--gender",
        values["gender"],
        "--email",
        values["email"],
    ]


def test_create_emails_the_patient_and_lists(
    run: Run, clean_database: Database, smtp: SmtpServer
) -> None:
    _portal(clean_database)
    created = json.loads(run(*_create_args(), "--staff", "front-desk", "--json").output)
    assert created["status"] == "pending" and created["portal"] == "northside"
    assert created["created_by"] == "staff:front-desk"
    assert "code" not in created
    [mail] = smtp.mailbox.messages
    assert mail["To"] == PATIENT["email"]
    link = LINK_RE.search(text_of(mail))
    assert link and link.group(1) not in json.dumps(created)

    listed = json.loads(run("invitations", "list", "--portal", "northside", "--json").output)
    assert [row["id"] for row in listed] == [created["id"]]
    text = run("invitations", "list", "--portal", "northside").output
    assert "MRN-0042" in text and "pending" in text

    revoked = json.loads(
        run("invitations", "revoke", str(created["id"]), "--staff", "dr-who", "--json").output
    )
    assert revoked["status"] == "revoked"
    again = run("invitations", "revoke", str(created["id"]), "--staff", "dr-who")
    assert "already revoked" in again.output
    with clean_database.transaction() as uow:
        events = [e for e in uow.audit.tail(50) if e.type.startswith("invitation_")]
    assert [(e.type, e.actor) for e in events] == [
        ("invitation_created", "staff:front-desk"),
        ("invitation_revoked", "staff:dr-who"),
    ]


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"dob": "17/05/1990"}, "--dob"),
        ({"zip": "ABC"}, "--zip"),
        ({"email": "nobody"}, "--email"),
        ({"gender": "banana"}, "--gender"),
        ({"patient_id": " "}, "--patient-id"),
        ({"portal": "nowhere"}, "no portal"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    run: Run,
    clean_database: Database,
    smtp: SmtpServer,
    changes: dict[str, str],
    complaint: str,
) -> None:
    _portal(clean_database)
    result = run(*_create_args(**changes), code=2)
    assert complaint in result.output
    assert json.loads(run("invitations", "list", "--portal", "northside", "--json").output) == []
    assert smtp.mailbox.messages == []


def test_revoke_and_list_refuse_unknown_things(run: Run, clean_database: Database) -> None:
    _portal(clean_database)
    assert "no invitation" in run("invitations", "revoke", "424242", "--staff", "x", code=2).output
    run("invitations", "revoke", "1", code=2)  # --staff is required
    run("invitations", "revoke", "not-a-number", "--staff", "x", code=2)
    run("invitations", "revoke", "1", "--staff", " ", code=2)
    assert "no portal" in run("invitations", "list", "--portal", "nowhere", code=2).output
    assert run("invitations", "list", "--portal", "northside").output.strip() == "no invitations"
