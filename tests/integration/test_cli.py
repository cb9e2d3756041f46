"""The idp command against a real database (the configured test backend)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.store.sql.database import Database

from ..conftest import AUDIT_KEY_SECRET


@pytest.fixture
def run(clean_database: Database, database_url: str, tmp_path: Path, monkeypatch):
    for name in list(os.environ):
        if (
            name.startswith("IDP_")
            and not name.startswith("IDP_TEST_")
            and name not in ("IDP_REQUIRE_REDIS", "IDP_REQUIRE_BROWSER")
        ):
            monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": AUDIT_KEY_SECRET,  # retention signs checkpoints under it
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]

    def invoke(*args: str, code: int = 0, extra_env: dict[str, str] | None = None):
        result = CliRunner().invoke(main, list(args), env={**env, **(extra_env or {})})
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_keys_generate_rotate_list(run, tmp_path: Path) -> None:
    generated = json.loads(run("keys", "generate", "--json").output)
    assert {k["alg"] for k in generated} == {"RS256", "ES256"}
    assert all(k["status"] == "active" for k in generated)
    for path in (tmp_path / "keys").glob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated = json.loads(run("keys", "rotate", "--json").output)
    statuses = sorted(k["status"] for k in rotated)
    assert statuses == ["active", "active", "retiring", "retiring"]
    assert json.loads(run("keys", "list", "--json").output) == rotated


def test_portal_client_and_user_lifecycle(run) -> None:
    assert json.loads(run("portals", "add", "--name", "Northside Pediatrics", "--json").output) == {
        "slug": "northside-pediatrics",
        "name": "Northside Pediatrics",
        # Proxy terms (issue 10 item 3): the defaults unless given.
        "teen_age": 13,
        "majority_age": 18,
        "adult_grant_months": 18,
        "time_zone": "UTC",
    }
    run("portals", "add", "--name", "Northside Pediatrics", code=2)  # duplicate slug
    created = json.loads(
        run(
            "clients",
            "add",
            "--name",
            "Northside portal",
            "--portal",
            "northside-pediatrics",
            "--redirect-uri",
            "https://portal.northside.example/callback",
            "--post-logout-redirect-uri",
            "https://portal.northside.example/",
            "--json",
        ).output
    )
    assert created["client_id"] and len(created["client_secret"]) >= 40
    public = json.loads(
        run(
            "clients",
            "add",
            "--name",
            "App",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:8080/cb",
            "--json",
        ).output
    )
    assert "client_secret" not in public
    listed = json.loads(run("clients", "list", "--json").output)
    assert {c["client_id"] for c in listed} == {created["client_id"], public["client_id"]}
    assert "client_secret" not in json.dumps(listed)
    run("clients", "remove", public["client_id"])
    run("clients", "remove", public["client_id"], code=2)
    assert len(json.loads(run("clients", "list", "--json").output)) == 1

    user = json.loads(
        run(
            "users",
            "add",
            "--username",
            "jdoe",
            "--password",
            "a long passphrase",
            "--email",
            "jdoe@example.org",
            "--first-name",
            "J",
            "--last-name",
            "Doe",
            "--dob",
            "1990-02-03",
            "--json",
        ).output
    )
    assert user["username"] == "jdoe"
    run(
        "users", "add", "--username", "JDOE", "--password", "x" * 20, "--email", "j@x.org", code=2
    )  # user IDs are unique case-insensitively
    assert "unlocked" in run("users", "unlock", "jdoe").output
    run("users", "unlock", "nobody", code=2)
    events = [json.loads(line) for line in run("audit", "tail", "--json").output.splitlines()]
    assert {"at", "type", "outcome", "actor", "subject", "client_id", "ip"} <= set(events[0])
    assert [e["type"] for e in events] == [
        "client_created",
        "client_created",
        "client_removed",
        "account_created",
        "account_unlocked",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["clients", "add", "--name", "X", "--redirect-uri", "http://portal.example/cb"],
        ["clients", "add", "--name", "X", "--redirect-uri", "https://p.example/cb#frag"],
        ["clients", "add", "--name", "X", "--redirect-uri", "javascript:alert(1)"],
        [
            "clients",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://p.example/cb",
            "--scope",
            "profile",
        ],
        [
            "clients",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://p.example/cb",
            "--portal",
            "missing",
        ],
        [
            "clients",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "https://b.example/cb",
            "--subject-type",
            "pairwise",
        ],
        [
            "clients",
            "add",
            "--name",
            "X",
            "--public",
            "--client-credentials",
            "--redirect-uri",
            "https://p.example/cb",
        ],
        ["users", "add", "--username", "x y", "--password", "p" * 20, "--email", "a@b.org"],
        ["users", "add", "--username", "okay", "--password", "p" * 20, "--email", "nope"],
        [
            "users",
            "add",
            "--username",
            "okay",
            "--password",
            "p" * 20,
            "--email",
            "a@b.org",
            "--first-name",
            "A",
            "--dob",
            "03/02/1990",
        ],
        ["portals", "add", "--name", "X", "--slug", "Bad Slug!"],
    ],
)
def test_bad_input_is_refused_and_writes_nothing(run, args: list[str]) -> None:
    result = run(*args, code=2)
    assert result.output.startswith("error:")
    assert json.loads(run("clients", "list", "--json").output) == []
    assert run("audit", "tail", "--json").output == ""


def test_bad_setting_names_the_variable(run) -> None:
    result = run("clients", "list", code=2, extra_env={"IDP_ACCESS_TOKEN_TTL": "soon"})
    assert "IDP_ACCESS_TOKEN_TTL" in result.output


def test_missing_schema_says_to_upgrade(run, tmp_path: Path) -> None:
    result = run(
        "clients",
        "list",
        code=2,
        extra_env={"IDP_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3"},
    )
    assert "idp db upgrade" in result.output
    run("db", "upgrade", extra_env={"IDP_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3"})


def test_staff_rename_keeps_the_account_and_records_why(run) -> None:
    run(
        "users",
        "add",
        "--username",
        "jdoe",
        "--password",
        "a long passphrase here",
        "--email",
        "jdoe@example.org",
    )
    run(
        "users",
        "add",
        "--username",
        "other",
        "--password",
        "a long passphrase here",
        "--email",
        "other@example.org",
    )
    run("users", "rename", "jdoe", "jane.doe", "--staff", "kim", "--reason", "name change")
    run("users", "rename", "jane.doe", "OTHER", "--staff", "kim", "--reason", "x", code=2)
    run("users", "rename", "nobody", "new.name", "--staff", "kim", "--reason", "x", code=2)
    run("users", "rename", "jane.doe", "bad name", "--staff", "kim", "--reason", "x", code=2)
    assert "unlocked" in run("users", "unlock", "JANE.DOE").output
    events = [json.loads(line) for line in run("audit", "tail", "--json").output.splitlines()]
    renamed = [e for e in events if e["type"] == "username_changed"]
    assert len(renamed) == 1
    assert renamed[0]["actor"] == "staff:kim" and renamed[0]["details"] == {"reason": "name change"}


def test_retention_apply_deletes_only_old_events_and_records_it(run, clean_database) -> None:
    from datetime import UTC, datetime, timedelta

    from idp.records import AuditEntry

    with clean_database.transaction() as uow:
        old = datetime.now(UTC) - timedelta(days=3651)
        uow.audit.record(AuditEntry(type="login", outcome="success", actor="a"), now=old)
        uow.audit.record(
            AuditEntry(type="login", outcome="success", actor="b"), now=datetime.now(UTC)
        )
    dry = json.loads(run("retention", "apply", "--dry-run", "--json").output)
    assert dry["events"] == 1
    assert len(run("audit", "tail", "--json").output.splitlines()) == 2
    done = json.loads(run("retention", "apply", "--json").output)
    assert done["events"] == 1
    events = [json.loads(line) for line in run("audit", "tail", "--json").output.splitlines()]
    assert [e["type"] for e in events] == ["login", "audit_purged"]


def test_generated_client_ids_are_safe_on_a_command_line(services) -> None:
    """A base64url id could start with "-" and be taken for an option by `idp clients remove`."""
    from ..conftest import Factory

    factory = Factory(services)
    ids = [factory.client().client_id for _ in range(40)]
    assert all(c[0].isalnum() and c.isalnum() for c in ids)
    assert len(set(ids)) == len(ids)


def test_require_mfa_per_client_and_per_practice(run, services) -> None:
    added = json.loads(
        run("portals", "add", "--name", "Strict Clinic", "--require-mfa", "--json").output
    )
    assert added["require_mfa"] is True
    created = json.loads(
        run(
            "clients",
            "add",
            "--name",
            "Strict app",
            "--require-mfa",
            "--redirect-uri",
            "https://strict.example/cb",
            "--json",
        ).output
    )
    [listed] = json.loads(run("clients", "list", "--json").output)
    assert listed["client_id"] == created["client_id"] and listed["require_mfa"] is True
    with services.db.transaction() as uow:
        portal = uow.portals.by_slug("strict-clinic")
        assert portal is not None and portal.require_mfa


def test_backchannel_logout_uri_is_set_checked_and_removed(run) -> None:
    added = json.loads(
        run(
            "clients",
            "add",
            "--name",
            "Portal",
            "--redirect-uri",
            "https://p.example/cb",
            "--backchannel-logout-uri",
            "https://p.example/bcl",
            "--json",
        ).output
    )
    client_id = added["client_id"]

    def listed() -> dict:
        rows = json.loads(run("clients", "list", "--json").output)
        return next(r for r in rows if r["client_id"] == client_id)

    assert listed()["backchannel_logout_uri"] == "https://p.example/bcl"
    for bad in ("http://p.example/bcl", "https://p.example/bcl#x", "not a uri"):
        run("clients", "backchannel-logout", client_id, "--uri", bad, code=2)
        assert listed()["backchannel_logout_uri"] == "https://p.example/bcl"
    run("clients", "backchannel-logout", client_id, code=2)  # neither --uri nor --off
    run("clients", "backchannel-logout", "no-such-client", "--off", code=2)
    run(
        "clients",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://x.example/cb",
        "--backchannel-logout-session-required",
        code=2,
    )
    run("clients", "backchannel-logout", client_id, "--uri", "http://127.0.0.1:8080/bcl")
    assert listed()["backchannel_logout_uri"] == "http://127.0.0.1:8080/bcl"
    run("clients", "backchannel-logout", client_id, "--off")
    assert listed()["backchannel_logout_uri"] is None
