"""Request-scoped access to the services; the only place that reads Flask globals for them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request

from idp.errors import UnavailableError
from idp.records import ClientRecord, RequestMeta
from idp.services import Services
from idp.store.interactions import Interaction
from idp.store.sessions import SSOSession
from idp.store.sql.repositories import UnitOfWork

from .errors import FAILED_FLAG, unavailable_response, unexpected_response

SESSION_COOKIE = "idp_session"


def services() -> Services:
    return current_app.extensions["idp"]  # type: ignore[no-any-return]


class RequestFailed(Exception):
    """Thrown into a request's transaction to roll it back (never seen outside)."""


READ_ONLY_FLAG = "idp_read_only"


def read_only_request(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that writes nothing durable (UserInfo, introspection).

    Its unit of work is :meth:`Database.reader`: no BEGIN, no COMMIT, and any
    attempt to write raises instead of committing. Issue 12 measured the commit of
    an empty transaction at a quarter of a token request's time.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        g.setdefault(READ_ONLY_FLAG, True)
        return view(*args, **kwargs)

    return wrapped


def request_uow() -> UnitOfWork:
    """One unit of work per protocol request, settled in ``after_request``.

    A transaction, or for views marked :func:`read_only_request` a reader.
    """
    if "idp_uow" not in g:
        db = services().db
        cm = db.reader() if g.get(READ_ONLY_FLAG) else db.transaction()
        g.idp_uow = cm.__enter__()
        g.idp_uow_cm = cm
    return g.idp_uow  # type: ignore[no-any-return]


def _take_request_uow() -> Any:
    g.pop("idp_uow", None)
    return g.pop("idp_uow_cm", None)


def roll_back(cm: Any, error: BaseException) -> None:
    """Roll back and run the unit of work's undo steps; never raises (best effort)."""
    try:
        cm.__exit__(type(error), error, None)
    except Exception as failure:  # the rollback of a dead connection may fail too
        logging.getLogger("idp.web").warning("rollback failed: %s", failure.__class__.__name__)


def commit_request_uow(response: Response) -> Response:
    """Commit only the answer the flow chose (invariant 10).

    A success, a redirect, or a 4xx the flow returned itself (``invalid_grant``
    after a reused refresh token must keep its revocation and audit) commits. A
    5xx, or any response an error handler made (``FAILED_FLAG``), rolls back, and
    with it the ephemeral undo steps run: a 500 must not leave a rotated refresh
    token behind for the client's retry to trip over. A commit that fails turns
    the response into the 503 (or 500) it really is.
    """
    if "idp_uow_cm" not in g:
        return response
    # Decided before the transaction leaves ``g``: should anything here raise, the
    # teardown still finds it and rolls it back rather than leaving it open.
    failed = response.status_code >= 500 or bool(g.get(FAILED_FLAG))
    cm = _take_request_uow()
    if failed:
        roll_back(cm, RequestFailed(response.status_code))
        return response
    try:
        cm.__exit__(None, None, None)
    except UnavailableError as exc:
        return unavailable_response(exc)
    except Exception:
        return unexpected_response()
    return response


def rollback_request_uow(exc: BaseException | None) -> None:
    """Teardown: a transaction still open here never reached ``after_request``."""
    cm = _take_request_uow()
    if cm is not None:
        roll_back(cm, exc or RequestFailed("request ended before commit"))


def find_client(client_id: str) -> ClientRecord | None:
    """A registered client, from this process's cache (idp/oidc/client_directory.py)."""
    return services().clients.lookup(client_id, lambda cid: request_uow().clients.by_client_id(cid))


def request_meta() -> RequestMeta:
    return meta_of(request)


def meta_of(req: Any) -> RequestMeta:
    """Who sent ``req``, for audit events (the fast path's requests too)."""
    # The peer address as Werkzeug sees it (ProxyFix decides what to trust),
    # never a raw X-Forwarded-For a client can forge.
    return RequestMeta(ip=req.remote_addr, user_agent=req.user_agent.string[:256] or None)


def now_ts() -> float:
    return services().clock().timestamp()


def current_session() -> SSOSession | None:
    """The live SSO session of this browser, resolved once per request."""
    if "idp_sso" not in g:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        g.idp_sso = services().sessions.resume(cookie, now=now_ts()) if cookie else None
    return g.idp_sso  # type: ignore[no-any-return]


_PENDING_INTERACTION = "idp_pending_interaction"


def pending_interaction(interaction_id: str | None) -> Interaction | None:
    """The pending authorization request ``interaction_id``, read once per request.

    The sign-in page reads it, and so does the locale selector (its ``ui_locales``)
    when the page renders: one round trip instead of two (issue 12 item 3). Only for
    reading what does not change after the request started (client, params); a flow
    that updates the interaction reads it afresh from ``services().interactions``.
    """
    if not interaction_id:
        return None
    cached = g.get(_PENDING_INTERACTION)
    if cached is not None and cached[0] == interaction_id:
        return cached[1]  # type: ignore[no-any-return]
    interaction = services().interactions.get(interaction_id)
    g.setdefault(_PENDING_INTERACTION, (interaction_id, interaction))
    return interaction
