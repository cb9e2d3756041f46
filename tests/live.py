"""A live provider: the real server process (gunicorn) on loopback, for end-to-end work.

Flask's test client skips everything between the socket and the view: the WSGI
server, several worker processes, cookies crossing real HTTP, keys read from disk
by each worker, state shared only through SQL and Redis. Tests of a real OIDC
client library, browser journeys and benchmarks need all of that, so they talk to
a provider started here the way production starts it::

    python -m gunicorn --workers N --threads 4 --bind 127.0.0.1:PORT --no-control-socket \\
        --graceful-timeout 5 --access-logfile FILE \\
        --logger-class idp.logging_setup.JsonGunicornLogger 'idp.app:create_app()'

configured only through ``IDP_*`` environment variables, plus
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per server) so that ``/metrics``
sums every worker's counters as in production. Logs are JSON lines; the access
log, with the worker pid on each line, lets tests see which worker answered.
:func:`live_provider` is a plain context manager (bench scripts use it);
``tests/e2e/conftest.py`` wraps it in a pytest fixture.

Backends follow the rest of the suite, except that the embedded run is what a new
install runs: a SQLite file + the SQLite ephemeral store in the instance directory,
with two workers (that store is shared by processes, as by server and CLI). With
``IDP_TEST_DATABASE_URL`` (a PostgreSQL server) and
``IDP_TEST_REDIS_URL`` a fresh database with a random name, dropped afterwards, and
real Redis, with two workers so that nothing can hide in one process's memory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from idp.access_log import GUNICORN_LOGGER_CLASS
from idp.flows.methods.password import PasswordHashing
from idp.oidc.keys import generate_keys
from idp.oidc.models import secret_hash
from idp.settings import PROJECT_ROOT
from idp.store.sql.database import Database, upgrade
from idp.store.sql.repositories import NewClient, NewPerson, username_key

DEFAULT_PASSWORD = "correct horse battery staple"
ALL_SCOPES = "openid profile email phone address offline_access"
ALL_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
# The provider's Redis key prefix (RedisEphemeralStore's default, not configurable by env).
REDIS_PREFIX = "idp:"
# Access-log line written by the server: "<pid> METHOD /path STATUS "request line"
# "referer"", through the provider's redacting logger (idp/access_log.py) exactly as
# `idp serve` runs it, so tests can check that no token or code reaches the log.
ACCESS_LOG_FORMAT = '%(p)s %(m)s %(U)s %(s)s "%(r)s" "%(f)s"'
LOGGER_CLASS = GUNICORN_LOGGER_CLASS
_ACCESS_RE = re.compile(r"^<(\d+)> (\S+) (\S+) (\d{3}) ")
_PORT_TAKEN = ("Address already in use", "Connection in use")


class LiveServerError(RuntimeError):
    """The provider process did not start or answer; the message carries its log."""


@dataclass(frozen=True, slots=True)
class Backend:
    """Where durable and ephemeral state live for one live provider."""

    # A PostgreSQL *server* URL (a fresh database is created on it); None: SQLite file.
    postgres_url: str | None = None
    # Redis URL; None: the SQLite ephemeral store in the server's instance directory.
    redis_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Backend:
        """The backends the test suite is configured for (CI's second run sets both)."""
        env = os.environ if environ is None else environ
        return cls(
            postgres_url=env.get("IDP_TEST_DATABASE_URL") or None,
            redis_url=env.get("IDP_TEST_REDIS_URL") or None,
        )

    @property
    def name(self) -> str:
        durable = "postgresql" if self.postgres_url else "sqlite"
        ephemeral = "redis" if self.redis_url else "sqlite"
        return f"{durable}+{ephemeral}"

    @property
    def max_workers(self) -> int | None:
        """Both stores are shared by every worker: no limit."""
        return None


@dataclass(frozen=True, slots=True)
class LiveClient:
    """A registered relying party, with its secret in clear (only the hash is stored)."""

    client_id: str
    client_secret: str | None
    name: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scope: str
    first_party: bool
    portal_id: int | None

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]


