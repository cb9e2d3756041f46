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
from idp.flows.proxy_invites import ProxyInviteFlow
from idp.flows.proxy_views import LEVEL_WORDS
from idp.i18n import N_, translate
from idp.messages import MESSAGES

from .account import NOTICE_KEY, _gone, signed_in
from .deps import request_meta, services

bp = Blueprint("proxy_pages", __name__, url_prefix="/account/proxy")

PROXY_MESSAGES: dict[str, str] = {
    "proxy_revoked": N_("That access has ended. Both of you have been emailed."),
    "proxy_cosigned": N_("Thank you. Your signature is recorded; the practice approves next."),
    "proxy_not_found": N_("That access was not found, or has already ended."),
    "proxy_none_for_me": N_("Nobody can see your record for you."),
    "proxy_none_held": N_("You cannot act for anyone yet. A practice grants this access."),
    "proxy_renewed": N_("Access renewed. Both of you have been emailed."),
    "proxy_invited": N_("Invitation sent. The link in it works once, for 7 days."),
    "proxy_accepted": N_("You can now act for this patient. Both of you have been emailed."),
    "proxy_invite_refused": N_(
        "That invitation could not be sent. Check the practice, the "
        "relationship and the email address."
    ),
    "proxy_invite_limit": N_("You have sent many invitations today. Please try again tomorrow."),
    "proxy_patient_not_adult": N_(
        "Only adult patients can invite a representative online; "
        "for a minor, the practice grants access on a signed form."
    ),
    "invitation_invalid": N_(
        "This invitation link is not valid: it was used, replaced or "
        "has expired. Ask the patient to send a new one."
    ),
    "representative_under_age": N_("A representative must be at least 18 years old."),
    "representative_is_patient": N_("You cannot be your own representative."),
    "grant_exists": N_("You can already act for this patient at this practice."),
    "representative_birth_date_unknown": N_(
        "Your account has no date of birth; the practice "
        "must add it before you can be a representative."
    ),
}
INVITE_ERRORS = {
    "patient_not_adult": "proxy_patient_not_adult",
    "too_many_invitations": "proxy_invite_limit",
}
ACCEPT_ERRORS = frozenset(
    {
        "invitation_invalid",
        "representative_under_age",
        "representative_is_patient",
        "grant_exists",
        "representative_birth_date_unknown",
    }
)
RELATIONSHIP_WORDS = {
    "parent": N_("parent"),
    "legal_guardian": N_("legal guardian"),
    "healthcare_poa": N_("health-care proxy or power of attorney"),
    "conservator": N_("conservator"),
    "other": N_("representative"),
}
MAX_GRANT_ID = 2**31 - 1
EVENT_WORDS = {
    "proxy_signin": N_("signed in to the portal for"),
    "record_chosen": N_("chose the record of"),
    "token_issued": N_("opened the record of"),
    "token_refreshed": N_("renewed access to the record of"),
}


def _message(message_id: str) -> str:
    text = PROXY_MESSAGES.get(message_id) or MESSAGES.get(message_id)
    return message_id if text is None else translate(text)


def _flow() -> ProxyGrantFlow:
    return ProxyGrantFlow.from_services(services())


def _account() -> Any:
    return current_user._get_current_object().account


def _page(*, status: int = 200, error: str | None = None) -> WebResponse:
    account = _account()
    with services().db.transaction() as uow:
        fresh = uow.accounts.by_id(account.id)
        links = [] if fresh is None else uow.portal_links.list_for_account(fresh.id)
        portals = [(k.portal_slug, k.portal_name) for k in links if k.status == "active"]
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
        "my_portals": portals,
        "me": fresh,
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


@bp.post("/renew")
@signed_in
def renew() -> WebResponse:
    """The adult patient grants again: a new period from today (issue 10 item 3)."""
    try:
        _flow().renew_by_patient(_grant_id(), _account(), meta=request_meta())
    except ProxyRefusal as exc:
        return _page(status=404 if exc.status == 404 else 409, error="proxy_not_found")
    session[NOTICE_KEY] = "proxy_renewed"
    return redirect(url_for("proxy_pages.overview"), code=303)


@bp.post("/invite")
@signed_in
def invite() -> WebResponse:
    """Invite an adult representative by email (issue 10 item 7)."""
    form = request.form
    try:
        ProxyInviteFlow.from_services(services()).invite(
            _account(),
            portal_slug=(form.get("portal") or "")[:65],
            email=(form.get("email") or "")[:300],
            relationship=(form.get("relationship") or "")[:32],
            meta=request_meta(),
        )
    except ProxyRefusal as exc:
        error = INVITE_ERRORS.get(exc.code, "proxy_invite_refused")
        return _page(status=exc.status if exc.status in (400, 403, 429) else 400, error=error)
    session[NOTICE_KEY] = "proxy_invited"
    return redirect(url_for("proxy_pages.overview"), code=303)


def _token(raw: str) -> str:
    return raw[:64]


@bp.get("/accept/<token>")
def accept_page(token: str) -> WebResponse:
    """The emailed link: who invites, and a button to accept once signed in."""
    invitation = ProxyInviteFlow.from_services(services()).peek(_token(token))
    status = 200 if invitation is not None else 404
    html = render_template(
        "proxy_accept.html",
        invitation=invitation,
        token=_token(token),
        signed_in=current_user.is_authenticated,
        relationship_words=RELATIONSHIP_WORDS,
        error=None if invitation is not None else "invitation_invalid",
        message=_message,
    )
    return Response(html, status=status)


@bp.post("/accept/<token>")
@signed_in
def accept(token: str) -> WebResponse:
    flow = ProxyInviteFlow.from_services(services())
    try:
        flow.accept(_token(token), _account(), meta=request_meta())
    except ProxyRefusal as exc:
        code = exc.code if exc.code in ACCEPT_ERRORS else "invitation_invalid"
        html = render_template(
            "proxy_accept.html",
            invitation=flow.peek(_token(token)),
            token=_token(token),
            signed_in=True,
            relationship_words=RELATIONSHIP_WORDS,
            error=code,
            message=_message,
        )
        return Response(html, status=exc.status if 400 <= exc.status < 500 else 400)
    session[NOTICE_KEY] = "proxy_accepted"
    return redirect(url_for("proxy_pages.overview"), code=303)
