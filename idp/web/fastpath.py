"""Token, revocation, introspection and UserInfo answered before Flask (issue 12).

Relying parties and resource servers call these endpoints far more often than
patients sign in, and through Flask each call paid for a request context, the
before- and after-request hooks, the session, the locale and a unit of work kept
on ``g``: more than the protocol work itself. This WSGI layer sits where
idp/web/prebuilt.py sits, just inside the Host guard, so the request id, the
metrics (labelled with the Flask rule), ProxyFix, the Host check and the access log
still apply; it drives Authlib's framework-agnostic server
(:class:`idp.web.server.WsgiAuthorizationServer`) with the same grants, endpoints,
hooks and :class:`~idp.oidc.context.OIDCContext` the Flask routes use, through the
same answer functions (idp/web/protocol_answers.py).

What it answers is what Flask would answer, byte for byte: the unit of work settles
as ``commit_request_uow`` settles it (commit what the flow chose; roll back, undo
steps included, on a 5xx), the security headers come from the same function, and
any exception, or a commit that fails, is answered by Flask's own error handlers in
a Flask request context (the 503 with Retry-After, the 500 page), as rare as those are.

It answers only "plain" requests, where nothing Flask does around the view could
change the answer: the route's method, no query string (``?lang=`` sets a cookie,
and Authlib would merge query parameters), no cookie (the Flask session, the
language), no chunked body, a form body of at most the app's size limit with no NUL
byte in it (Flask refuses those with its own 400 and 413), and for UserInfo by GET no
body at all. Everything else, and every other route, passes to Flask unchanged (the
body it read is handed on as it came). tests/integration/test_fastpath_equality.py
sends the same requests to an app with this layer and one without, and compares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import partial
from io import BytesIO
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

from idp.errors import UnavailableError
from idp.oidc.context import OIDCContext
from idp.records import RequestMeta
from idp.store.sql.database import Database
from idp.store.sql.repositories import UnitOfWork

from . import protocol_answers as answers
from .deps import RequestFailed, meta_of, roll_back
from .errors import unavailable_response, unexpected_response
from .metrics import ROUTE_KEY
from .security import apply_security_headers
from .server import BearerProtector, WsgiAuthorizationServer, build_wsgi_server

WsgiApp = Callable[..., Iterable[bytes]]
FORM = "application/x-www-form-urlencoded"

# A request carrying any of these may get something else from Flask.
_NOT_PLAIN = ("QUERY_STRING", "HTTP_COOKIE", "HTTP_TRANSFER_ENCODING")


class _Scope:
    """The request being answered, and its unit of work once something asked for one."""

    __slots__ = ("cm", "db", "read_only", "request", "uow")

    def __init__(self, request: Request, db: Database, read_only: bool) -> None:
        self.request = request
        self.db = db
        self.read_only = read_only
        self.cm: Any = None
        self.uow: UnitOfWork | None = None


# Per thread (gunicorn's threads), like Flask's own request context.
_current: ContextVar[_Scope | None] = ContextVar("idp_fast_request", default=None)


def _scope() -> _Scope:
    scope = _current.get()
    if scope is None:
        raise RuntimeError("no protocol request is being answered before Flask")
    return scope


def request_uow() -> UnitOfWork:
    """As :func:`idp.web.deps.request_uow`: one unit of work per request, opened at
    first use, a reader for the read-only endpoints (UserInfo, introspection)."""
    scope = _scope()
    if scope.uow is None:
        cm = scope.db.reader() if scope.read_only else scope.db.transaction()
        scope.uow = cm.__enter__()
        scope.cm = cm
    return scope.uow


def request_meta() -> RequestMeta:
    return meta_of(_scope().request)


@dataclasses.dataclass(frozen=True, slots=True)
class _Route:
    endpoint: str  # the Flask endpoint answered the same way (its rule: path and label)
    method: str
    read_only: bool  # as the Flask view's @read_only_request
    answer: Callable[[ProtocolFastPath, Request], Response]


def _token(fast: ProtocolFastPath, request: Request) -> Response:
    return answers.token_response(fast.server, request)


def _revoke(fast: ProtocolFastPath, request: Request) -> Response:
    return answers.endpoint_response(fast.server, "revocation", request)


def _introspect(fast: ProtocolFastPath, request: Request) -> Response:
    return answers.endpoint_response(fast.server, "introspection", request)


def _userinfo(fast: ProtocolFastPath, request: Request) -> Response:
    return answers.userinfo_response(fast.server.ctx, fast.protector, request, fast.json_response)


ROUTES = (
    _Route("oidc.token", "POST", False, _token),
    _Route("oidc.revoke", "POST", False, _revoke),
    _Route("oidc.introspect", "POST", True, _introspect),
    _Route("oidc.userinfo", "GET", True, _userinfo),
    _Route("oidc.userinfo", "POST", True, _userinfo),
)


class ProtocolFastPath:
    """WSGI middleware: plain protocol requests answered without Flask's machinery."""

    def __init__(
        self, app: WsgiApp, *, flask_app: Flask, ctx: OIDCContext, db: Database, secure: bool
    ) -> None:
        self.app = app  # what everything else falls through to: Flask
        self._flask = flask_app
        self._db = db
        self._secure = secure
        fast_ctx = dataclasses.replace(ctx, uow=request_uow, request_meta=request_meta)
        self.server: WsgiAuthorizationServer
        self.protector: BearerProtector
        self.server, self.protector = build_wsgi_server(flask_app, fast_ctx)
        provider = flask_app.json

        def json_response(obj: Any) -> Response:
            """What ``jsonify`` is in the Flask routes."""
            return provider.response(obj)  # type: ignore[return-value]

        self.json_response: answers.JsonResponse = json_response
        config = flask_app.config
        # Werkzeug's request with the limits Flask's request reads from the config.
        self._request_class = type(
            "FastRequest",
            (Request,),
            {
                "max_content_length": config["MAX_CONTENT_LENGTH"],
                "max_form_memory_size": config["MAX_FORM_MEMORY_SIZE"],
                "max_form_parts": config["MAX_FORM_PARTS"],
            },
        )
        self._max_body: int = config["MAX_CONTENT_LENGTH"]
        # (method, path) -> (rule, route); resolved at the first request, once every
        # route exists.
        self._paths: dict[tuple[str, str], tuple[str, _Route]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        paths = self._paths if self._paths is not None else self._resolve()
        found = paths.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if found is None or any(environ.get(name) for name in _NOT_PLAIN):
            return self.app(environ, start_response)
        rule, route = found
        body = self._body(environ, form=route.method == "POST")
        if body is None:
            return self.app(environ, start_response)
        request = self._request_class(environ, populate_request=False)
        if body and not _form_is_plain(request):
            _rewind(environ, body)
            return self.app(environ, start_response)
        environ[ROUTE_KEY] = rule
        return self._answer(route, request, body)(environ, start_response)

    def _answer(self, route: _Route, request: Request, body: bytes) -> Response:
        scope = _Scope(request, self._db, route.read_only)
        token = _current.set(scope)
        try:
            try:
                response = route.answer(self, request)
            except Exception as exc:
                # As Flask: its error handler answers, then the unit of work rolls back.
                response = self._flask_error(request.environ, body, exc)
                if scope.cm is not None:
                    roll_back(scope.cm, RequestFailed(response.status_code))
                return response
            except BaseException as exc:
                if scope.cm is not None:
                    roll_back(scope.cm, exc)
                raise
            return self._settle(scope, response, body)
        finally:
            _current.reset(token)

    def _settle(self, scope: _Scope, response: Response, body: bytes) -> Response:
        """``commit_request_uow``, then the after-request hooks that change anything here."""
        cm = scope.cm
        scope.cm = scope.uow = None
        if cm is not None:
            if response.status_code >= 500:
                roll_back(cm, RequestFailed(response.status_code))
            else:
                environ = scope.request.environ
                try:
                    cm.__exit__(None, None, None)
                except UnavailableError as exc:
                    return self._through_flask(environ, body, partial(unavailable_response, exc))
                except Exception:
                    return self._through_flask(environ, body, unexpected_response)
        # The other hooks (language cookie, flask-login, the Flask session) add nothing
        # to a request without a query string or cookie.
        apply_security_headers(response, secure=self._secure)
        return response

    def _through_flask(
        self, environ: dict[str, Any], body: bytes, make: Callable[[], Any]
    ) -> Response:
        """A response made by Flask's own code in a Flask request context, finished by
        every after-request hook, as Flask would have finished it."""
        _rewind(environ, body)
        with self._flask.request_context(environ):
            return self._flask.finalize_request(make())

    def _flask_error(self, environ: dict[str, Any], body: bytes, exc: Exception) -> Response:
        """What Flask answers when the view raises ``exc`` (its error handlers)."""
        _rewind(environ, body)
        flask = self._flask
        with flask.request_context(environ):
            try:
                rv = flask.handle_user_exception(exc)
            except Exception as again:
                return flask.handle_exception(again)
            return flask.finalize_request(rv)

    def _body(self, environ: dict[str, Any], *, form: bool) -> bytes | None:
        """The request body, read and handed on as a fresh stream; None: leave it to Flask.

        A body needs a Content-Length within the app's limit, the form content type and
        a POST; no body (no Content-Length, or 0) needs nothing.
        """
        raw = environ.get("CONTENT_LENGTH") or ""
        if raw in ("", "0"):
            return b""  # nothing to read (the stream is left as it is)
        if not form:
            return None
        if not raw.isdigit() or len(raw) > 9 or int(raw) > self._max_body:
            return None
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.partition(";")[0].strip().lower() != FORM:
            return None
        length = int(raw)
        try:
            body: bytes = environ["wsgi.input"].read(length)
        except Exception as exc:  # noqa: BLE001 - a client gone: Flask meets it as it would
            environ["wsgi.input"] = _FailedStream(exc)
            return None
        _rewind(environ, body)
        return body if len(body) == length else None

    def _resolve(self) -> dict[tuple[str, str], tuple[str, _Route]]:
        paths: dict[tuple[str, str], tuple[str, _Route]] = {}
        for rule in self._flask.url_map.iter_rules():
            if rule.arguments:
                continue
            for route in ROUTES:
                if route.endpoint == rule.endpoint and route.method in (rule.methods or ()):
                    paths[(route.method, rule.rule)] = (rule.rule, route)
        self._paths = paths
        return paths


def _form_is_plain(request: Request) -> bool:
    """The form parses within the limits, and holds no NUL byte (Flask answers those)."""
    try:
        form = request.form
    except Exception:  # noqa: BLE001 - Flask answers the failure (413, 400) as it always did
        return False
    return not any("\x00" in key or "\x00" in value for key, value in form.items(multi=True))


class _FailedStream:
    """The body stream of a request whose reading failed: fails the same way for Flask."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def read(self, *_args: Any) -> bytes:
        raise self._error

    readline = readinto = read


def _rewind(environ: dict[str, Any], body: bytes) -> None:
    """Hand the body on as it came, for whoever reads the request next."""
    environ["wsgi.input"] = BytesIO(body)
