"""Request-scoped access to the services; the only place that reads Flask globals for them."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from idp.records import RequestMeta
from idp.services import Services
from idp.store.sessions import SSOSession
from idp.store.sql.repositories import UnitOfWork

SESSION_COOKIE = "idp_session"


def services() -> Services:
    return current_app.extensions["idp"]  # type: ignore[no-any-return]


def request_uow() -> UnitOfWork:
    """One transaction per protocol request, committed in ``after_request``."""
    if "idp_uow" not in g:
        cm = services().db.transaction()
        g.idp_uow = cm.__enter__()
        g.idp_uow_cm = cm
    return g.idp_uow  # type: ignore[no-any-return]


def commit_request_uow(response: Any) -> Any:
    cm = g.pop("idp_uow_cm", None)
    g.pop("idp_uow", None)
    if cm is not None:
        cm.__exit__(None, None, None)  # commits; a failure raises and becomes a 500
    return response


def rollback_request_uow(exc: BaseException | None) -> None:
    cm = g.pop("idp_uow_cm", None)
    g.pop("idp_uow", None)
    if cm is not None:
        error = exc or RuntimeError("request ended before commit")
        cm.__exit__(type(error), error, None)


def request_meta() -> RequestMeta:
    # The peer address as Werkzeug sees it (ProxyFix decides what to trust),
    # never a raw X-Forwarded-For a client can forge.
    return RequestMeta(ip=request.remote_addr, user_agent=request.user_agent.string[:256] or None)


def now_ts() -> float:
    return services().clock().timestamp()


def current_session() -> SSOSession | None:
    """The live SSO session of this browser, resolved once per request."""
    if "idp_sso" not in g:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        g.idp_sso = services().sessions.resume(cookie, now=now_ts()) if cookie else None
    return g.idp_sso  # type: ignore[no-any-return]
