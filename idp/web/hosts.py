"""Refuse a request whose Host header is not a host name, before Flask sees it.

Werkzeug binds the URL map to the Host header. A name it cannot IDNA-encode (a
label of 64 or more characters, an empty label, a broken ``xn--`` label) fails
that binding, and with it every ``url_for`` the error page needs: every URL
answered 500 and logged a traceback per request, which made a log-flooding tool.
Checking the header once at the outer edge fixes it for every route at the root,
and answers a plain 400 that needs nothing from the app.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any

# RFC 1123 labels (underscore tolerated: some internal names carry one).
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_NAME = 253

_BODY = b"Bad Request: the Host header is not a valid host name.\n"


def host_is_valid(host: str) -> bool:
    """True for ``name[:port]``, ``IPv4[:port]`` or ``[IPv6][:port]`` (RFC 9110 §7.2)."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        literal, rest = host[1:end], host[end + 1 :]
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
    else:
        literal, sep, port = host.partition(":")
        rest = sep + port
        if not _name_is_valid(literal):
            return False
    if rest:
        if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]):
            return False
        if int(rest[1:]) > 65535:
            return False
    return True


def _name_is_valid(name: str) -> bool:
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > _MAX_NAME:
        return False
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return False
    try:
        # What Werkzeug does with it: both directions must work (xn-- labels decode).
        name.encode("idna").decode("idna")
    except UnicodeError:
        return False
    return True


class HostGuard:
    """WSGI middleware: a malformed Host gets a 400 without reaching the app."""

    # Host values already found valid: real traffic carries a handful of them, and
    # the IDNA round trip is the costliest part of a small request (issue 12). Bounded,
    # so a client sending ever-new names cannot grow it.
    _KNOWN_LIMIT = 64

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._known: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        host = environ.get("HTTP_HOST")
        if host is not None and host not in self._known and not self._check(host):
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_BODY))),
                ],
            )
            return [_BODY]
        return self.app(environ, start_response)

    def _check(self, host: str) -> bool:
        valid = host_is_valid(host)
        if valid and len(self._known) < self._KNOWN_LIMIT:
            self._known.add(host)
        return valid