@dataclass(frozen=True, slots=True)
class LiveAccount:
    username: str
    password: str
    subject: str
    first_name: str
    last_name: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class LiveProvider:
    """A running provider process and the handles needed to seed and inspect it."""

    url: str
    port: int
    workers: int
    backend: Backend
    database_url: str
    keys_dir: Path
    password_hashing: str
    process: subprocess.Popen[bytes]
    log_path: Path
    access_log_path: Path
    db: Database
    # The server's environment (IDP_* settings), for running `idp` commands beside it.
    env: dict[str, str] = field(default_factory=dict)
    # What this run created, so its Redis keys can be told from other runs' (_sweep_redis).
    usernames: set[str] = field(default_factory=set)
    client_ids: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    # The server's environment (``idp`` commands run against the same storage and key).
    env: dict[str, str] = field(default_factory=dict)
    _hashing: PasswordHashing | None = None

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def instance_dir(self) -> Path:
        """The server's IDP_INSTANCE_DIR (ephemeral store, development secret, issuer)."""
        return self.log_path.parent / "instance"

    def endpoint(self, path: str) -> str:
        return self.url + path

    # --- seeding, through the same repositories the provider uses -----------------------

    def add_portal(self, name: str, slug: str | None = None) -> int:
        """Create a portal (a practice); returns its id for :meth:`add_client`."""
        slug = slug or f"portal-{secrets.token_hex(4)}"
        with self.db.transaction() as uow:
            return uow.portals.add(slug=slug, name=name, now=datetime.now(UTC)).id

    def add_client(
        self,
        *,
        redirect_uris: Sequence[str],
        name: str = "Test Portal",
        post_logout_redirect_uris: Sequence[str] = (),
        scope: str = ALL_SCOPES,
        grant_types: Sequence[str] = ALL_GRANTS,
        public: bool = False,
        first_party: bool = False,
        portal_id: int | None = None,
        backchannel_logout_uri: str | None = None,
    ) -> LiveClient:
        """Register a client; confidential ones get a random secret, returned in clear."""
        secret = None if public else secrets.token_urlsafe(32)
        new = NewClient(
            name=name,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            scope=scope,
            grant_types=list(grant_types),
            token_endpoint_auth_method="none" if public else "client_secret_basic",
            first_party=first_party,
            portal_id=portal_id,
            backchannel_logout_uri=backchannel_logout_uri,
        )
        with self.db.transaction() as uow:
            record = uow.clients.add(
                new, secret_hash=secret_hash(secret) if secret else None, now=datetime.now(UTC)
            )
        self.client_ids.add(record.client_id)
        return LiveClient(
            client_id=record.client_id,
            client_secret=secret,
            name=record.name,
            redirect_uris=record.redirect_uris,
            post_logout_redirect_uris=record.post_logout_redirect_uris,
            scope=record.scope,
            first_party=record.first_party,
            portal_id=record.portal.id if record.portal else None,
        )

    def add_account(
        self,
        username: str | None = None,
        password: str = DEFAULT_PASSWORD,
        *,
        first_name: str = "Alice",
        last_name: str = "Smith",
        email: str | None = None,
    ) -> LiveAccount:
        """Create an active account, hashed with the server's own argon2 profile.

        The default user ID is random: lockout counters are keyed by user ID in a
        Redis that other runs may share, so fixed names would leak between runs.
        """
        username = username or f"patient-{secrets.token_hex(4)}"
        email = email or f"{username}@example.test"
        if self._hashing is None:
            self._hashing = PasswordHashing(self.password_hashing)
        self.track_username(username)
        with self.db.transaction() as uow:
            record = uow.accounts.add(
                username=username,
                password_hash=self._hashing.hash(password),
                email=email,
                email_verified=True,
                now=datetime.now(UTC),
                person=NewPerson(
                    first_name=first_name, last_name=last_name, zip="02139", email=email
                ),
            )
        self.subjects.add(record.subject)
        return LiveAccount(
            username=username,
            password=password,
            subject=record.subject,
            first_name=first_name,
            last_name=last_name,
            email=email,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an ``idp`` command against this server's database and stores."""
        return subprocess.run(
            [sys.executable, "-m", "idp.cli", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def track_username(self, username: str) -> None:
        """Remember a user ID sent to the login form, so its lockout counters are removed."""
        self.usernames.add(username_key(username))

    # --- inspection --------------------------------------------------------------------

    def served_by(self) -> dict[str, set[int]]:
        """Which worker pids answered each path so far, from the server's access log."""
        pids: dict[str, set[int]] = defaultdict(set)
        for line in self.access_log_path.read_text(errors="replace").splitlines():
            match = _ACCESS_RE.match(_access_message(line))
            if match:
                pids[match.group(3)].add(int(match.group(1)))
        return dict(pids)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _access_message(line: str) -> str:
    """The formatted access-log message of a JSON log line (idp/logging_setup.py)."""
    try:
        doc = json.loads(line)
    except ValueError:
        return line.strip()
    return str(doc.get("message", "")) if isinstance(doc, dict) else ""


def read_json_log(path: Path) -> list[dict[str, Any]]:
    """Every JSON object line of a server log (other lines: gunicorn before set-up)."""
    docs = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            docs.append(doc)
    return docs


# --- the context manager ------------------------------------------------------------------


@contextmanager
def live_provider(
    *,
    backend: Backend | None = None,
    workers: int | None = None,
    threads: int = 4,
    worker_class: str | None = None,
    password_hashing: str = "test",
    extra_env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    host_name: str = "127.0.0.1",
) -> Iterator[LiveProvider]:
    """Prepare storage and keys, start the provider, yield it, and always clean up.

    ``backend`` defaults to :meth:`Backend.from_env`; ``workers`` to 2.
    ``password_hashing`` is the argon2 profile ("test" for speed; "owasp" or
    "rfc9106-low" for benchmarks). ``extra_env`` adds ``IDP_*`` settings (e.g. token
    lifetimes); nothing else leaks in from the caller. ``host_name`` is the issuer's
    host: "localhost" where a browser refuses an IP address (a WebAuthn RP ID must be
    a domain); the server listens on 127.0.0.1 either way.
    """
    backend = backend or Backend.from_env()
    if workers is None:
        workers = 2
    if backend.max_workers is not None and workers > backend.max_workers:
        raise ValueError("the in-process store serves one worker only; set a Redis URL")
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="idp-live-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        database_url = stack.enter_context(_database(backend, tmp))
        upgrade(database_url)
        keys_dir = tmp / "keys"
        generate_keys(keys_dir, now=int(time.time()))
        db = Database.from_url(database_url)
        stack.callback(db.dispose)
        provider = _start(
            tmp=tmp,
            backend=backend,
            database_url=database_url,
            keys_dir=keys_dir,
            workers=workers,
            threads=threads,
            worker_class=worker_class,
            password_hashing=password_hashing,
            extra_env=extra_env or {},
            startup_timeout=startup_timeout,
            db=db,
            host_name=host_name,
        )
        if backend.redis_url:
            stack.callback(_sweep_redis, backend.redis_url, provider)
        # Run once the server has stopped, before its database goes.
        stack.callback(verify_audit_trail, provider)
        # Last registered, first run: the server stops before anything it uses goes.
        stack.callback(_stop, provider.process)
        yield provider


def verify_audit_trail(provider: LiveProvider) -> None:
    """``idp audit verify`` on the server's database after everything the tests did
    there (issue 11 item 4): a broken hash chain fails the run, naming the event."""
    idp = Path(sys.executable).with_name("idp")
    done = subprocess.run(
        [str(idp), "audit", "verify", "--json"],
        env=provider.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise LiveServerError(f"idp audit verify failed after the live tests: {done.stdout}")


@contextmanager
def _database(backend: Backend, tmp: Path) -> Iterator[str]:
    """A migrated-to-be database: a SQLite file in ``tmp``, or a fresh PostgreSQL one."""
    if not backend.postgres_url:
        yield f"sqlite:///{tmp / 'idp.sqlite3'}"
        return
    with fresh_postgres_database(backend.postgres_url, prefix="idp_live") as url:
        yield url


@contextmanager
def fresh_postgres_database(server_url: str, *, prefix: str) -> Iterator[str]:
    """An empty database of its own on ``server_url``, dropped (connections and all)
    afterwards: what the test session, the live servers and the benches run on."""
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    # No pool: a fault test may restart the server in between, killing a pooled connection.
    admin = create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _free_port() -> int:
    """A port that was free a moment ago; :func:`_start` retries if someone takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(
    *,
    tmp: Path,
    port: int,
    backend: Backend,
    database_url: str,
    keys_dir: Path,
    password_hashing: str,
    extra_env: Mapping[str, str],
    host_name: str = "127.0.0.1",
) -> dict[str, str]:
    """The caller's environment minus every ``IDP_*`` name, plus exactly our settings.

    Settings refuse unknown ``IDP_*`` names, and an inherited ``IDP_REDIS_URL`` or
    ``IDP_DATABASE_URL`` would silently point the server somewhere else.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_DATABASE_URL=database_url,
        IDP_KEYS_DIR=str(keys_dir),
        IDP_ISSUER=f"http://{host_name}:{port}",
        IDP_INSTANCE_DIR=str(tmp / "instance"),
        IDP_ENV="test",
        IDP_PASSWORD_HASHING=password_hashing,
        IDP_SECRET_KEY=secrets.token_urlsafe(48),
    )
    if backend.redis_url:
        env["IDP_REDIS_URL"] = backend.redis_url
        # Every live test's browser is 127.0.0.1, and the provider's Redis keys have a
        # fixed prefix: with a shared Redis, one address's failure budget is shared by
        # every test and every concurrent run on the machine, and a few wrong passwords
        # elsewhere made unrelated sign-ins answer 429. The per-address budget is tested
        # in-process (tests/integration/test_address_throttle.py, private key prefixes);
        # here it is as wide as the settings allow unless a test sets it.
        env["IDP_IP_FAILURE_LIMIT"] = "10000"
        env["IDP_LOCKOUT_ACCOUNTS_PER_ADDRESS"] = "100"
    # Every worker's metrics in files that a scrape sums (prometheus-client multiprocess).
    metrics_dir = tmp / f"prometheus-{port}"
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    for name, value in extra_env.items():
        if not name.startswith("IDP_"):
            raise ValueError(f"extra_env takes IDP_* settings only, got {name}")
        env[name] = value
    return env


def _start(
    *,
    tmp: Path,
    backend: Backend,
    database_url: str,
    keys_dir: Path,
    workers: int,
    threads: int,
    password_hashing: str,
    worker_class: str | None = None,
    extra_env: Mapping[str, str],
    startup_timeout: float,
    db: Database,
    host_name: str = "127.0.0.1",
) -> LiveProvider:
    """Start gunicorn on a free port (a few tries: the port may be taken in between)."""
    last_error: LiveServerError | None = None
    for attempt in range(3):
        port = _free_port()
        log_path = tmp / f"server-{attempt}.log"
        access_log_path = tmp / f"access-{attempt}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            # Tests stop the server at once; nothing long-running to drain.
            "--graceful-timeout",
            "5",
            "--access-logfile",
            str(access_log_path),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            "--logger-class",
            LOGGER_CLASS,
            *(["--worker-class", worker_class] if worker_class else []),
            "idp.app:create_app()",
        ]
        env = _server_env(
            tmp=tmp,
            port=port,
            backend=backend,
            database_url=database_url,
            keys_dir=keys_dir,
            password_hashing=password_hashing,
            extra_env=extra_env,
            host_name=host_name,
        )
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: teardown signals the arbiter and every worker.
                start_new_session=True,
            )
        provider = LiveProvider(
            url=f"http://{host_name}:{port}",
            port=port,
            workers=workers,
            backend=backend,
            database_url=database_url,
            keys_dir=keys_dir,
            password_hashing=password_hashing,
            process=process,
            log_path=log_path,
            access_log_path=access_log_path,
            db=db,
            env=env,
        )
        try:
            _wait_ready(provider, timeout=startup_timeout)
        except LiveServerError as exc:
            _stop(process)
            last_error = exc
            if any(marker in provider.log_tail(200) for marker in _PORT_TAKEN):
                continue
            raise
        return provider
    assert last_error is not None
    raise last_error


def _wait_ready(provider: LiveProvider, *, timeout: float) -> None:
    """Poll discovery until it answers with our issuer and every worker has answered.

    Each probe is a new connection, so the kernel hands probes to whichever worker
    is accepting; a worker still importing the app accepts nothing yet. Waiting for
    all of them keeps the first requests of a test off a half-started server.
    """
    deadline = time.monotonic() + timeout
    url = provider.endpoint("/.well-known/openid-configuration")
    answered = False
    while time.monotonic() < deadline:
        if provider.process.poll() is not None:
            raise LiveServerError(
                f"the provider exited with {provider.process.returncode} during start-up:\n"
                + provider.log_tail()
            )
        try:
            with requests.get(url, timeout=2, headers={"Connection": "close"}) as response:
                if response.status_code == 200:
                    issuer = response.json().get("issuer")
                    if issuer != provider.issuer:
                        raise LiveServerError(f"discovery names issuer {issuer!r}")
                    answered = True
        except requests.RequestException:
            pass
        if answered:
            served = provider.served_by().get("/.well-known/openid-configuration", set())
            if len(served) >= provider.workers:
                return
        time.sleep(0.05)
    state = "only some workers answered" if answered else "discovery never answered"
    raise LiveServerError(
        f"the provider at {provider.url} did not start within {timeout:.0f}s ({state}):\n"
        + provider.log_tail()
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (arbiter and workers); SIGKILL if it lingers."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)


def _sweep_redis(redis_url: str, provider: LiveProvider) -> None:
    """Delete the Redis keys this run's server wrote, and only those.

    The provider's prefix is fixed and the database may be shared with other runs
    (e.g. pytest-xdist workers), so sweeping by prefix would break their sessions.
    A key is ours when its name or value mentions one of our random client IDs,
    subjects or user IDs; then, in a second pass, one of the grant ids found in
    those values or in our database (replay and revocation markers hold nothing else).
    """
    with provider.db.session() as session:
        grants = {str(g) for g in session.scalars(text("SELECT family_id FROM refresh_tokens"))}
    markers = provider.client_ids | provider.subjects | provider.usernames
    if not markers:
        return
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ours = []
        for key, value in _scan_strings(client):
            if any(m in key or m in value for m in markers):
                ours.append(key)
                grants.update(re.findall(r'"grant_id": "([^"]+)"', value))
        for key, value in _scan_strings(client):
            if any(g in key or g == value for g in grants):
                ours.append(key)
        for start in range(0, len(ours), 500):
            client.delete(*ours[start : start + 500])
    finally:
        client.close()


def _scan_strings(client: redis.Redis) -> Iterator[tuple[str, str]]:
    """(key, value) for every key under the provider's prefix ("" for non-strings)."""
    keys = list(client.scan_iter(match=REDIS_PREFIX + "*", count=1000))
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        yield from zip(batch, (v or "" for v in client.mget(batch)), strict=True)
