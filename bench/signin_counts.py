"""SQL statements, SQL transactions and Redis commands per code-flow sign-in, by step.

Why: outside its password hash a sign-in should cost little (issue 12 item 3), and
the count of round trips to PostgreSQL and Redis is the part of that cost that does
not move with the machine's load. This drives the whole code flow (authorization
request, login page, password POST, resume, code exchange with PKCE, on a
first-party client) through the WSGI app in this process, on a fresh PostgreSQL
database and Redis, and counts what each step sends::

    .venv/bin/python -m bench.signin_counts [--redis-url redis://127.0.0.1:6379/14]
        [--n 5] [--statements]

Printed per step, averaged over ``--n`` sign-ins after one untimed warm-up: SQL
statements (BEGIN/COMMIT not included), transactions (commits), Redis commands and
Redis round trips (a pipeline or a script is one). ``--statements`` also lists the
SQL and the Redis commands of the last sign-in.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import pstats
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
from redis import connection as redis_connection
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_backend_arguments  # noqa: E402
from tests.live import fresh_postgres_database  # noqa: E402

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/callback"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Tally:
    """What one step sent: SQL statements and commits, Redis commands and round trips."""

    sql: int = 0
    commits: int = 0
    redis_commands: int = 0
    redis_round_trips: int = 0
    # Thread CPU seconds inside the app's WSGI callable (the test client's own work not
    # counted): with the cheap "test" argon2 profile, what a step costs besides its hash.
    cpu: float = 0.0
    statements: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class Counters:
    """Hooks on SQLAlchemy's engine events and redis-py's packer and socket writes."""

    def __init__(self) -> None:
        self.current: Tally | None = None

    def install(self, engine: Engine) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _sql(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self.current is not None:
                self.current.sql += 1
                self.current.statements.append(" ".join(statement.split())[:160])

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            if self.current is not None:
                self.current.commits += 1

        counters = self
        for packer in (
            redis_connection.PythonRespSerializer,
            redis_connection.HiredisRespSerializer,
        ):
            original_pack = packer.pack

            def pack(self: Any, *args: Any, _original: Any = original_pack) -> Any:
                if counters.current is not None:
                    counters.current.redis_commands += 1
                    words = [a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]]
                    counters.current.commands.append(" ".join(words))
                return _original(self, *args)

            packer.pack = pack  # type: ignore[method-assign]
        original_send = redis_connection.AbstractConnection.send_packed_command

        def send_packed_command(self: Any, command: Any, check_health: bool = True) -> Any:
            if counters.current is not None:
                counters.current.redis_round_trips += 1
            return original_send(self, command, check_health)

        redis_connection.AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]

    def install_app(self, app: Any) -> None:
        """Count the thread CPU spent inside ``app``'s outermost WSGI callable."""
        inner = app.wsgi_app

        def timed(environ: Any, start_response: Any) -> Any:
            started = time.thread_time()
            try:
                return list(inner(environ, start_response))
            finally:
                if self.current is not None:
                    self.current.cpu += time.thread_time() - started

        app.wsgi_app = timed

    @contextmanager
    def step(self, tally: Tally) -> Iterator[Tally]:
        self.current = tally
        try:
            yield tally
        finally:
            self.current = None


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def sign_in(
    http: Any, counters: Counters, client_id: str, secret: str, username: str
) -> dict[str, Tally]:
    """One whole code flow in a fresh browser; returns the tallies by step."""
    http._cookies.clear()
    tallies: dict[str, Tally] = {}
    verifier, challenge = _pkce()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    with counters.step(tallies.setdefault("authorize", Tally())):
        response = http.get("/authorize?" + query)
    assert response.status_code == 303, response.status_code
    login = _path(response.headers["Location"])
    with counters.step(tallies.setdefault("login page", Tally())):
        page = http.get(login)
    assert page.status_code == 200, page.status_code
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    fields = {"username": username, "password": PASSWORD, "csrf_token": csrf.group(1)}
    interaction = parse_qs(urlsplit(login).query).get("i")
    if interaction:
        fields["i"] = interaction[0]
    with counters.step(tallies.setdefault("password POST", Tally())):
        response = http.post("/login", data=fields)
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["Location"]
    hops = 0
    while not location.startswith(REDIRECT_URI):
        hops += 1
        assert hops < 6, location
        with counters.step(tallies.setdefault("resume", Tally())):
            response = http.get(_path(location))
        assert response.status_code in (302, 303), response.status_code
        location = response.headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    with counters.step(tallies.setdefault("token (code)", Tally())):
        response = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            headers={"Authorization": f"Basic {basic}"},
        )
    assert response.status_code == 200, response.text
    return tallies


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A migrated database of its own, dropped afterwards."""
    from idp.store.sql.database import upgrade

    with fresh_postgres_database(server_url, prefix="idp_bench_counts") as url:
        upgrade(url)
        yield url


def run(args: argparse.Namespace) -> None:
    from idp.app import build_services, create_app
    from idp.oidc.keys import generate_keys
    from idp.oidc.models import secret_hash
    from idp.settings import load_settings
    from idp.store.redis import RedisEphemeralStore
    from idp.store.sql.repositories import NewClient, NewPerson

    prefix = f"bench-counts:{secrets.token_hex(4)}:"
    r = redis.Redis.from_url(args.redis_url, decode_responses=True)
    with (
        tempfile.TemporaryDirectory(prefix="idp-counts-") as tmp,
        fresh_postgres(args.postgres_url) as database_url,
    ):
        keys_dir = Path(tmp) / "keys"
        generate_keys(keys_dir, now=int(datetime.now(UTC).timestamp()))
        settings = load_settings(
            {},
            database_url=database_url,
            redis_url=args.redis_url,
            keys_dir=keys_dir,
            environment="test",
            password_hashing="test",
            secret_key="bench-counts-" + "x" * 32,
        )
        services = build_services(
            settings,
            ephemeral=RedisEphemeralStore(r, prefix=prefix),
            background_delivery=False,
        )
        try:
            secret = secrets.token_urlsafe(32)
            now = datetime.now(UTC)
            with services.db.transaction() as uow:
                client = uow.clients.add(
                    NewClient(
                        name="Counts",
                        redirect_uris=[REDIRECT_URI],
                        post_logout_redirect_uris=[],
                        scope="openid profile email offline_access",
                        grant_types=["authorization_code", "refresh_token"],
                        token_endpoint_auth_method="client_secret_basic",
                        first_party=True,
                    ),
                    secret_hash=secret_hash(secret),
                    now=now,
                )
                uow.accounts.add(
                    username="counts.patient",
                    password_hash=services.hashing.hash(PASSWORD),
                    email="counts@example.test",
                    email_verified=True,
                    now=now,
                    person=NewPerson(
                        first_name="Count",
                        last_name="Patient",
                        dob=None,
                        zip="02139",
                        gender="F",
                        email="counts@example.test",
                    ),
                )
            app = create_app(services=services)
            counters = Counters()
            counters.install(services.db.engine)
            counters.install_app(app)
            http = app.test_client()
            for _ in range(3):  # warm-up
                sign_in(http, counters, client.client_id, secret, "counts.patient")
            profiler = cProfile.Profile(time.thread_time) if args.profile else None
            totals: dict[str, Tally] = {}
            last: dict[str, Tally] = {}
            for _ in range(args.n):
                if profiler is not None:
                    profiler.enable()
                last = sign_in(http, counters, client.client_id, secret, "counts.patient")
                if profiler is not None:
                    profiler.disable()
                for name, tally in last.items():
                    total = totals.setdefault(name, Tally())
                    total.sql += tally.sql
                    total.commits += tally.commits
                    total.redis_commands += tally.redis_commands
                    total.redis_round_trips += tally.redis_round_trips
                    total.cpu += tally.cpu
        finally:
            services.outbox_worker.stop()
            services.db.dispose()
            keys = list(r.scan_iter(match=prefix + "*", count=500))
            if keys:
                r.delete(*keys)
    print(f"per sign-in, mean of {args.n} (PostgreSQL + Redis, in-process WSGI)")
    print(
        "| step | SQL statements | SQL transactions | Redis commands | Redis round trips "
        "| CPU ms (in-process, test hash) |"
    )
    print("|---|---|---|---|---|---|")
    grand = Tally()
    for name, total in totals.items():
        print(
            f"| {name} | {total.sql / args.n:g} | {total.commits / args.n:g} "
            f"| {total.redis_commands / args.n:g} | {total.redis_round_trips / args.n:g} "
            f"| {1000 * total.cpu / args.n:.2f} |"
        )
        grand.sql += total.sql
        grand.commits += total.commits
        grand.redis_commands += total.redis_commands
        grand.redis_round_trips += total.redis_round_trips
        grand.cpu += total.cpu
    print(
        f"| **total** | {grand.sql / args.n:g} | {grand.commits / args.n:g} "
        f"| {grand.redis_commands / args.n:g} | {grand.redis_round_trips / args.n:g} "
        f"| {1000 * grand.cpu / args.n:.2f} |"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
    if args.statements:
        for name, tally in last.items():
            print(f"\n## {name}")
            for statement in tally.statements:
                print("  SQL  ", statement)
            for command in tally.commands:
                print("  Redis", command[:120])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5, help="sign-ins counted (after one warm-up)")
    parser.add_argument("--statements", action="store_true", help="list the last sign-in's SQL")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile: top N by cumulative time",
    )
    add_backend_arguments(parser)
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
