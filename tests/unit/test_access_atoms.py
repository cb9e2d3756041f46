"""The lazy access-log atoms (idp/access_log.py, issue 12) answer exactly what the
eager, redacted atoms wrapped in gunicorn's SafeAtoms answer: same values, same
redaction, same escaping, ``-`` for what is missing; and nothing secret."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.glogging import SafeAtoms

from idp.access_log import REDACTED, AccessAtoms, RedactingGunicornLogger
from idp.logging_setup import JsonFormatter

TOKEN = "Zx8_kq2LrT5vWm9pQa3sNb7cYd1eFg4hJ6iKl0oPuRs"
FORMATS = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',  # gunicorn's default
    '%(p)s %(m)s %(U)s %(s)s "%(r)s" "%(f)s"',  # the live test servers'
    "%(q)s %(H)s %(B)s %(T)s %(D)s %(M)s %(L)s %({Referer}i)s %({LOCATION}o)s "
    "%({cookie}i)s %({authorization}i)s %({set-cookie}o)s %({x-request-id}o)s "
    "%({raw_uri}e)s %({http_cookie}e)s %({query_string}e)s %({nothing}i)s %(zz)s",
)


def _logger() -> RedactingGunicornLogger:
    logger = object.__new__(RedactingGunicornLogger)  # atoms() needs no configuration
    logger.now = lambda: "[05/Dec/2026:16:00:00 +0000]"  # type: ignore[method-assign]
    return logger


def _exchange() -> tuple[Any, Any, dict[str, Any], timedelta]:
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/activate?code={TOKEN}&client_id=portal",
        "PATH_INFO": f"/reset/{TOKEN}",
        "QUERY_STRING": f"code={TOKEN}&client_id=portal",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_REFERER": f"https://id.example/signup/verify?token={TOKEN}",
        "HTTP_COOKIE": f"idp_session={TOKEN}",
        "HTTP_AUTHORIZATION": "Basic cG9ydGFsOnNlY3JldA==",
        "HTTP_USER_AGENT": 'Mozilla "quoted" 5.0',
    }
    response = SimpleNamespace(
        status="302 Found",
        sent=123,
        headers=[
            ("Location", f"https://portal.example/cb?code={TOKEN}"),
            ("Set-Cookie", f"idp_session={TOKEN}"),
            ("X-Request-ID", "abc123def456"),
        ],
    )
    request = SimpleNamespace(
        headers=[
            ("COOKIE", f"idp_session={TOKEN}"),
            ("AUTHORIZATION", "Basic cG9ydGFsOnNlY3JldA=="),
            ("REFERER", "https://first.example/"),
            ("REFERER", f"https://id.example/x?token={TOKEN}"),
        ]
    )
    return response, request, environ, timedelta(seconds=1, microseconds=2345)


def test_every_atom_matches_the_eager_safe_atoms() -> None:
    logger = _logger()
    eager = SafeAtoms(logger.atoms(*_exchange()))
    lazy = AccessAtoms(logger, *_exchange())
    names = [*eager.keys(), "{COOKIE}i", "{Location}o", "{missing}e", "zz", "{x}", "{}"]
    for name in names:
        assert lazy[name] == eager[name], name
        present = name.lower() if name.startswith("{") else name
        assert (name in lazy) == (present in eager), name


@pytest.mark.parametrize("fmt", FORMATS)
def test_formatted_lines_are_the_same(fmt: str) -> None:
    logger = _logger()
    eager = fmt % SafeAtoms(logger.atoms(*_exchange()))
    lazy = fmt % AccessAtoms(logger, *_exchange())
    assert lazy == eager
    assert TOKEN not in lazy


def test_no_atom_holds_a_secret() -> None:
    logger = _logger()
    lazy = AccessAtoms(logger, *_exchange())
    for name in SafeAtoms(logger.atoms(*_exchange())):
        assert TOKEN not in str(lazy[name]), name
    assert lazy["{cookie}i"] == REDACTED
    assert lazy["{http_authorization}e"] == REDACTED
    assert lazy["u"] == "portal"  # gunicorn's user atom: the Basic user name, not the secret


def test_the_json_line_reads_the_lazy_atoms() -> None:
    logger = _logger()
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        FORMATS[1],
        (AccessAtoms(logger, *_exchange()),),
        None,
    )
    line = JsonFormatter().format(record)
    assert '"request_id": "abc123def456"' in line
    assert f'"path": "/reset/{REDACTED}"' in line
    assert '"status": "302"' in line
    assert '"duration_ms": 1002.3' in line
    assert TOKEN not in line
