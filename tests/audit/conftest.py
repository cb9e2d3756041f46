"""Audit tests: the idp command over the configured test database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from idp.cli import main
from idp.store.sql.database import Database

from ..conftest import AUDIT_KEY_SECRET

# The suite's key: the trail each test leaves is verified under it (tests/conftest.py).
SECRET_KEY = AUDIT_KEY_SECRET


@pytest.fixture
def run(clean_database: Database, database_url: str, tmp_path: Path, monkeypatch):
    """``run("audit", "verify", code=1)``: the CLI with this test's database and key."""
    for name in list(os.environ):
        if name.startswith("IDP_") and not name.startswith("IDP_TEST_"):
            monkeypatch.delenv(name)
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_ENV": "test",
        "IDP_PASSWORD_HASHING": "test",
        "IDP_SECRET_KEY": SECRET_KEY,
    }
    if os.environ.get("IDP_TEST_REDIS_URL"):
        env["IDP_REDIS_URL"] = os.environ["IDP_TEST_REDIS_URL"]

    def invoke(*args: str, code: int = 0, extra_env: dict[str, str] | None = None):
        result = CliRunner().invoke(main, list(args), env={**env, **(extra_env or {})})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke
