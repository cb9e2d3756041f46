"""Bearer-token authentication for our JSON APIs (admin and practice systems).

Callers get an access token with the client_credentials grant and a dedicated
scope (``portal:invitations`` for a practice's own system, ``idp:admin`` for staff
tools) and send it as ``Authorization: Bearer``. A practice's token only ever
reaches its own portal's data: the portal comes from the client's registration,
never from the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error
from flask import Response, current_app, g, jsonify

from idp.records import ClientRecord

from .deps import find_client

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ApiCaller:
    client: ClientRecord
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"client:{self.client.client_id}"


def api_error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    return response


def require_scope(scope: str) -> Callable[[F], F]:
    """Allow the view only for a live access token carrying ``scope``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            protector = current_app.extensions["idp_resource_protector"]
            try:
                token = protector.acquire_token(scope)
            except OAuth2Error as exc:
                response = jsonify(dict(exc.get_body()))
                response.status_code = exc.status_code
                for name, value in exc.get_headers():
                    if name.lower() != "content-type":
                        response.headers[name] = value
                return response
            client = find_client(token.grant.client_id)
            if client is None:
                return api_error(401, "invalid_token", "the client no longer exists")
            g.api_caller = ApiCaller(client=client, scopes=frozenset(token.get_scope().split()))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def api_caller() -> ApiCaller:
    return g.api_caller  # type: ignore[no-any-return]
