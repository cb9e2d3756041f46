"""The one place an SSO session starts: from an AuthenticationResult, nothing else.

Kratos's ``selfservice/hook/session_issuer.go`` is the model: the last hook of a
successful sign-in turns its result into a session. Here it is the only caller of
``SSOSessionStore.start`` (``tests/unit/test_layering.py`` greps for others), and
the result can only come from ``idp.flows.authn`` (it is sealed), so every way in
passes every factor the account has (DESIGN.md invariant 11). ``amr``, ``acr`` and
``auth_time`` are the result's; the ID token reads them from the session.
"""

from __future__ import annotations

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from idp.flows.authn.result import AuthenticationResult

from .deps import current_session, request_meta, services
from .errors import error_page
from .return_to import pop_return
from .security import rotate_csrf_secret, set_device_cookie, set_session_cookie


def issue_session(
    result: AuthenticationResult,
    interaction_id: str | None,
    *,
    persistent: bool = False,
    device_cookie: str | None = None,
) -> Response:
    """Start the SSO session and go on to where the patient was headed.

    ``persistent``: the patient ticked "Keep me signed in on this device" on the login
    page; every other way in gives a cookie that ends with the browser.
    """
    if not isinstance(result, AuthenticationResult):  # a typed seam, checked at run time too
        raise TypeError("issue_session takes an AuthenticationResult")
    svc = services()
    interaction = svc.interactions.get(interaction_id) if interaction_id else None
    # A new session id at every sign-in (session fixation, ASVS 7.2.4).
    if current_session() is not None:
        svc.sessions.end(request.cookies.get("idp_session", ""))
    meta = request_meta()
    session_id, session = svc.sessions.start(
        account_id=result.account_id,
        subject=result.subject,
        now=svc.clock().timestamp(),
        amr=result.amr,
        acr=result.acr,
        auth_time=result.auth_time,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
    g.idp_sso = session
    if interaction is not None:
        svc.interactions.update(interaction, login_session=session.key)
        response = redirect(url_for("oidc.resume", i=interaction.id), code=303)
    else:
        # A console page that sent the browser to sign in gets it back (local paths only).
        response = redirect(pop_return() or url_for("auth.home"), code=303)
    rotate_csrf_secret()
    set_session_cookie(response, session_id, persistent=persistent)
    if device_cookie:
        set_device_cookie(response, device_cookie)
    return response


def remember_record(result: AuthenticationResult) -> bool:
    """Keep the answer to "whose record" in the live session of the same account.

    No new session starts (issue 10 item 5): the factors were passed at this session's
    sign-in, and the choice only says whose record its tokens open at one practice
    (``result.portal_id``). So it can be switched without a password. False when the
    browser's session is not the one the flow was started from.
    """
    if not isinstance(result, AuthenticationResult):  # a typed seam, checked at run time too
        raise TypeError("remember_record takes an AuthenticationResult")
    session = current_session()
    if session is None or session.account_id != result.account_id or result.portal_id is None:
        return False
    svc = services()
    svc.sessions.choose_record(
        session, result.portal_id, result.acting_for or "self", now=svc.clock().timestamp()
    )
    return True


def record_chosen(result: AuthenticationResult, interaction_id: str | None) -> Response:
    """After the picker: remember the choice and resume the portal's request."""
    if not remember_record(result):
        return error_page("choose_record_expired", status=400)
    svc = services()
    interaction = svc.interactions.get(interaction_id) if interaction_id else None
    if interaction is None:
        return redirect(url_for("auth.home"), code=303)
    # Answered for this request: prompt=select_account does not ask again on resume.
    svc.interactions.update(interaction, record_chosen=True)
    return redirect(url_for("oidc.resume", i=interaction.id), code=303)
