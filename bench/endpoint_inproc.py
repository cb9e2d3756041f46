"""Protocol endpoints' CPU per request in this process, without gunicorn or a network.

Why: ``bench.endpoint_cost`` measures the whole server, where a change of a few
microseconds is lost in the noise of a shared machine. This calls the provider's WSGI
application (every middleware, the fast path, Authlib, the real PostgreSQL and Redis)
from ``--threads`` threads and prints the process's CPU time (user and system, from
``getrusage``) per request, three repetitions per endpoint. ``--memo-token-lookup``
answers the access-token lookup from memory after its first round trip, to show what
the Redis wait itself costs (issue 12). Run from the repository root::

    .venv/bin/python -m bench.endpoint_inproc
        [--endpoints client_credentials,introspection,userinfo] [--requests 3000]
        [--threads 4] [--memo-token-lookup]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_POSTGRES, DEFAULT_REDIS, signed_in_tokens  # noqa: E402
from tests.live import ALL_SCOPES, Backend, LiveClient, LiveProvider, live_provider  # noqa: E402

ENDPOINTS = ("client_credentials", "introspection", "userinfo")


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _memoize_token_lookup() -> None:
    """The first lookup of each token goes to Redis; the others are answered from memory."""
    from idp.store.redis.ephemeral import RedisEphemeralStore

    real = RedisEphemeralStore.get_linked
    memo: dict[Any, Any] = {}

    def get_linked(self: RedisEphemeralStore, key: str, links: Any) -> Any:
        if key not in memo:
            memo[key] = real(self, key, links)
        return memo[key]

    RedisEphemeralStore.get_linked = get_linked  # type: ignore[method-assign]


def _caller(
    live: LiveProvider,
    app: Callable[..., Any],
    endpoint: str,
    client: LiveClient,
    tokens: list[str],
) -> Callable[[int], None]:
    credentials = f"{client.client_id}:{client.client_secret}"
    basic = "Basic " + base64.b64encode(credentials.encode()).decode()
    host = live.url.split("//", 1)[1]

    def call(i: int) -> None:
        body = b""
        headers = {"HTTP_AUTHORIZATION": basic}
        if endpoint == "client_credentials":
            method, path, body = "POST", "/token", b"grant_type=client_credentials"
        elif endpoint == "introspection":
            method, path, body = "POST", "/introspect", f"token={tokens[i % len(tokens)]}".encode()
        else:
            method, path = "GET", "/userinfo"
            headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens[i % len(tokens)]}"}
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(live.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": host,
            "HTTP_USER_AGENT": "bench",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            **headers,
        }
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        status: list[str] = []
        b"".join(app(environ, lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{endpoint}: {status[0]}")

    return call


def measure(call: Callable[[int], None], requests: int, threads: int) -> tuple[float, float]:
    """(user, system) CPU microseconds per request over ``requests`` in ``threads``."""
    each = requests // threads
    workers = [
        threading.Thread(target=lambda n=n: [call(n * each + i) for i in range(each)])
        for n in range(threads)
    ]
    user, system = _cpu()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    user2, system2 = _cpu()
    done = each * threads
    return 1e6 * (user2 - user) / done, 1e6 * (system2 - system) / done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--memo-token-lookup", action="store_true")
    args = parser.parse_args(argv)
    backend = Backend(postgres_url=args.postgres_url, redis_url=args.redis_url)
    with live_provider(backend=backend, workers=1) as live:
        client = live.add_client(redirect_uris=["https://rp.example/cb"])
        account = live.add_account()
        tokens = [
            signed_in_tokens(live, client, account, scope=ALL_SCOPES)["access_token"]
            for _ in range(4)
        ]
        os.environ.update(live.env)  # the same settings as the server it started
        from idp.app import create_app

        app = create_app()
        if args.memo_token_lookup:
            _memoize_token_lookup()
        for endpoint in args.endpoints.split(","):
            call = _caller(live, app, endpoint, client, tokens)
            for i in range(50):
                call(i)
            for rep in range(1, 4):
                started = time.perf_counter()
                user, system = measure(call, args.requests, args.threads)
                rate = args.requests / (time.perf_counter() - started)
                print(
                    f"rep {rep} {endpoint:20s} {user + system:7.1f} us CPU per request "
                    f"(user {user:6.1f}, system {system:6.1f}), {rate:6.0f} req/s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
