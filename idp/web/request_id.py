"""A request id for every request: in the ``X-Request-ID`` header, the logs and the 500 page.

A load balancer or the portal in front may already have given the request an id;
it is kept only if it is a short token of safe characters. Anything else (too
long, spaces, quotes, control characters: a way to forge or break log lines) is
replaced by a fresh random id, so the header the client reads back says which one
counted.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from idp.logging_setup import request_id_var

HEADER = "X-Request-ID"
ENVIRON_KEY = "idp.request_id"
# 8-64 characters of letters, digits, '-', '_' and '.', starting with a letter or digit:
# UUIDs, hex ids and most load balancers' formats.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")


def accept_request_id(incoming: str | None) -> str:
    """The incoming id if it is a short safe token, else a new random one."""
    if incoming and _SAFE.fullmatch(incoming):
        return incoming
    return secrets.token_hex(12)


class RequestIdMiddleware:
    """WSGI middleware, outermost: every response gets the id, even one the app
    never saw (the Host guard's 400)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request_id = accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = request_id

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(k, v) for k, v in headers if k.lower() != HEADER.lower()]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        token = request_id_var.set(request_id)
        try:
            return self.app(environ, start)
        finally:
            request_id_var.reset(token)
