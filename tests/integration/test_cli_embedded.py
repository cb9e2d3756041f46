"""`idp` beside an embedded server: it acts on the server's state or refuses (issue 8, 13-14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp.cli import main
from idp.store.sql import models as m
from idp.store.sql.database import Database

SECRET = "cli-embedded-secret-" + "a" * 32
OTHER_SECRET = "cli-embedded-other-" + "b" * 32


@pytest.fixture
def run(clean_database: Database, database_url: str, tmp_path: Path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST")]:
        monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": SECRET,
    }

    def invoke(*args: str, code: int = 0, **extra: str):
        result = CliRunner().invoke(main, list(args), env={**env, **extra})
        assert result.exit_code == code, result.output
        return result

    return invoke


def _events(database: Database, kind: str) -> int:
    with database.session() as session:
        return len(session.scalars(select(m.AuditEvent).where(m.AuditEvent.type == kind)).all())


def test_in_process_store_makes_state_commands_refuse(run, clean_database: Database) -> None:
    memory = {"IDP_EPHEMERAL": "memory"}
    run("users", "add", "--username", "jdoe", "--password", "pw-1234567", "--email",
        "j@example.org", **memory)  # fmt: skip
    refused = run("users", "unlock", "jdoe", code=2, **memory)
    assert "IDP_EPHEMERAL=memory" in refused.output
    assert "nothing was changed" in refused.output
    assert "unlocked" not in refused.output.replace("IDP_EPHEMERAL", "")
    assert _events(clean_database, "account_unlocked") == 0
    # The default (SQLite file in the instance directory) reaches the server's state.
    assert "account jdoe unlocked" in run("users", "unlock", "jdoe").output
    assert _events(clean_database, "account_unlocked") == 1


def test_index_under_another_secret_is_refused_until_reindexed(run) -> None:
    person = ["--first-name", "Grace", "--last-name", "Hopper", "--dob", "1990-02-03",
              "--zip", "02139", "--gender", "female"]  # fmt: skip
    run("users", "add", "--username", "grace", "--password", "pw-1234567", "--email",
        "g@example.org", *person)  # fmt: skip
    other = {"IDP_SECRET_KEY": OTHER_SECRET}
    refused = run("users", "add", "--username", "ada", "--password", "pw-1234567", "--email",
                  "a@example.org", *person, code=2, **other)  # fmt: skip
    assert "idp persons reindex" in refused.output
    run("persons", "reindex", **other)
    run("users", "add", "--username", "ada", "--password", "pw-1234567", "--email",
        "a@example.org", *person, **other)  # fmt: skip
    # Now the first secret is the stranger.
    assert "idp persons reindex" in run(
        "users", "add", "--username", "bob", "--password", "pw-1234567", "--email",
        "b@example.org", *person, code=2).output  # fmt: skip


def _rows(database: Database, model: type) -> int:
    with database.session() as session:
        return len(session.scalars(select(model)).all())


def test_link_commands_need_a_known_issuer_and_write_nothing_without(
    run, clean_database: Database, tmp_path: Path
) -> None:
    """Links must point where the provider answers, never at a guessed default (item 15)."""
    run("portals", "add", "--name", "Northside")
    run("users", "add", "--username", "alice", "--password", "pw-1234567", "--email",
        "alice@example.org")  # fmt: skip
    invite = ["invitations", "create", "--portal", "northside", "--patient-id", "MRN-1",
              "--first-name", "Grace", "--last-name", "Hopper", "--dob", "1990-02-03",
              "--zip", "02139", "--gender", "female", "--email", "g@example.org"]  # fmt: skip
    refusals = [
        run(*invite, code=2),
        run("users", "reset-link", "alice", "--staff", "Kim", "--reason", "ticket 1", code=2),
        run(
            "users",
            "add",
            "--username",
            "bob",
            "--send-temporary-password",
            "--email",
            "bob@example.org",
            code=2,
        ),  # fmt: skip
    ]
    for refused in refusals:
        assert "IDP_ISSUER" in refused.output and "idp serve" in refused.output
    assert _rows(clean_database, m.Invitation) == 0
    assert _rows(clean_database, m.OutboxMessage) == 0
    assert _rows(clean_database, m.ActionToken) == 0
    assert _rows(clean_database, m.Account) == 1

    # What `idp serve --port 5123` records is used...
    from idp.instance import record_issuer

    record_issuer(tmp_path / "instance", "http://127.0.0.1:5123")
    printed = run("users", "reset-link", "alice", "--staff", "Kim", "--reason", "ticket 1")
    assert "http://127.0.0.1:5123/reset/password?token=" in printed.output
    # ...and IDP_ISSUER, when set, wins over it.
    printed = run("users", "reset-link", "alice", "--staff", "Kim", "--reason", "ticket 2",
                  IDP_ISSUER="http://localhost:8443")  # fmt: skip
    assert "http://localhost:8443/reset/password?token=" in printed.output


def test_a_bad_recorded_issuer_is_refused(run, tmp_path: Path) -> None:
    run("users", "add", "--username", "alice", "--password", "pw-1234567", "--email",
        "alice@example.org")  # fmt: skip
    (tmp_path / "instance" / "issuer").write_text("http://evil.example.org\n")
    refused = run("users", "reset-link", "alice", "--staff", "Kim", "--reason", "t 1", code=2)
    assert "must use https" in refused.output
