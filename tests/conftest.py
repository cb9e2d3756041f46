"""Shared fixtures: the provider on the configured backends, factories, sign-in helpers.

Backends: SQLite + in-process store by default. With ``IDP_TEST_DATABASE_URL``
(a PostgreSQL server URL) and ``IDP_TEST_REDIS_URL`` set, as in CI's second run,
every test uses a fresh PostgreSQL database created for this run and real Redis.
Nothing depends on what a previous run left behind.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from idp.app import build_services, create_app
from idp.audit.chain import checkpoint_key
from idp.cli import main
from idp.oidc.keys import generate_keys
from idp.oidc.models import secret_hash
from idp.records import AccountRecord, ClientRecord
from idp.services import Services
from idp.settings import Settings, load_settings
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.redis import RedisEphemeralStore
from idp.store.sql.database import Database, upgrade
from idp.store.sql.models import Base
from idp.store.sql.repositories import NewClient, NewPerson

from .helpers import MovableClock, OIDCActions
from .live import fresh_postgres_database
from .notify.conftest import Mailbox, SmtpServer, _start_controller

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
# The secret key of the test settings: retention checkpoints are signed under it.
AUDIT_KEY_SECRET = "test-secret-key-" + "x" * 32
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")
BACKEND = "postgresql+redis" if PG_URL else "sqlite+memory"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start from an empty test Redis database, once per run (the xdist controller).

    Live servers share one key prefix and the loopback address's lockout budget, so
    failures left by an earlier run (the lockout race test's wrong passwords) would
    answer this run's sign-ins with 429 for up to 15 minutes. IDP_TEST_REDIS_URL
    names a database for tests only; emptying it touches nothing else.
    """
    if not REDIS_URL or hasattr(session.config, "workerinput"):
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.RedisError:
        pass  # unreachable: the tests that need Redis say so themselves
    finally:
        client.close()


def pytest_report_header(config: pytest.Config) -> str:
    return f"idp storage backends: {BACKEND}"


# --- durable store ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with the schema migrated, created for this test session only."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("db") / "idp.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database(PG_URL, prefix="idp_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database.from_url(database_url)
    yield db
    db.dispose()


@pytest.fixture
def clean_database(database: Database, request: pytest.FixtureRequest) -> Iterator[Database]:
    """Empty every table before the test (children first); afterwards, the audit trail
    the test's activity left must verify (``idp audit verify``'s check, issue 11 item 4).

    Every test of the suite thus proves the hash chains hold after its sign-ins, tokens,
    staff actions and retention runs, on both backends. Tests that break the trail on
    purpose say so with ``@pytest.mark.audit_tampered``.
    """
    with database.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    yield database
    if not request.node.get_closest_marker("audit_tampered"):
        assert_trail_verifies(database)


def assert_trail_verifies(database: Database) -> None:
    """Fail the test unless every hash chain of the trail verifies (``idp audit verify``)."""
    with database.transaction() as uow:
        found = uow.audit.verify(key=checkpoint_key(AUDIT_KEY_SECRET))
    if found is not None:
        pytest.fail(f"the audit trail this test left does not verify: {found.as_dict()}")


# --- ephemeral store -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis | None]:
    if not REDIS_URL:
        yield None
        return
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def ephemeral(redis_client: redis.Redis | None) -> Iterator[EphemeralStore]:
    if redis_client is None:
        yield MemoryEphemeralStore()
        return
    prefix = f"test:{uuid.uuid4().hex}:"
    yield RedisEphemeralStore(redis_client, prefix=prefix)
    keys = list(redis_client.scan_iter(match=prefix + "*", count=500))
    if keys:
        redis_client.delete(*keys)


# --- the provider ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys"
    generate_keys(path, now=int(datetime.now(UTC).timestamp()))
    return path


