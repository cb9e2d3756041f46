"""Self sign-up pages (issues 3 and 5): two steps, "check your email" with the optional
"verify by phone number" step, then the link (which creates the account).

Thin views over :class:`idp.flows.registration.RegistrationFlow`: parse the form,
call one step, render. Every sign-up route answers 404 when sign-up is turned off.
Which branch the flow took (exact, close or no match) never reaches a page: the
outcome carries only the state to show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask import session as flask_session
from werkzeug.wrappers import Response as BaseResponse

from idp.flows.registration import MAX_PASSWORD_INPUT, CredentialsInput, RegistrationFlow
from idp.flows.signup_common import SignupOutcome, SignupState
from idp.flows.signup_phone import CODE_DIGITS
from idp.i18n import N_
from idp.messages import message
from idp.policies.demographics import GENDERS, MAX_NAME, DemographicsInput, Refusal
from idp.policies.password import PASSWORD_PRESETS, describe
from idp.policies.security_questions import CURATED_QUESTIONS

from .deps import find_client, request_meta, services
from .forms import field, question_choices, question_values

bp = Blueprint("signup", __name__)

# Longer than any phone number with punctuation; the flow refuses what it cannot parse.
MAX_PHONE_INPUT = 64
GENDER_LABELS = dict(
    zip(
        GENDERS,
        (N_("Female"), N_("Male"), N_("Other"), N_("I prefer not to say")),
        strict=True,
    )
)


@bp.before_request
def _only_when_enabled() -> None:
    if request.path.startswith("/signup") and not services().settings.accounts.signup_enabled:
        abort(404)


def _flow() -> RegistrationFlow:
    return RegistrationFlow.from_services(services())


# The field a refusal links to in the error summary, where its name is not the input's id.
_FIELD_IDS = {"questions": "question_1"}


def _reasons(refusals: Iterable[Refusal]) -> list[tuple[str, str, str]]:
    """(code, text, field id) for the error summary, in the order the flow gave them: the
    summary links each reason to its field, so a screen reader's user can jump to it."""
    settings = services().settings
    policy = PASSWORD_PRESETS[settings.password_policy]
    fill = {
        "min_age": settings.accounts.signup_min_age,
        "questions": settings.accounts.security_questions,
    }
    items = []
    for refusal in refusals:
        if refusal.field == "password":
            text = describe(refusal.code, policy)
        else:
            text = message(f"signup_{refusal.code}").format(**fill)
        items.append((refusal.code, text, _FIELD_IDS.get(refusal.field, refusal.field)))
    return items


def _page(template: str, *, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status)


def _start_page(
    *,
    values: Mapping[str, str] | None = None,
    refusals: tuple[Refusal, ...] = (),
    message_id: str | None = None,
    status: int = 200,
) -> Response:
    return _page(
        "signup_start.html",
        status=status,
        values=values or {},
        reasons=_reasons(refusals),
        invalid={r.field for r in refusals},
        message_id=message_id,
        genders=GENDER_LABELS,
    )


def _account_page(
    flow_id: str,
    *,
    values: Mapping[str, str] | None = None,
    refusals: tuple[Refusal, ...] = (),
    status: int = 200,
) -> Response:
    accounts = services().settings.accounts
    return _page(
        "signup_account.html",
        status=status,
        flow_id=flow_id,
        values=values or {},
        reasons=_reasons(refusals),
        invalid={r.field for r in refusals},
        question_count=accounts.security_questions,
        curated=CURATED_QUESTIONS,
    )


def _render(outcome: SignupOutcome, values: Mapping[str, str]) -> Response:
    if outcome.state is SignupState.EXPIRED:
        return _start_page(message_id="signup_flow_expired", status=400)
    if outcome.state is SignupState.DEMOGRAPHICS:
        return _start_page(values=values, refusals=outcome.refusals, status=400)
    if outcome.state is SignupState.CREDENTIALS:
        assert outcome.flow_id is not None
        status = 400 if outcome.refusals else 200
        return _account_page(
            outcome.flow_id, values=values, refusals=outcome.refusals, status=status
        )
    if outcome.state is SignupState.PHONE_CODE:
        return _page(
            "signup_phone_code.html",
            status=400 if outcome.refusals else 200,
            flow_id=outcome.flow_id,
            phone=outcome.phone,
            reasons=_reasons(outcome.refusals),
            code_digits=CODE_DIGITS,
        )
    if outcome.state is SignupState.PHONE_DONE:
        return _page("signup_phone_done.html", return_to=_return_to())
    if outcome.state is SignupState.EXISTING_ACCOUNT:
        return _page("signup_existing_account.html")
    if outcome.state is SignupState.VERIFIED:
        return _page("signup_verified.html", return_to=_return_to())
    if outcome.state is SignupState.LINK_INVALID:
        return _page("signup_link_invalid.html", status=400)
    if outcome.state is SignupState.CHOOSE_USER_ID:
        return _page(
            "signup_choose_user_id.html",
            status=400 if outcome.refusals else 200,
            flow_id=outcome.flow_id,
            username=values.get("username", ""),
            reasons=_reasons(outcome.refusals),
            invalid={r.field for r in outcome.refusals},
        )
    # One page whatever happened behind it: exact, close or no match, email in use,
    # throttled; each with a phone step of its own.
    return _page(
        "signup_check_email.html",
        status=400 if outcome.refusals else 200,
        email=outcome.email,
        flow_id=outcome.flow_id,
        phone=values.get("phone", ""),
        reasons=_reasons(outcome.refusals),
    )


