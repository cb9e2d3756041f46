""" "Who can see my record" and "People I can act for" (issue 10, item 5 of the brief).

Thin views over :class:`idp.flows.proxy_grants.ProxyGrantFlow`, in the manner of the
"My account" pages: signed-in browsers only, CSRF on every POST (the app-wide
``CSRFProtect``), success redirects (303) back with a notice; a grant the account is
no party to answers 404, exactly like one that does not exist.

Either side may end a grant here at any time; a teen co-signs a pending request for full
access from their own account (staff approve next). Both sides are emailed by the flow.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WebResponse

from idp.flows.patients import ProxyRefusal
from idp.flows.proxy_activity import acted_for_me, my_proxy_actions
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.flows.proxy_views import LEVEL_WORDS
from idp.messages import MESSAGES

from .account import NOTICE_KEY, _gone, signed_in
from .deps import request_meta, services

bp = Blueprint("proxy_pages", __name__, url_prefix="/account/proxy")

PROXY_MESSAGES: dict[str, str] = {
    "proxy_revoked": "That access has ended. Both of you have been emailed.",
    "proxy_cosigned": "Thank you. Your signature is recorded; the practice approves next.",
    "proxy_not_found": "That access was not found, or has already ended.",
    "proxy_none_for_me": "Nobody can see your record for you.",
    "proxy_none_held": "You cannot act for anyone yet. A practice grants this access.",
}
RELATIONSHIP_WORDS = {
    "parent": "parent",
    "legal_guardian": "legal guardian",
    "healthcare_poa": "health-care proxy or power of attorney",
    "conservator": "conservator",
    "other": "representative",
}
MAX_GRANT_ID = 2**31 - 1
EVENT_WORDS = {
    "proxy_signin": "signed in to the portal for",
    "record_chosen": "chose the record of",
    "token_issued": "opened the record of",
    "token_refreshed": "renewed access to the record of",
}


def _message(message_id: str) -> str:
    return PROXY_MESSAGES.get(message_id) or MESSAGES.get(message_id, message_id)


def _flow() -> ProxyGrantFlow:
    return ProxyGrantFlow.from_services(services())


def _account() -> Any:
    return current_user._get_current_object().account


def _page(*, status: int = 200, error: str | None = None) -> WebResponse:
    account = _account()
    with services().db.transaction() as uow:
        fresh = uow.accounts.by_id(account.id)
    if fresh is None or not fresh.is_active:
        return _gone()
    for_me, held = _flow().list_for_account(fresh)
    with services().db.transaction() as uow:
        # Issue 10 item 9: who acted for me, and what I did for others (from the audit log).
        acted_for = acted_for_me(uow, fresh)
        my_actions = my_proxy_actions(uow, fresh)
    notice = session.pop(NOTICE_KEY, None) if status == 200 else None
    if notice not in PROXY_MESSAGES:
        notice = None  # only IDs we set ourselves
    context = {
        "for_me": for_me,
        "held": held,
        "acted_for": acted_for,
        "my_actions": my_actions,
        "event_words": EVENT_WORDS,
        "notice": notice,
        "error": error,
        "reasons": [],
        "level_words": LEVEL_WORDS,
        "relationship_words": RELATIONSHIP_WORDS,
        "questions_enabled": services().settings.accounts.security_questions > 0,
        "message": _message,
    }
    return Response(render_template("account_proxy.html", **context), status=status)


def _grant_id() -> int:
    raw = (request.form.get("grant") or "")[:12]
    return int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_GRANT_ID else 0


@bp.get("")
@signed_in
def overview() -> WebResponse:
    return _page()


@bp.post("/revoke")
@signed_in
def revoke() -> WebResponse:
    account = _account()
    try:
        _flow().revoke(
            _grant_id(),
            actor=account.subject,
            meta=request_meta(),
            reason="ended_online",
            by_account=account,
        )
    except ProxyRefusal as exc:
        return _page(status=404 if exc.status == 404 else 409, error="proxy_not_found")
    session[NOTICE_KEY] = "proxy_revoked"
    return redirect(url_for("proxy_pages.overview"), code=303)


@bp.post("/cosign")
@signed_in
def cosign() -> WebResponse:
    try:
        _flow().cosign_by_teen(_grant_id(), _account(), meta=request_meta())
    except ProxyRefusal as exc:
        return _page(status=404 if exc.status == 404 else 409, error="proxy_not_found")
    session[NOTICE_KEY] = "proxy_cosigned"
    return redirect(url_for("proxy_pages.overview"), code=303)