@pytest.fixture
def settings(database_url: str, keys_dir: Path, request: pytest.FixtureRequest) -> Settings:
    """Test settings; a test can change them with ``@pytest.mark.settings(name=value)``."""
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        overrides.update(marker.kwargs)
    return load_settings(
        {},
        database_url=database_url,
        redis_url=REDIS_URL,
        keys_dir=keys_dir,
        environment="test",
        password_hashing="test",
        secret_key=AUDIT_KEY_SECRET,
        **overrides,
    )


@pytest.fixture
def services(
    settings: Settings, clean_database: Database, ephemeral: EphemeralStore
) -> Iterator[Services]:
    # No background sender: a test's mail waits in the outbox until the test sends it,
    # and no thread outlives the test (and its database).
    services = build_services(
        settings, db=clean_database, ephemeral=ephemeral, background_delivery=False
    )
    yield services
    services.outbox_worker.stop()


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- shared test servers and time ----------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd, no TLS) that keeps what it receives."""
    mailbox = Mailbox()
    controller = _start_controller(
        lambda port: Controller(mailbox, hostname="127.0.0.1", port=port)
    )
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def clock() -> MovableClock:
    """Wall-clock time that tests move forward instead of sleeping."""
    return MovableClock()


# --- factories -------------------------------------------------------------------------------

REDIRECT_URI = "http://127.0.0.1:9000/callback"
LOGOUT_URI = "http://127.0.0.1:9000/signed-out"
PASSWORD = "correct horse battery staple"
ALL_SCOPES = "openid profile email phone address offline_access"


class Factory:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.secrets: dict[str, str] = {}

    def client(self, **kw: Any) -> ClientRecord:
        public = kw.pop("public", False)
        secret = None if public else secrets.token_urlsafe(32)
        new = NewClient(
            name=kw.pop("name", "Test Portal"),
            redirect_uris=kw.pop("redirect_uris", [REDIRECT_URI]),
            post_logout_redirect_uris=kw.pop("post_logout_redirect_uris", [LOGOUT_URI]),
            scope=kw.pop("scope", ALL_SCOPES),
            grant_types=kw.pop(
                "grant_types", ["authorization_code", "refresh_token", "client_credentials"]
            ),
            token_endpoint_auth_method=kw.pop(
                "token_endpoint_auth_method", "none" if public else "client_secret_basic"
            ),
            **kw,
        )
        with self.services.db.transaction() as uow:
            record = uow.clients.add(
                new, secret_hash=secret_hash(secret) if secret else None, now=datetime.now(UTC)
            )
        if secret:
            self.secrets[record.client_id] = secret
        return record

    def account(
        self, username: str = "alice", password: str = PASSWORD, **kw: Any
    ) -> AccountRecord:
        person = NewPerson(
            first_name=kw.pop("first_name", "Alice"),
            last_name=kw.pop("last_name", "Smith"),
            dob=kw.pop("dob", None),
            zip=kw.pop("zip", "02139"),
            gender=kw.pop("gender", "F"),
            email=kw.get("email", f"{username}@example.test"),
        )
        with self.services.db.transaction() as uow:
            return uow.accounts.add(
                username=username,
                password_hash=self.services.hashing.hash(password),
                email=kw.pop("email", f"{username}@example.test"),
                email_verified=kw.pop("email_verified", True),
                now=datetime.now(UTC),
                person=person,
                **kw,
            )


@pytest.fixture
def factory(services: Services) -> Factory:
    return Factory(services)


@pytest.fixture
def oidc(client: FlaskClient, factory: Factory) -> OIDCActions:
    return OIDCActions(client, factory)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**kw): override provider settings for a test")
    config.addinivalue_line(
        "markers", "audit_tampered: the test breaks the audit chain on purpose (not verified)"
    )


# --- the `idp` command on the test database (staff, console role table) -------------------

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

    def invoke(*args: str, code: int | None = 0) -> Result:
        """``code=None``: any exit code (the caller judges it)."""
        result = CliRunner().invoke(main, list(args), env=cli_env)
        assert code is None or result.exit_code == code, result.output
        return result

    return invoke
