"""The "Two-step verification" section of My account: thin views over
:mod:`idp.flows.account_mfa`.

Same rules as :mod:`idp.web.account`: a signed-in browser, a CSRF token on every
POST, success redirects (303) to the section with a notice, refused input
re-renders the form (400; 401 for a wrong password; 404 for a factor that is not
the account's). Two exceptions, on purpose: the pages that show recovery codes are
rendered in answer to the POST, never redirected to, because the codes exist only
in that response (and ``Cache-Control: no-store`` keeps them out of caches).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WebResponse

from idp.flows.account_mfa import MAX_CODE, MAX_FLOW_ID, MAX_LABEL, MAX_RESPONSE, Change
from idp.flows.account_mfa import TwoStepSettings as Flow
from idp.flows.account_settings import Outcome
from idp.flows.methods.webauthn import RESPONSE_FIELD
from idp.store.credentials import CredentialKind

from .account import NOTICE_KEY, STATUS, _actor, _flow, _gone, _links, _page, _secret, signed_in
from .deps import services
from .forms import field

bp = Blueprint("two_step", __name__, url_prefix="/account/two-step")

FLOW_FIELD = "flow"


def _two_step() -> Flow:
    svc = services()
    return Flow(
        db=svc.db,
        page=_flow(),
        methods=svc.second_factors,
        ephemeral=svc.ephemeral,
        notifier=svc.notifier,
        clock=svc.clock,
    )


def _username() -> str:
    return str(current_user.account.username)


def _done(change: Change) -> WebResponse:
    """After a change: show new recovery codes once, or redirect with a notice."""
    if change.recovery_codes:
        return _page(
            "account_two_step_codes.html", codes=change.recovery_codes, done=change.message_id
        )
    if change.message_id:
        session[NOTICE_KEY] = change.message_id
    return redirect(url_for("two_step.overview"), code=303)


def _refused(change: Change, template: str, **context: Any) -> WebResponse:
    if change.outcome is Outcome.UNAVAILABLE:
        return _gone()
    return _page(template, status=STATUS[change.outcome], error=change.message_id, **context)


@bp.get("")
@signed_in
def overview() -> WebResponse:
    return _page(
        "account_two_step.html", overview=_two_step().overview(_actor()), kinds=CredentialKind
    )


@bp.route("/app", methods=["GET", "POST"])
@signed_in
def add_app() -> WebResponse:
    """Authenticator app: QR code and secret, confirmed by a code (``code``) and the password."""
    flow, actor, name = _two_step(), _actor(), _username()
    if request.method != "POST":  # GET, and HEAD as Flask answers it
        return _page("account_two_step_app.html", pending=flow.start_app(actor, account_name=name))
    flow_id = field(request.form, FLOW_FIELD, limit=MAX_FLOW_ID)
    change = flow.confirm_app(
        actor,
        flow_id=flow_id,
        code=field(request.form, "code", limit=MAX_CODE),
        password=_secret("current_password"),
        links=_links(),
    )
    if change.ok:
        return _done(change)
    # The same secret again while it is pending (the app already holds it); else a new one.
    pending = flow.pending_app(actor, flow_id, account_name=name) or flow.start_app(
        actor, account_name=name
    )
    return _refused(change, "account_two_step_app.html", pending=pending)


@bp.route("/passkey", methods=["GET", "POST"])
@signed_in
def add_passkey() -> WebResponse:
    """Passkey: the page carries the options; static/passkey.js runs the ceremony."""
    flow, actor = _two_step(), _actor()
    if request.method == "POST":
        label = field(request.form, "label", limit=MAX_LABEL * 2)
        change = flow.register_passkey(
            actor,
            flow_id=field(request.form, FLOW_FIELD, limit=MAX_FLOW_ID),
            response=(request.form.get(RESPONSE_FIELD) or "")[: MAX_RESPONSE + 1],
            label=label,
            password=_secret("current_password"),
            links=_links(),
        )
        if change.ok:
            return _done(change)
    ceremony = flow.start_passkey(actor)
    if ceremony is None:
        return _gone()
    if request.method != "POST":
        return _page("account_two_step_passkey.html", ceremony=ceremony, label="")
    return _refused(change, "account_two_step_passkey.html", ceremony=ceremony, label=label[:64])


@bp.post("/rename")
@signed_in
def rename() -> WebResponse:
    change = _two_step().rename(
        _actor(),
        credential=field(request.form, "credential", limit=20),
        label=field(request.form, "label", limit=MAX_LABEL * 2),
    )
    if change.ok:
        return _done(change)
    flow = _two_step()
    return _refused(
        change, "account_two_step.html", overview=flow.overview(_actor()), kinds=CredentialKind
    )


@bp.route("/remove", methods=["GET", "POST"])
@signed_in
def remove() -> WebResponse:
    flow, actor = _two_step(), _actor()
    credential = field(request.values, "credential", limit=20)
    factor = flow.factor(actor, credential)
    if request.method != "POST":
        if factor is None:
            abort(404)
        return _page("account_two_step_remove.html", factor=factor, kinds=CredentialKind)
    change = flow.remove(
        actor, credential=credential, password=_secret("current_password"), links=_links()
    )
    if change.ok:
        return _done(change)
    if factor is None or change.outcome is Outcome.NOT_FOUND:
        abort(404)
    return _refused(change, "account_two_step_remove.html", factor=factor, kinds=CredentialKind)


@bp.route("/recovery-codes", methods=["GET", "POST"])
@signed_in
def recovery_codes() -> WebResponse:
    flow, actor = _two_step(), _actor()
    if request.method != "POST":
        return _page("account_two_step_recovery.html", overview=flow.overview(actor))
    change = flow.regenerate_codes(actor, password=_secret("current_password"), links=_links())
    if change.ok:
        return _done(change)
    return _refused(change, "account_two_step_recovery.html", overview=flow.overview(actor))
