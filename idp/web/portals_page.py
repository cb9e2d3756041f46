""" "My portals": the practices an account is linked to (issue 5).

Thin views over :mod:`idp.flows.portal_links`, in the frame and manner of the
"My account" pages (:mod:`idp.web.account`): signed-in browsers only, CSRF on
every POST, success redirects (303) back with a notice, a refusal re-renders the
page with 400, 401 or 404 and the reason.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as WebResponse

from idp.flows.account_settings import MAX_PASSWORD, Outcome, Result
from idp.flows.portal_links import MAX_CLIENT_ID, MAX_SLUG, PortalLinks
from idp.i18n import N_, translate
from idp.messages import MESSAGES, SCOPE_DESCRIPTIONS

from .account import NOTICE_KEY, STATUS, _actor, _gone, signed_in
from .deps import services
from .forms import field

bp = Blueprint("portals", __name__, url_prefix="/account/portals")

# This page's texts, keyed by message ID like every other page's (templates and
# tests use the IDs). They belong with the account texts in idp.messages.account.
PORTAL_MESSAGES: dict[str, str] = {
    "portal_unlinked": (
        N_(
            "The practice was unlinked. Its portal and apps can no longer use your account "
            "until you link it again."
        )
    ),
    "portal_not_linked": N_("That practice is not linked to your account."),
    "portals_none": N_("No practice is linked to your account yet."),
    "consent_withdrawn": (
        N_(
            "Permission withdrawn. That portal or app can no longer use your account; if you "
            "sign in there again, you will be asked to allow it again."
        )
    ),
    "consent_not_found": N_("You have not given that portal or app permission."),
    "portals_allowed_none": N_("You have not allowed any portal or app yet."),
    "portals_allowed_explained": (
        N_(
            "Portals and apps you allowed to use your sign-in and read the details listed. "
            "Withdrawing permission signs them out of your account; your records at the "
            "practice are not affected."
        )
    ),
    "portals_pending_explained": (
        N_(
            "These practices invited you to link your records. Use the activation code in "
            "their invitation email to link one."
        )
    ),
    "portals_unlink_explained": (
        N_(
            "Unlinking a practice withdraws your permission for its portal and apps and "
            "disconnects them. You stay signed in here; sign out of the practice's portal "
            "yourself if it is open. Your records at the practice are not affected."
        )
    ),
}


def _message(message_id: str) -> str:
    text = PORTAL_MESSAGES.get(message_id) or MESSAGES.get(message_id)
    return message_id if text is None else translate(text)


def _flow() -> PortalLinks:
    svc = services()
    return PortalLinks(
        db=svc.db,
        hashing=svc.hashing,
        # The login flow's lockout, so every password check shares one count.
        lockout=svc.lockout,
        grants=svc.access_tokens,
        clock=svc.clock,
    )


def _page(*, status: int = 200, error: str | None = None) -> WebResponse:
    view = _flow().overview(_actor())
    if view is None:
        return _gone()
    notice = session.pop(NOTICE_KEY, None) if status == 200 else None
    if notice not in PORTAL_MESSAGES and notice not in MESSAGES:
        notice = None  # only IDs we set ourselves, never one from a crafted cookie value
    context: dict[str, Any] = {
        "linked": view.linked,
        "pending": view.pending,
        "allowed": view.allowed,
        "scope_descriptions": SCOPE_DESCRIPTIONS,
        "notice": notice,
        "error": error,
        "reasons": [],
        # The account pages' nav shows this section only when questions are on.
        "questions_enabled": services().settings.accounts.security_questions > 0,
        # Shadows the global for this page only, so its own IDs have text.
        "message": _message,
    }
    return Response(render_template("portals.html", **context), status=status)


@bp.get("")
@signed_in
def overview() -> WebResponse:
    return _page()


@bp.post("/withdraw")
@signed_in
def withdraw() -> WebResponse:
    result: Result = _flow().withdraw_consent(
        _actor(), client_id=field(request.form, "client", limit=MAX_CLIENT_ID)
    )
    if result.outcome is Outcome.UNAVAILABLE:
        return _gone()
    if result.ok:
        session[NOTICE_KEY] = result.message_id
        return redirect(url_for("portals.overview"), code=303)
    return _page(status=STATUS[result.outcome], error=result.message_id)


@bp.post("/unlink")
@signed_in
def unlink() -> WebResponse:
    result: Result = _flow().unlink(
        _actor(),
        portal=field(request.form, "portal", limit=MAX_SLUG),
        # A password is never stripped (spaces are part of it); cut past the limit.
        password=(request.form.get("current_password") or "")[: MAX_PASSWORD + 1],
    )
    if result.outcome is Outcome.UNAVAILABLE:
        return _gone()
    if result.ok:
        session[NOTICE_KEY] = result.message_id
        return redirect(url_for("portals.overview"), code=303)
    return _page(status=STATUS[result.outcome], error=result.message_id)
