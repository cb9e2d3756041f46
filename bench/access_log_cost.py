"""What one access-log line costs the request thread, in microseconds.

Why: on the cheapest requests (discovery, JWKS) gunicorn's access log through the
redacting JSON logger (idp/access_log.py, idp/logging_setup.py) was an eighth of the
server's CPU (py-spy, issue 12). This drives ``JsonGunicornLogger.access`` exactly as
gunicorn's threaded worker calls it, with gunicorn's own request and response
objects, for a few typical requests, and prints the cost per line on the calling
thread (the background writer's file writes are not counted: lines go to
/dev/null). Run from the repository root::

    .venv/bin/python -m bench.access_log_cost [--lines 50000] [--format idp|gunicorn]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gunicorn.config import Config  # noqa: E402

from idp.logging_setup import BackgroundWriter, JsonGunicornLogger  # noqa: E402
from tests.live import ACCESS_LOG_FORMAT  # noqa: E402

REQUESTS = {
    "discovery": ("GET", "/.well-known/openid-configuration", "", {}),
    "token (basic auth)": (
        "POST",
        "/token",
        "",
        {"HTTP_AUTHORIZATION": "Basic Y2xpZW50LWlkOnNlY3JldA=="},
    ),
    "authorize (query)": (
        "GET",
        "/authorize",
        "client_id=abc&response_type=code&scope=openid&state=s3cr3t&code_challenge=x"
        "&redirect_uri=https%3A%2F%2Fportal.example%2Fcb",
        {},
    ),
    "reset link (token path)": ("GET", "/reset/Zx8fK2pQ9wL3mN5rT7vB1cD4", "", {}),
}


def fake_exchange(method: str, path: str, query: str, extra: dict[str, str]) -> tuple[Any, ...]:
    target = path + ("?" + query if query else "")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "RAW_URI": target,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "wrk",
        "HTTP_HOST": "127.0.0.1:5000",
        **extra,
    }
    req = SimpleNamespace(headers=[("HOST", "127.0.0.1:5000"), ("USER-AGENT", "wrk")])
    resp = SimpleNamespace(
        status="200 OK",
        sent=2040,
        headers=[
            ("Content-Type", "application/json"),
            ("Content-Length", "2040"),
            ("X-Request-ID", "0123456789abcdef01234567"),
        ],
    )
    return resp, req, environ, datetime.timedelta(microseconds=412)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--format", choices=("idp", "gunicorn"), default="idp")
    args = parser.parse_args(argv)
    cfg = Config()
    cfg.set("accesslog", "/dev/null")
    if args.format == "idp":
        cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = JsonGunicornLogger(cfg)
    print(f"access-log format: {cfg.access_log_format}")
    for name, request in REQUESTS.items():
        exchange = fake_exchange(*request)
        for _ in range(1000):
            logger.access(*exchange)
        started = time.thread_time()
        for _ in range(args.lines):
            logger.access(*exchange)
        took = time.thread_time() - started
        print(f"  {name:<24} {1e6 * took / args.lines:6.2f} µs per line")
    for handler in logger.access_log.handlers:
        if isinstance(handler, BackgroundWriter):
            handler.drain()
    return 0


if __name__ == "__main__":
    sys.exit(main())
