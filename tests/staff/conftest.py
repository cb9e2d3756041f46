"""Fixtures for the staff operations: the ``idp`` command on the test database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from idp.cli import main
from idp.store.sql.database import Database

Run = Callable[..., Result]


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
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
        "IDP_SECRET_KEY": "cli-test-secret-" + "s" * 32,
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]
    return env


@pytest.fixture
def run(clean_database: Database, cli_env: dict[str, str]) -> Run:
    """``run("staff", "add", ..., code=0)``: the command's result, exit code checked."""

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, list(args), env=cli_env)
        assert result.exit_code == code, result.output
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.output)


def add_user(run: Run, username: str, email: str | None = None) -> None:
    run(
        "users",
        "add",
        "--username",
        username,
        "--password",
        "correct horse battery staple",
        "--email",
        email or f"{username}@example.org",
    )
