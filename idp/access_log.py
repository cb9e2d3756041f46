"""Access logs without secrets: request targets, referrers and redirects redacted.

URLs carry credentials here: emailed links (``/signup/verify?token=``,
``/reset/confirm?token=``, ``/activate?code=``), authorization codes on the way
back to a portal, ``id_token_hint`` (an ID token with the practice's patient
identifier) and, from careless clients, ``access_token``. An access log keeps all of
that for months, readable by people who must not sign in as a patient.

The rule is an allowlist: a query parameter keeps its value only if it is known to
be harmless (client_id, scope, redirect_uri...); every other value is replaced,
``code`` and ``state`` included (``code`` is a credential; ``state`` is the
portal's own CSRF value, no business of our logs), and so is any parameter added
later. Path segments that look like tokens (long runs of URL-safe characters with
digits and letters) are replaced too, so a route such as ``/reset/<token>`` is
covered without anyone remembering it. Authorization and Cookie headers and
Set-Cookie are never logged.

Used by gunicorn (``idp serve``, the live servers in tests) through
:class:`RedactingGunicornLogger`, and by Werkzeug's development server (the demo
portal) through :class:`RedactingRequestHandler`.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from gunicorn.glogging import Logger
from werkzeug.serving import WSGIRequestHandler

REDACTED = "[redacted]"
# gunicorn's ``logger_class`` setting, as `idp serve` and the live test servers set it:
# this redaction, writing JSON lines with the request id (idp/logging_setup.py).
GUNICORN_LOGGER_CLASS = "idp.logging_setup.JsonGunicornLogger"

# Query parameters whose values are not secrets (OAuth/OIDC request parameters a
# portal puts in a browser's address bar anyway, and error reports).
SAFE_PARAMETERS = frozenset(
    {
        "client_id",
        "response_type",
        "response_mode",
        "scope",
        "redirect_uri",
        "post_logout_redirect_uri",
        "prompt",
        "max_age",
        "display",
        "ui_locales",
        "claims_locales",
        "acr_values",
        "code_challenge_method",
        "error",
        "error_description",
        "iss",
    }
)

# A token-like path segment: 16+ URL-safe characters with at least one digit and one
# letter (random tokens have both; words and slugs like "openid-configuration" do not).
_TOKEN_SEGMENT = re.compile(r"(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_~.%-]{16,}")


def redact_query(query: str) -> str:
    """``a=1&code=xyz`` → ``a=[redacted]&code=[redacted]`` unless the name is safe."""
    if not query:
        return query
    parts = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        if unquote_plus(name) in SAFE_PARAMETERS:
            parts.append(pair)
        elif sep or name:
            parts.append(f"{_redact_segment(name)}={REDACTED}")
    return "&".join(parts)


# The same test over a whole path at once: a token-like run that is a whole segment
# (between slashes or the ends). One C-level pass instead of a split and a match per
# segment: every access line redacts the path twice (issue 12).
_TOKEN_SEGMENT_IN_PATH = re.compile(r"(?<![^/])" + _TOKEN_SEGMENT.pattern + r"(?![^/])")


def redact_path(path: str) -> str:
    return _TOKEN_SEGMENT_IN_PATH.sub(REDACTED, path)


def _redact_segment(segment: str) -> str:
    return REDACTED if _TOKEN_SEGMENT.fullmatch(segment) else segment


def redact_target(target: str) -> str:
    """A request target (``/path?query``) with its secrets replaced."""
    path, sep, query = target.partition("?")
    return redact_path(path) + (sep + redact_query(query) if sep else "")


def redact_url(url: str) -> str:
    """An absolute URL (a Referer, a Location) with user info, secrets and fragment gone."""
    if not url or url == "-":
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return REDACTED
    return urlunsplit(
        (parts.scheme, netloc, redact_path(parts.path), redact_query(parts.query), "")
    )


def redact_request_line(line: str) -> str:
    """``GET /x?code=1 HTTP/1.1`` → ``GET /x?code=[redacted] HTTP/1.1``."""
    method, sep, rest = line.partition(" ")
    target, sep2, version = rest.rpartition(" ")
    if not sep or not sep2:
        return redact_target(line)
    return f"{method} {redact_target(target)} {version}"


# gunicorn atom -> how to redact it. Headers appear as "{name}i" (request),
# "{name}o" (response) and "{name}e" (WSGI environ), lower-cased.
_ATOMS = {
    "r": redact_request_line,
    "U": redact_path,
    "q": redact_query,
    "f": redact_url,
    "{referer}i": redact_url,
    "{location}o": redact_url,
    "{raw_uri}e": redact_target,
    "{path_info}e": redact_path,
    "{query_string}e": redact_query,
    "{http_referer}e": redact_url,
    "{request_uri}e": redact_target,
}
_NEVER_LOGGED = ("{authorization}i", "{cookie}i", "{set-cookie}o")
_NEVER_LOGGED_ENVIRON = ("{http_authorization}e", "{http_cookie}e")


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with every URL-bearing access-log atom redacted."""

    # types-gunicorn declares a TypedDict of the fixed atoms only; the real dict also
    # holds the "{name}i", "{name}o" and "{name}e" atoms, which are what we redact.
    def atoms(  # type: ignore[override]
        self, resp: Any, req: Any, environ: Any, request_time: Any
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = dict(super().atoms(resp, req, environ, request_time))
        for name, redact in _ATOMS.items():
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = redact(value)
        for name in _NEVER_LOGGED + _NEVER_LOGGED_ENVIRON:
            if name in atoms:
                atoms[name] = REDACTED
        return atoms

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """gunicorn's ``access``, formatting from :class:`AccessAtoms` (lazy) instead
        of every atom built eagerly by :meth:`atoms` (kept: same values)."""
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(
                self.cfg.access_log_format, AccessAtoms(self, resp, req, environ, request_time)
            )
        except Exception:
            self.error(traceback.format_exc())


_MISSING = object()
_NEVER_LOGGED_ALL = frozenset(_NEVER_LOGGED + _NEVER_LOGGED_ENVIRON)


class AccessAtoms(dict):  # type: ignore[type-arg]
    """The atoms of one access line, each worked out (and redacted) only when read.

    gunicorn builds every atom of every request (each request and response header,
    each WSGI environ entry), then copies them all to escape quotes, before a format
    that reads a handful: with the redaction and the JSON line that was a fifth of
    what the discovery and JWKS documents cost (py-spy, issue 12). This mapping
    answers exactly what :class:`RedactingGunicornLogger` plus gunicorn's
    ``SafeAtoms`` would (same values, same redaction, ``"`` escaped, ``-`` for what
    is missing, ``{...}`` names case-insensitive), computing only the atoms the
    format and the JSON formatter ask for. A ``dict`` so that ``logging`` and ``%``
    treat it as the mapping of a ``%(name)s`` format.
    """

    def __init__(
        self, logger: Logger, resp: Any, req: Any, environ: Any, request_time: Any
    ) -> None:
        super().__init__()
        self._logger, self._resp, self._req = logger, resp, req
        self._environ, self._time = environ, request_time
        # Each atom worked out once: the format and the JSON line read several twice
        # (``in`` then ``[]``), and the request line's redaction is the dearest part.
        self._memo: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return True  # empty as a dict, but logging must take it as the format's mapping

    def __getitem__(self, key: Any) -> Any:
        value = self._value(key)
        return "-" if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._value(key) is not _MISSING

    def get(self, key: Any, default: Any = None) -> Any:
        value = self._value(key)
        return default if value is _MISSING else value

    def _value(self, key: str) -> Any:
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = self._compute(key)
            return value

    def _compute(self, key: str) -> Any:
        if key.startswith("{"):
            key = key.lower()
            value = self._variable(key)
            if value is _MISSING:
                return value
            if key in _NEVER_LOGGED_ALL:
                return REDACTED
        else:
            finished = _FINISHED_ATOMS.get(key)
            return _MISSING if finished is None else finished(self)
        redact = _ATOMS.get(key)
        if redact is not None and isinstance(value, str):
            value = redact(value)
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def _variable(self, key: str) -> Any:
        """``{name}i`` (request header), ``{name}o`` (response header), ``{name}e``
        (environ); as in gunicorn, the last of repeated headers counts."""
        if len(key) < 4 or key[-2] != "}":
            return _MISSING
        name, kind = key[1:-2], key[-1]
        if kind == "i":
            headers = getattr(self._req, "headers", self._req)
            pairs = headers.items() if hasattr(headers, "items") else headers
        elif kind == "o":
            headers = self._resp.headers
            pairs = headers.items() if hasattr(headers, "items") else headers
        elif kind == "e":
            pairs = self._environ.items()
        else:
            return _MISSING
        found: Any = _MISSING
        for header, value in pairs:
            if header.lower() == name:
                found = value
        return found

    # gunicorn's fixed atoms (glogging.Logger.atoms), one function each.
    def _status(self) -> Any:
        status = self._resp.status
        return status.split(None, 1)[0] if isinstance(status, str) else status

    def _sent(self) -> Any:
        return getattr(self._resp, "sent", None)

    def _micros(self) -> int:
        t = self._time
        return int(t.seconds * 1000000 + t.microseconds)


_SIMPLE_ATOMS: dict[str, Any] = {
    "h": lambda a: a._environ.get("REMOTE_ADDR", "-"),
    "l": lambda a: "-",
    "u": lambda a: a._logger._get_user(a._environ) or "-",
    "t": lambda a: a._logger.now(),
    "r": lambda a: (
        f"{a._environ['REQUEST_METHOD']} {a._environ['RAW_URI']} {a._environ['SERVER_PROTOCOL']}"
    ),
    "s": AccessAtoms._status,
    "m": lambda a: a._environ.get("REQUEST_METHOD"),
    "U": lambda a: a._environ.get("PATH_INFO"),
    "q": lambda a: a._environ.get("QUERY_STRING"),
    "H": lambda a: a._environ.get("SERVER_PROTOCOL"),
    "b": lambda a: a._sent() is not None and str(a._sent()) or "-",
    "B": AccessAtoms._sent,
    "f": lambda a: a._environ.get("HTTP_REFERER", "-"),
    "a": lambda a: a._environ.get("HTTP_USER_AGENT", "-"),
    "T": lambda a: a._time.seconds,
    "D": AccessAtoms._micros,
    "M": lambda a: a._time.seconds * 1000 + int(a._time.microseconds / 1000),
    "L": lambda a: f"{a._time.seconds:d}.{a._time.microseconds:06d}",
    "p": lambda a: f"<{current_pid()}>",
}


def _finished(key: str, atom: Callable[[AccessAtoms], Any]) -> Callable[[AccessAtoms], Any]:
    """``atom`` redacted and escaped as :meth:`AccessAtoms._compute` does, in one call."""
    redact = _ATOMS.get(key)

    def finished(atoms: AccessAtoms) -> Any:
        value = atom(atoms)
        if isinstance(value, str):
            if redact is not None:
                value = redact(value)
            return value.replace('"', '\\"')
        return value

    return finished


_FINISHED_ATOMS = {key: _finished(key, atom) for key, atom in _SIMPLE_ATOMS.items()}


def current_pid() -> int:
    """``os.getpid()`` without a system call per access line; renewed in a forked child."""
    return _pid[0]


_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's development server handler, logging redacted request lines."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        saved_path = getattr(self, "path", None)
        saved_line = getattr(self, "requestline", "")
        if saved_path is not None:
            self.path = redact_target(saved_path)
        self.requestline = redact_request_line(saved_line)
        try:
            super().log_request(code, size)
        finally:
            if saved_path is not None:
                self.path = saved_path
            self.requestline = saved_line
