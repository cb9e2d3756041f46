"""Bearer-token authentication for our JSON APIs (admin and practice systems).

Callers get an access token with the client_credentials grant and a dedicated
scope (``portal:invitations`` for a practice's own system, ``idp:admin`` for staff
tools) and send it as ``Authorization: Bearer``. A practice's token only ever
reaches its own portal's data: the portal comes from the client's registration,
never from the request.

The JSON admin API (``/api/admin/``, issue 11 item 3) takes a staff role's scope:
``idp:admin``, ``idp:support``, ``idp:practice`` or ``idp:auditor``
(``idp.policies.staff_roles.SCOPE_ROLES``). :func:`require_staff` turns the token
into a :class:`StaffPrincipal` acting as ``client:<client_id>`` with that role; an
``idp:practice`` token is confined to its client's portal (none registered: none).
Tokens come only from the client_credentials grant (API scopes cannot be registered
for any other), so no user session ever reaches this API: staff people reach the
same operations through the console, behind a second factor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from authlib.oauth2 import OAuth2Error
from flask import Response, current_app, g, jsonify

from idp.flows.staff.errors import Refusal, StaffError
from idp.policies.staff_roles import (
    SCOPE_ROLES,
    Operation,
    Role,
    StaffPrincipal,
    may,
    may_on_portal,
)
from idp.records import ClientRecord

from .deps import find_client, request_meta, services

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


def _acquire(scopes: list[str]) -> Response | ApiCaller:
    protector = current_app.extensions["idp_resource_protector"]
    try:
        token = protector.acquire_token(scopes)
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
    return ApiCaller(client=client, scopes=frozenset(token.get_scope().split()))


def _principal(caller: ApiCaller, operation: Operation) -> StaffPrincipal | None:
    """The token's role that covers ``operation`` (the widest first), as a principal."""
    for scope, role in SCOPE_ROLES.items():  # admin, support, practice, auditor
        if scope in caller.scopes and may(role, operation):
            portals = None
            if role is Role.PRACTICE:
                portal = caller.client.portal
                portals = frozenset({portal.slug}) if portal is not None else frozenset()
            return StaffPrincipal(actor=caller.actor, role=role, portals=portals)
    return None


def require_staff(operation: Operation) -> Callable[[F], F]:
    """Allow the view for a token whose staff scope covers ``operation``.

    A token with a staff scope that does not cover it gets 403 ``insufficient_scope``
    (RFC 6750 §3.1); the view reads the principal with :func:`api_principal` and checks
    the portal with :func:`portal_allowed` where one is named.
    """
    scopes = [scope for scope, role in SCOPE_ROLES.items()]

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            caller = _acquire(scopes)
            if isinstance(caller, Response):
                return caller
            principal = _principal(caller, operation)
            if principal is None:
                _record_refusal(caller, operation)
                return api_error(
                    403, "insufficient_scope", f"the token's role may not {operation.value}"
                )
            g.api_caller = caller
            g.api_principal = principal
            g.api_operation = operation
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _record_refusal(caller: ApiCaller, operation: Operation) -> None:
    """A staff token trying what its role lacks is on the record (``staff_refused``);
    a token with no staff scope at all is a client, not staff, and is only refused."""
    roles = [role for scope, role in SCOPE_ROLES.items() if scope in caller.scopes]
    if roles:
        who = StaffPrincipal(actor=caller.actor, role=roles[0])
        services().staff.refusals.record(who, operation, surface="api", meta=request_meta())


def staff_error(exc: StaffError) -> Response:
    """A staff operation's refusal as the API answers it; a 403 is recorded first."""
    if isinstance(exc, Refusal):
        services().staff.refusals.record_forbidden(exc, surface="api", meta=request_meta())
    return api_error(exc.status, exc.code, exc.message)


def api_principal() -> StaffPrincipal:
    return g.api_principal  # type: ignore[no-any-return]


def portal_allowed(slug: str | None) -> bool:
    """Whether the request's principal may do its operation on this portal's data."""
    return may_on_portal(api_principal(), g.api_operation, slug)


def portal_forbidden(slug: str | None) -> Response:
    services().staff.refusals.record(
        api_principal(), g.api_operation, surface="api", portal=slug, meta=request_meta()
    )
    where = f"portal {slug!r}" if slug else "every portal"
    return api_error(403, "forbidden", f"this token may not {g.api_operation.value} on {where}")


def scoped_portal_id() -> int | None:
    """For reads and writes by id: None for an unconfined principal, else its client's
    portal id (``-1``, matching nothing, when it has none)."""
    principal = api_principal()
    if principal.portals is None:
        return None
    portal = api_caller().client.portal
    return portal.id if portal is not None and portal.slug in principal.portals else -1
