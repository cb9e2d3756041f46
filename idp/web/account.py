"""The patient's "My account" pages (issue 3 items 6-8): thin views over
:mod:`idp.flows.account_settings`.

Every route needs a signed-in browser (flask-login sends anyone else to the
login page) and every POST carries a CSRF token (``CSRFProtect`` checks it for
the whole app). A view reads the form, calls one flow step and renders:
success redirects (303) to the section with a notice; refused input re-renders
the form with 400, a wrong current password with 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as WebResponse

from idp.flows.account_settings import (
    MAX_EMAIL,
    MAX_PASSWORD,
    MAX_PHONE,
    AccountSettings,
    Actor,
    Links,
    Outcome,
    Result,
)
from idp.flows.credentials import has_second_factor
from idp.flows.devices import DEVICE_COOKIE
from idp.messages import MESSAGES
from idp.messages.account import (
    ACTIVITY_LABELS,
    ACTIVITY_REASONS,
    DEVICE_TEXTS,
    PHONE_REASONS,
    QUESTION_REASONS,
)
from idp.policies.password import PASSWORD_PRESETS, describe
from idp.policies.security_questions import CURATED_QUESTIONS

from .deps import SESSION_COOKIE, request_meta, services
from .errors import error_page
from .forms import field, question_choices, question_values

bp = Blueprint("account", __name__, url_prefix="/account")

# A notice for the page a successful change redirects to (kept in the signed
# Flask session cookie, so a crafted URL cannot make us say "password changed").
NOTICE_KEY = "account_notice"

STATUS = {
    Outcome.INVALID: 400,
    Outcome.WRONG_PASSWORD: 401,
    Outcome.LOCKED: 401,
    Outcome.NOT_FOUND: 404,
}

Reasons = Callable[[Iterable[str]], list[tuple[str, str]]]
View = TypeVar("View", bound=Callable[..., WebResponse])


def signed_in(view: View) -> View:
    """flask-login's ``login_required`` (untyped upstream): anyone not signed in is
    redirected to ``login_manager.login_view``, the login page."""
    return cast(View, login_required(view))


# --- wiring ----------------------------------------------------------------------------------


def _flow() -> AccountSettings:
    svc = services()
    s = svc.settings
    return AccountSettings(
        db=svc.db,
        hashing=svc.hashing,
        # The login flow's lockout, so both pages share one count.
        lockout=svc.lockout,
        credentials=svc.credentials,
        sessions=svc.sessions,
        grants=svc.access_tokens,
        notifier=svc.notifier,
        clock=svc.clock,
        phone_region=s.sms.phone_region,
        verify_link_ttl=s.accounts.verify_link_ttl,
        index_secret=s.secret_key,
        portal_sign_out=svc.portal_logout,
    )


def _actor() -> Actor:
    user = current_user._get_current_object()
    meta = request_meta()
    return Actor(
        account_id=user.account.id,
        subject=user.account.subject,
        session_key=user.session.key,
        ip=meta.ip,
        user_agent=meta.user_agent,
        device_cookie=request.cookies.get(DEVICE_COOKIE),
    )


def _absolute(endpoint: str) -> str:
    """A link for an email: the configured issuer, never the request's Host header
    (a forged Host would otherwise put an attacker's site in our mail)."""
    path = url_for(endpoint)[len(request.script_root) :]
    return services().settings.issuer.rstrip("/") + path


def _links() -> Links:
    return Links(sign_in=_absolute("auth.login"), confirm_email=_absolute("account.confirm_email"))


def _secret(name: str) -> str:
    """A password field: never stripped (spaces are part of a password), cut past the limit."""
    return (request.form.get(name) or "")[: MAX_PASSWORD + 1]


def _sign_out_here() -> None:
    services().sessions.end(request.cookies.get(SESSION_COOKIE, ""))
    g.idp_clear_cookie = True


def _gone() -> WebResponse:
    """The account was closed or locked since this browser signed in: sign it out."""
    _sign_out_here()
    return redirect(url_for("auth.login"), code=303)


@bp.context_processor
def _account_globals() -> dict[str, Any]:
    return {"questions_enabled": services().settings.accounts.security_questions > 0}


# --- rendering -------------------------------------------------------------------------------


def _password_reasons(codes: Iterable[str]) -> list[tuple[str, str]]:
    policy = PASSWORD_PRESETS[services().settings.password_policy]
    with services().db.transaction() as uow:
        # The minimum the refusal names is the one that applied: 8 once a factor is on.
        mfa = has_second_factor(uow, current_user.account.id)
    return [(code, describe(code, policy, has_second_factor=mfa)) for code in codes]


def _table(texts: dict[str, str]) -> Reasons:
    return lambda codes: [(code, texts.get(code, code)) for code in codes]


def _page(template: str, *, status: int = 200, **context: Any) -> Response:
    notice = session.pop(NOTICE_KEY, None) if status == 200 else None
    if notice not in MESSAGES:
        notice = None
    context.setdefault("error", None)
    context.setdefault("reasons", [])
    return Response(render_template(template, notice=notice, **context), status=status)


def _finish(
    result: Result,
    *,
    done: str,
    template: str,
    context: Callable[[], dict[str, Any]],
    reasons: Reasons | None = None,
) -> WebResponse:
    """Redirect after a change, or re-render the form with what went wrong."""
    if result.outcome is Outcome.UNAVAILABLE:
        return _gone()
    if result.ok:
        if result.message_id:
            session[NOTICE_KEY] = result.message_id
        return redirect(url_for(done), code=303)
    if result.message_id is None:
        abort(404)
    return _page(
        template,
        status=STATUS[result.outcome],
        error=result.message_id,
        reasons=reasons(result.reasons) if reasons else [],
        **context(),
    )


def describe_device(user_agent: str | None) -> str:
    """ "Firefox on Linux" from a User-Agent string; a clipped string if unknown."""
    if not user_agent:
        return DEVICE_TEXTS["unknown"]
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return DEVICE_TEXTS["format"].format(browser=browser, system=system)
    if browser or system:
        return str(browser or system)
    return user_agent[:40] + ("…" if len(user_agent) > 40 else "")


# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


# --- pages -----------------------------------------------------------------------------------


@bp.get("")
@signed_in
def overview() -> WebResponse:
    profile = _flow().profile(_actor())
    if profile is None:
        return _gone()
    return _page("account_overview.html", profile=profile)


@bp.route("/profile", methods=["GET", "POST"])
@signed_in
def profile() -> WebResponse:
    flow, actor = _flow(), _actor()

    def context() -> dict[str, Any]:
        return {
            "profile": flow.profile(actor),
            "phone": field(request.form, "phone", limit=MAX_PHONE),
        }

    if request.method == "GET":
        current = flow.profile(actor)
        if current is None:
            return _gone()
        return _page("account_profile.html", profile=current, phone=None)
    result = flow.change_phone(
        actor,
        password=_secret("current_password"),
        phone=field(request.form, "phone", limit=MAX_PHONE),
    )
    return _finish(
        result,
        done="account.profile",
        template="account_profile.html",
        context=context,
        reasons=_table(PHONE_REASONS),
    )


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password() -> WebResponse:
    if request.method == "GET":
        return _page("account_password.html", sign_out_others=True)
    result = _flow().change_password(
        _actor(),
        current=_secret("current_password"),
        new=_secret("new_password"),
        repeat=_secret("new_password_repeat"),
        sign_out_others=request.form.get("sign_out_others") == "yes",
        links=_links(),
    )
    return _finish(
        result,
        done="account.password",
        template="account_password.html",
        context=lambda: {"sign_out_others": request.form.get("sign_out_others") == "yes"},
        reasons=_password_reasons,
    )


@bp.route("/email", methods=["GET", "POST"])
@signed_in
def email() -> WebResponse:
    flow, actor = _flow(), _actor()

    def context() -> dict[str, Any]:
        return {
            "profile": flow.profile(actor),
            "new_email": field(request.form, "new_email", limit=MAX_EMAIL),
        }

    if request.method == "GET":
        current = flow.profile(actor)
        if current is None:
            return _gone()
        return _page("account_email.html", profile=current, new_email="")
    result = flow.request_email_change(
        actor,
        password=_secret("current_password"),
        new_email=field(request.form, "new_email", limit=MAX_EMAIL),
        links=_links(),
    )
    return _finish(result, done="account.email", template="account_email.html", context=context)


@bp.route("/email/confirm", methods=["GET", "POST"])
@signed_in
def confirm_email() -> WebResponse:
    """The emailed link opens a page with a button: mail scanners that follow links
    (GET) cannot change the address; only the patient's POST, with its CSRF token, can."""
    flow, actor = _flow(), _actor()
    token = field(request.values, "token", limit=128)
    if request.method == "GET":
        address = flow.pending_email(actor, token)
        if address is None:
            return error_page("account_email_link_invalid", status=400)
        return _page("account_email_confirm.html", token=token, address=address)
    result = flow.confirm_email_change(actor, token, links=_links())
    if result.outcome in (Outcome.INVALID, Outcome.NOT_FOUND):
        return error_page("account_email_link_invalid", status=400)
    return _finish(result, done="account.overview", template="account_overview.html", context=dict)


@bp.route("/questions", methods=["GET", "POST"])
@signed_in
def questions() -> WebResponse:
    flow, actor = _flow(), _actor()
    if not flow.questions_enabled:
        abort(404)

    def context() -> dict[str, Any]:
        # The questions being chosen go back into the form; the password never does.
        values = question_values(question_choices(request.form, flow.question_count))
        return {
            "questions": flow.questions(actor),
            "count": flow.question_count,
            "curated": CURATED_QUESTIONS,
            "values": values,
        }

    if request.method == "GET":
        return _page(
            "account_questions.html",
            questions=flow.questions(actor),
            count=flow.question_count,
            curated=CURATED_QUESTIONS,
            values={},
        )
    result = flow.change_questions(
        actor,
        password=_secret("current_password"),
        choices=question_choices(request.form, flow.question_count),
        links=_links(),
    )
    return _finish(
        result,
        done="account.questions",
        template="account_questions.html",
        context=context,
        reasons=_table(QUESTION_REASONS),
    )


@bp.get("/sessions")
@signed_in
def sessions() -> WebResponse:
    items = _flow().sessions(_actor())
    return _page("account_sessions.html", sessions=items, device=describe_device)


@bp.post("/sessions/end")
@signed_in
def end_session() -> WebResponse:
    flow, actor = _flow(), _actor()
    result = flow.end_session(actor, field(request.form, "session", limit=64))
    if result.signed_out:
        _sign_out_here()
        if result.logout_notice:
            return redirect(url_for("oidc.logout_status", notice=result.logout_notice), code=303)
        return redirect(url_for("auth.login"), code=303)
    return _finish(
        result,
        done="account.sessions",
        template="account_sessions.html",
        context=lambda: {"sessions": flow.sessions(actor), "device": describe_device},
    )


@bp.post("/sessions/end-all")
@signed_in
def end_all_sessions() -> WebResponse:
    result = _flow().end_everywhere(_actor())
    _sign_out_here()
    if result.logout_notice:
        # Which portals confirmed they signed this patient out (back-channel logout).
        return redirect(url_for("oidc.logout_status", notice=result.logout_notice), code=303)
    return redirect(url_for("auth.login"), code=303)


@bp.get("/activity")
@signed_in
def activity() -> WebResponse:
    return _page(
        "account_activity.html",
        items=_flow().activity(_actor()),
        labels=ACTIVITY_LABELS,
        reason_texts=ACTIVITY_REASONS,
        device=describe_device,
    )


@bp.route("/close", methods=["GET", "POST"])
@signed_in
def close() -> WebResponse:
    if request.method == "GET":
        return _page("account_close.html")
    result = _flow().close_account(
        _actor(),
        password=_secret("current_password"),
        confirmation=field(request.form, "confirmation", limit=16),
        links=_links(),
    )
    if result.ok:
        _sign_out_here()
        # Rendered here, not redirected to: this browser is no longer signed in.
        return Response(render_template("account_closed.html"))
    return _finish(result, done="account.close", template="account_close.html", context=dict)
