"""Getting back in: forgot user ID, forgot password and reset links (issue 4).

Thin views: parse the form, call one flow step, render the page it names. The step
state is server-side (``idp.flows.recovery_common``); the page carries only its
random id in a hidden ``flow`` field. Reset links are used only by a POST carrying
a CSRF token: a GET shows a button, because mail scanners fetch every link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, render_template, request

from idp.flows.forgot_id import ForgotUserIdFlow
from idp.flows.forgot_password import ForgotPasswordFlow, Step
from idp.flows.recovery_common import RecoveryDeps, Render
from idp.policies.password import PASSWORD_PRESETS, describe

from .account import describe_device
from .deps import request_meta, services
from .forms import field

bp = Blueprint("recovery", __name__)

MAX_PASSWORD = 1024

# Pages every flow may end on: a neutral result, a limit, an expired step.
_RESULT_VIEWS = {
    "sent",
    "locked",
    "expired",
    "too_many_requests",
    "invalid_link",
    "done",
    "cancelled",
}


def _deps() -> RecoveryDeps:
    return RecoveryDeps.from_services(services())


def _password_field(name: str) -> str:
    # Passwords are taken as typed (no strip), cut just past the longest allowed.
    return (request.form.get(name) or "")[: MAX_PASSWORD + 1]


def _page(template: str, outcome: Render, **context: Any) -> Response:
    policy = PASSWORD_PRESETS[services().settings.password_policy]
    html = render_template(
        template,
        step=str(outcome.view),
        status=outcome.status,
        message_id=outcome.message_id,
        flow_id=outcome.flow_id,
        question=outcome.question,
        token=outcome.token,
        reasons=[(code, describe(code, policy)) for code in outcome.reasons],
        extra=outcome.extra,
        device=describe_device,
        **context,
    )
    return Response(html, status=outcome.status)


def _kept(form: Mapping[str, str], *names: str) -> dict[str, str]:
    """What a refused step shows again: what names the account, never what proves who
    the patient is (birth date, security answer, password: they count toward the
    lockout, and are typed again)."""
    return {name: form.get(name, "") for name in names}


def _result(outcome: Render, *, journey: str) -> Response:
    return _page("recovery_result.html", outcome, journey=journey)


@bp.route("/forgot-user-id", methods=["GET", "POST"])
def forgot_user_id() -> Response:
    deps = _deps()
    flow = ForgotUserIdFlow(deps)
    form: Mapping[str, str] = {}
    if request.method == "GET":
        outcome = flow.begin()
    else:
        form = {
            "email": field(request.form, "email", limit=254),
            "dob": field(request.form, "dob", limit=32),
            "answer": field(request.form, "answer", limit=400),
        }
        outcome = flow.submit(field(request.form, "flow", limit=64), form, meta=request_meta())
    if outcome.view in _RESULT_VIEWS:
        return _result(outcome, journey="user_id")
    return _page(
        "recovery_forgot_id.html",
        outcome,
        total_steps=3 if deps.questions_on else 2,
        values=_kept(form, "email"),
    )


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Response:
    flow = ForgotPasswordFlow(_deps())
    form: Mapping[str, str] = {}
    if request.method == "GET":
        outcome = flow.begin()
    else:
        form = {
            "username": field(request.form, "username", limit=64),
            "answer": field(request.form, "answer", limit=400),
            "password": _password_field("password"),
            "password_confirm": _password_field("password_confirm"),
        }
        outcome = flow.submit(field(request.form, "flow", limit=64), form, meta=request_meta())
    if outcome.view in _RESULT_VIEWS:
        return _result(outcome, journey="password")
    return _page(
        "recovery_forgot_password.html", outcome, mode=flow.mode, values=_kept(form, "username")
    )


def _link(outcome: Render) -> Response:
    """A reset link's page: the confirm button, the new-password form, or a result."""
    if outcome.view == Step.CONFIRM:
        return _page("recovery_confirm.html", outcome)
    if outcome.view == Step.CHOOSE_PASSWORD:
        return _page("recovery_new_password.html", outcome)
    if outcome.view == Step.SECOND_FACTOR:
        return _page("recovery_second_factor.html", outcome)
    return _result(outcome, journey="link")


@bp.route("/reset/confirm", methods=["GET", "POST"])
def reset_confirm() -> Response:
    """The "confirm my password" link of the questions flow."""
    flow = ForgotPasswordFlow(_deps())
    if request.method == "GET":
        return _link(flow.link_page(request.args.get("token")))
    return _link(flow.confirm(field(request.form, "token", limit=128), meta=request_meta()))


@bp.route("/reset/cancel", methods=["POST"])
def reset_cancel() -> Response:
    """ "This wasn't me" on the "confirm my password" page: cancel and tell the owner."""
    flow = ForgotPasswordFlow(_deps())
    return _link(flow.cancel(field(request.form, "token", limit=128), meta=request_meta()))


@bp.route("/reset/password", methods=["GET", "POST"])
def reset_password() -> Response:
    """The "choose a new password" link of the link flow and of staff-issued links."""
    flow = ForgotPasswordFlow(_deps())
    if request.method == "GET":
        return _link(flow.link_page(request.args.get("token")))
    return _link(
        flow.choose(
            field(request.form, "token", limit=128),
            _password_field("password"),
            _password_field("password_confirm"),
            meta=request_meta(),
        )
    )


@bp.post("/reset/second-factor")
def reset_second_factor() -> Response:
    """The second factor of a reset held for it: then, and only then, the password changes."""
    flow = ForgotPasswordFlow(_deps())
    code = field(request.form, "code", limit=64)
    # One input for both: an app's code is digits only, a recovery code is not.
    digits = code.replace(" ", "")
    method = (
        "totp" if digits.isascii() and digits.isdigit() and len(digits) <= 8 else "recovery_code"
    )
    form = {"method": method, "code": code}
    return _link(
        flow.second_factor(field(request.form, "pending", limit=64), form, meta=request_meta())
    )
