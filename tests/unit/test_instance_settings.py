"""The embedded install's shared files and store choice (issue 8, items 13 and 14)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from idp.settings import SettingsError, load_settings


def _dev(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"IDP_ENV": "development", "IDP_INSTANCE_DIR": str(tmp_path / "instance"), **env}


def test_development_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings(_dev(tmp_path))
    second = load_settings(_dev(tmp_path))
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    path = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.secret_key


def test_development_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_settings(_dev(tmp_path))
    path = tmp_path / "instance" / "secret_key"
    path.chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings(_dev(tmp_path))


def test_explicit_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = load_settings(_dev(tmp_path, IDP_SECRET_KEY="k" * 40))
    assert settings.secret_key == "k" * 40
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_instance_dir_holds_database_and_ephemeral_store(tmp_path: Path) -> None:
    settings = load_settings(_dev(tmp_path))
    assert settings.ephemeral_backend == "sqlite"
    assert settings.ephemeral_path == tmp_path / "instance" / "ephemeral.sqlite3"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'idp.sqlite3'}"
    explicit = load_settings(_dev(tmp_path, IDP_DATABASE_URL="sqlite:////elsewhere/x.db"))
    assert explicit.database_url == "sqlite:////elsewhere/x.db"


def test_ephemeral_choice(tmp_path: Path) -> None:
    assert load_settings(_dev(tmp_path, IDP_EPHEMERAL="memory")).ephemeral_backend == "memory"
    redis = load_settings(_dev(tmp_path, IDP_REDIS_URL="redis://127.0.0.1:6379/0"))
    assert redis.ephemeral_backend == "redis"
    with pytest.raises(SettingsError, match="IDP_EPHEMERAL"):
        load_settings(_dev(tmp_path, IDP_EPHEMERAL="files"))
    with pytest.raises(SettingsError, match="IDP_EPHEMERAL and IDP_REDIS_URL"):
        load_settings(
            _dev(tmp_path, IDP_EPHEMERAL="sqlite", IDP_REDIS_URL="redis://127.0.0.1:6379/0")
        )
