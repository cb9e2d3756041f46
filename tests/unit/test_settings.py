"""Settings: every IDP_* variable validated at start, errors name the variable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from idp.clock import FileOffsetClock
from idp.settings import SettingsError, load_settings

BASE = {"IDP_SECRET_KEY": "k" * 40}


def test_defaults_follow_the_issue() -> None:
    s = load_settings(BASE)
    assert s.issuer == "http://127.0.0.1:5000"
    assert s.redis_url is None
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("idp.sqlite3")
    assert s.tokens.access_token == 600
    assert s.tokens.code == 60
    assert s.lockout.max_failures == 5 and s.lockout.lock_seconds == 900
    assert s.password_policy == "nist-800-63b"
    assert s.redis_timeout == 2.0 and s.database_connect_timeout == 5


def test_outage_timeouts_are_read() -> None:
    s = load_settings({**BASE, "IDP_REDIS_TIMEOUT": "0.25", "IDP_DATABASE_CONNECT_TIMEOUT": "3"})
    assert s.redis_timeout == 0.25 and s.database_connect_timeout == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IDP_ISSUER", "ftp://idp.example"),
        ("IDP_ISSUER", "http://idp.example.org"),  # http only on loopback
        ("IDP_ISSUER", "https://idp.example.org/?x=1"),
        ("IDP_DATABASE_URL", "mysql://root@localhost/idp"),
        ("IDP_REDIS_URL", "http://127.0.0.1:6379"),
        ("IDP_PASSWORD_POLICY", "weak"),
        ("IDP_ACCESS_TOKEN_TTL", "ten minutes"),
        ("IDP_ACCESS_TOKEN_TTL", "0"),
        ("IDP_CODE_TTL", "600"),
        ("IDP_LOCKOUT_HARD_CAP", "1000"),
        ("IDP_LOCKOUT_ACCOUNTS_PER_ADDRESS", "0"),
        ("IDP_LOCKOUT_ACCOUNTS_PER_ADDRESS", "many"),
        ("IDP_DEVICE_COOKIE_DAYS", "401"),  # browsers cap cookies at 400 days
        ("IDP_DEVICE_COOKIE_DAYS", "0"),
        ("IDP_SMTP_PORT", "70000"),
        ("IDP_SMTP_SECURITY", "ssl3"),
        ("IDP_ENV", "staging"),
        ("IDP_REDIS_UR", "redis://127.0.0.1"),  # unknown variable: a typo must not pass
        ("IDP_REDIS_TIMEOUT", "two"),
        ("IDP_REDIS_TIMEOUT", "0"),  # no timeout would let a hung Redis hold a worker
        ("IDP_REDIS_TIMEOUT", "nan"),
        ("IDP_REDIS_TIMEOUT", "inf"),
        ("IDP_DATABASE_CONNECT_TIMEOUT", "0"),
        ("IDP_DATABASE_CONNECT_TIMEOUT", "1.5"),
    ],
)
def test_bad_value_stops_start_and_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings({**BASE, name: value})
    assert name in str(excinfo.value)


def test_secret_key_required_in_production() -> None:
    with pytest.raises(SettingsError, match="IDP_SECRET_KEY"):
        load_settings({})
    with pytest.raises(SettingsError, match="IDP_SECRET_KEY"):
        load_settings({"IDP_SECRET_KEY": "short"})


def test_development_gets_a_random_secret_but_not_behind_https() -> None:
    assert len(load_settings({"IDP_ENV": "development"}).secret_key) >= 32
    with pytest.raises(SettingsError, match="IDP_ENV=development"):
        load_settings({"IDP_ENV": "development", "IDP_ISSUER": "https://idp.example.org"})


def test_test_hashing_profile_only_in_test_env() -> None:
    with pytest.raises(SettingsError, match="IDP_PASSWORD_HASHING"):
        load_settings({**BASE, "IDP_PASSWORD_HASHING": "test"})


def test_postgres_url_uses_psycopg3() -> None:
    s = load_settings({**BASE, "IDP_DATABASE_URL": "postgresql://idp@db/idp"})
    assert s.database_url == "postgresql+psycopg://idp@db/idp"


def test_values_are_parsed_into_sections() -> None:
    s = load_settings(
        {
            **BASE,
            "IDP_ACCESS_TOKEN_TTL": "120",
            "IDP_SESSION_IDLE_TIMEOUT": "300",
            "IDP_ISSUER": "https://id.example.org/",
        }
    )
    assert s.tokens.access_token == 120
    assert s.session.idle_timeout == 300
    assert s.issuer == "https://id.example.org"
    assert s.secure_cookies


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.5", "127.0.0.1.example.org"])
def test_unencrypted_smtp_is_refused_for_a_host_off_this_machine(host: str) -> None:
    with pytest.raises(SettingsError, match="IDP_SMTP_SECURITY") as excinfo:
        load_settings({**BASE, "IDP_SMTP_HOST": host, "IDP_SMTP_SECURITY": "none"})
    assert "IDP_SMTP_HOST" in str(excinfo.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_unencrypted_smtp_is_allowed_on_loopback(host: str) -> None:
    settings = load_settings({**BASE, "IDP_SMTP_HOST": host, "IDP_SMTP_SECURITY": "none"})
    assert settings.smtp.security == "none"


def test_trusted_proxies_default_to_none_and_are_bounded() -> None:
    assert load_settings({**BASE, "IDP_ISSUER": "https://id.example.org"}).trusted_proxies == 0
    assert load_settings({**BASE, "IDP_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(SettingsError, match="IDP_TRUSTED_PROXIES"):
        load_settings({**BASE, "IDP_TRUSTED_PROXIES": "-1"})


@pytest.mark.parametrize("environment", ["production", "development"])
def test_test_clock_file_is_refused_outside_tests(environment: str, tmp_path: Any) -> None:
    # Whoever could write the file could move every proxy birthday: tests only.
    env = {**BASE, "IDP_ENV": environment, "IDP_TEST_CLOCK_FILE": str(tmp_path / "offset")}
    with pytest.raises(SettingsError, match="IDP_TEST_CLOCK_FILE"):
        load_settings(env)


def test_test_clock_file_moves_the_clock_in_tests(tmp_path: Any) -> None:
    path = tmp_path / "offset"
    s = load_settings({**BASE, "IDP_ENV": "test", "IDP_TEST_CLOCK_FILE": str(path)})
    assert s.test_clock_file == path.resolve()
    clock = FileOffsetClock(path)
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 5  # no file: no offset
    path.write_text("86400", encoding="ascii")
    assert 86395 < (clock() - datetime.now(UTC)).total_seconds() < 86405


def test_a_read_replica_url_is_read_for_a_postgresql_primary() -> None:
    s = load_settings(
        {
            **BASE,
            "IDP_DATABASE_URL": "postgresql://idp@db-primary/idp",
            "IDP_DATABASE_REPLICA_URL": "postgresql://idp@db-replica/idp",
        }
    )
    assert s.database_replica_url == "postgresql+psycopg://idp@db-replica/idp"
    assert load_settings({**BASE, "IDP_DATABASE_REPLICA_URL": ""}).database_replica_url is None


@pytest.mark.parametrize(
    "env",
    [
        # A replica of an embedded SQLite file does not exist.
        {"IDP_DATABASE_REPLICA_URL": "postgresql://idp@db-replica/idp"},
        {
            "IDP_DATABASE_URL": "postgresql://idp@db-primary/idp",
            "IDP_DATABASE_REPLICA_URL": "sqlite:///replica.sqlite3",
        },
        {
            "IDP_DATABASE_URL": "postgresql://idp@db-primary/idp",
            "IDP_DATABASE_REPLICA_URL": "mysql://idp@db-replica/idp",
        },
    ],
)
def test_a_replica_that_cannot_be_one_stops_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="IDP_DATABASE_REPLICA_URL"):
        load_settings({**BASE, **env})