# This browser's pending portal sign-in (an interaction id), kept in the signed
# session cookie while the patient signs up, so the end of sign-up leads back to
# the portal they came from (issue 14, item 7).
RETURN_KEY = "signup_return"
# The SHA-256 of the verification link this browser just used: sending the page's
# form twice shows the success again instead of "this link is no longer valid".
VERIFIED_KEY = "signup_verified"


@dataclass(frozen=True, slots=True)
class ReturnTo:
    name: str
    url: str


def _return_to() -> ReturnTo | None:
    """The portal this browser came from, while its sign-in request is still live."""
    interaction_id = flask_session.get(RETURN_KEY)
    if not isinstance(interaction_id, str):
        return None
    interaction = services().interactions.get(interaction_id)
    if interaction is None:
        flask_session.pop(RETURN_KEY, None)
        return None
    client = find_client(interaction.client_id)
    if client is None:
        return None
    return ReturnTo(name=client.name, url=url_for("auth.login", i=interaction.id))


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@bp.route("/signup", methods=["GET", "POST"])
def start() -> Response:
    if request.method == "GET":
        interaction_id = request.args.get("i", "")[:64]
        if interaction_id and services().interactions.get(interaction_id) is not None:
            flask_session[RETURN_KEY] = interaction_id
        return _start_page()
    form = request.form
    values = {
        "first_name": field(form, "first_name", limit=MAX_NAME),
        "last_name": field(form, "last_name", limit=MAX_NAME),
        "dob": field(form, "dob", limit=10),
        "zip": field(form, "zip", limit=10),
        "gender": field(form, "gender", limit=16),
        "email": field(form, "email", limit=254),
    }
    outcome = _flow().start(DemographicsInput(**values), meta=request_meta())
    # Step 2 is rendered in reply to the POST: the flow id never appears in a URL.
    return _render(outcome, values if outcome.state is SignupState.DEMOGRAPHICS else {})


@bp.route("/signup/account", methods=["GET", "POST"])
def account() -> BaseResponse:
    if request.method == "GET":
        return redirect(url_for("signup.start"), code=303)
    form = request.form
    count = services().settings.accounts.security_questions
    questions = question_choices(form, count) if count else []
    username = field(form, "username", limit=64)
    credentials = CredentialsInput(
        username=username,
        password=(form.get("password") or "")[: MAX_PASSWORD_INPUT + 1],
        questions=questions,
        accept_terms=form.get("accept_terms") == "yes",
    )
    outcome = _flow().submit_credentials(
        field(form, "f", limit=64), credentials, meta=request_meta()
    )
    # Echo the user ID and the questions being chosen, never the password.
    values = {"username": username, "accept_terms": "yes" if credentials.accept_terms else ""}
    values.update(question_values(questions))
    return _render(outcome, values)


@bp.route("/signup/phone", methods=["GET", "POST"])
def phone() -> BaseResponse:
    """Step "verify by phone number": text a code to the number typed."""
    if request.method == "GET":
        return redirect(url_for("signup.start"), code=303)
    number = field(request.form, "phone", limit=MAX_PHONE_INPUT)
    outcome = _flow().send_phone_code(
        field(request.form, "f", limit=64), number, meta=request_meta()
    )
    return _render(outcome, {"phone": number})


@bp.route("/signup/phone/confirm", methods=["GET", "POST"])
def phone_confirm() -> BaseResponse:
    if request.method == "GET":
        return redirect(url_for("signup.start"), code=303)
    outcome = _flow().confirm_phone_code(
        field(request.form, "f", limit=64),
        field(request.form, "code", limit=16),
        meta=request_meta(),
    )
    return _render(outcome, {})


@bp.route("/signup/verify", methods=["GET", "POST"])
def verify() -> Response:
    flow = _flow()
    if request.method == "GET":
        # Looking does not use the link: mail scanners and previews open links too.
        token = request.args.get("token", "")[:200]
        if not flow.link_is_live(token):
            return _page("signup_link_invalid.html", status=400)
        return _page("signup_verify.html", token=token)
    # Only a POST (the page's button) uses the link and creates the account.
    token = request.form.get("token", "")[:200]
    outcome = flow.verify(token, meta=request_meta())
    if outcome.state is SignupState.VERIFIED:
        flask_session[VERIFIED_KEY] = _token_digest(token)
    elif (
        outcome.state is SignupState.LINK_INVALID
        and token
        and flask_session.get(VERIFIED_KEY) == _token_digest(token)
    ):
        # The button pressed twice: the first press created the account.
        return _page("signup_verified.html", return_to=_return_to())
    return _render(outcome, {})


@bp.route("/signup/verify/user-id", methods=["GET", "POST"])
def choose_user_id() -> BaseResponse:
    """The link was used, but its user ID was taken meanwhile: choose another."""
    if request.method == "GET":
        return redirect(url_for("signup.start"), code=303)
    username = field(request.form, "username", limit=64)
    outcome = _flow().choose_user_id(
        field(request.form, "f", limit=64), username, meta=request_meta()
    )
    return _render(outcome, {"username": username})


@bp.route("/signup/resend", methods=["GET", "POST"])
def resend() -> Response:
    if request.method == "GET":
        return _page("signup_resend.html", email="", reasons=[])
    email = field(request.form, "email", limit=254)
    if not _flow().resend(email, meta=request_meta()):
        refusal = Refusal("email", "email_invalid")
        return _page("signup_resend.html", status=400, email=email, reasons=_reasons([refusal]))
    # The same reply whether or not an account waits at that address.
    return _page("signup_resend_sent.html")


@bp.get("/terms")
def terms() -> Response:
    return _page("terms.html")
