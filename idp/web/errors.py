"""Error pages and JSON errors: clear 4xx for bad input, 503 for an outage, a generic
500 with a request id for anything else.

Every handler here also marks the request failed, so its unit of work rolls back
(``web/deps.commit_request_uow``): a response made by an error handler is never the
flow's chosen answer, whatever its status.
"""

from __future__ import annotations

import json
import logging
import secrets

from flask import Flask, Response, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import RETRY_AFTER_SECONDS, UnavailableError
from idp.logging_setup import current_request_id
from idp.messages import message

log = logging.getLogger("idp.web")

# Set on ``g`` by every error handler: the request's transaction must not commit.
FAILED_FLAG = "idp_request_failed"

_STATUS_MESSAGES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    503: "unavailable",
}


def error_page(message_id: str, *, status: int) -> Response:
    return Response(
        render_template("error.html", message_id=message_id, text=message(message_id)),
        status=status,
    )


PROTOCOL_JSON_PATHS = ("/token", "/revoke", "/introspect", "/userinfo")


def _wants_json() -> bool:
    """JSON for the protocol endpoints and every JSON API (their clients parse no HTML)."""
    return (
        request.path in PROTOCOL_JSON_PATHS
        or request.path.startswith("/api/")
        or request.accept_mimetypes.best == "application/json"
    )


def mark_failed() -> None:
    g.setdefault(FAILED_FLAG, True)


def unavailable_response(exc: UnavailableError) -> Response:
    """503 + Retry-After (invariant 10): the error page, or RFC 6749's JSON error.

    One log line per request naming the dependency; the cause went to the store's
    own log line at most, and a traceback would only repeat it on every request.
    """
    mark_failed()
    log.warning("dependency unavailable: %s (%s %s)", exc.kind, request.method, request.path)
    if _wants_json():
        body = {"error": "temporarily_unavailable", "error_description": message("unavailable")}
        response = Response(json.dumps(body), status=503, mimetype="application/json")
    else:
        response = error_page("unavailable", status=503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def unexpected_response() -> Response:
    """The generic 500 page with a request id; the traceback goes to the log."""
    mark_failed()
    # The id in the X-Request-ID header and on every log line of this request.
    request_id = current_request_id() or secrets.token_hex(6)
    log.exception("unhandled error (request %s)", request_id)
    return Response(
        render_template(
            "error.html",
            message_id="server_error",
            text=message("server_error"),
            request_id=request_id,
        ),
        status=500,
    )


def _http_error(exc: HTTPException) -> Response:
    mark_failed()
    status = exc.code or 500
    message_id = _STATUS_MESSAGES.get(status, "bad_request")
    if _wants_json():
        response = Response(
            f'{{"error": "invalid_request", "error_description": "{message(message_id)}"}}',
            status=status if status != 404 else 404,
            mimetype="application/json",
        )
        return response
    return error_page(message_id, status=status)


def _csrf_error(exc: CSRFError) -> BaseResponse:
    if (
        request.method == "POST"
        and request.endpoint == "auth.login"
        and request.form.get("csrf_token")  # a stale token: this form was sent before
    ):
        # A sign-in form sent twice: the first copy signed in (and replaced the CSRF
        # secret), so show where that sign-in leads rather than a false error.
        from .auth import already_signed_in
        from .deps import services

        interaction_id = request.form.get("i") or None
        interaction = services().interactions.get(interaction_id) if interaction_id else None
        done = already_signed_in(interaction_id, interaction)
        if done is not None:
            return done
    mark_failed()
    return error_page("csrf_failed", status=400)


def _unexpected(exc: Exception) -> Response:
    return unexpected_response()


def _refuse_nul_bytes() -> Response | None:
    """A NUL byte is never meaningful in a parameter, and PostgreSQL text cannot hold
    one: a lookup with it fails in the driver (a 500) instead of finding nothing.
    Path parameters (an admin API's portal slug) included."""
    if "\x00" in request.path:
        return _bad_request()
    sources = []
    query = request.environ.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        sources.append(request.args)
    if request.content_length or request.environ.get("HTTP_TRANSFER_ENCODING"):
        sources.append(request.form)
    for values in sources:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return _bad_request()
    return None


def _bad_request() -> Response:
    if _wants_json():
        return Response(
            f'{{"error": "invalid_request", "error_description": "{message("bad_request")}"}}',
            status=400,
            mimetype="application/json",
        )
    return error_page("bad_request", status=400)


def init_errors(app: Flask) -> None:
    app.before_request(_refuse_nul_bytes)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(UnavailableError, unavailable_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
