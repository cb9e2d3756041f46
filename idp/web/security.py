"""Browser-facing protections: headers, the SSO cookie, CSRF, flask-login."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g
from flask import session as flask_session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect, generate_csrf
from werkzeug.wrappers import Response as BaseResponse

from idp.flows.devices import DEVICE_COOKIE
from idp.records import AccountRecord
from idp.store.sessions import SSOSession

from .deps import SESSION_COOKIE, current_session, services

csrf = CSRFProtect()
# Where Flask-WTF keeps the per-browser CSRF secret (WTF_CSRF_FIELD_NAME, default), in
# the Flask session and cached on ``g`` for the request.
CSRF_SESSION_KEY = "csrf_token"
login_manager = LoginManager()

# No inline script or style anywhere; pages cannot be framed (clickjacking on the
# consent page would let another site approve access). No form-action directive:
# browsers apply it to the redirect after a form post, which goes to the portal.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class SignedInUser(UserMixin):  # type: ignore[misc]
    """flask-login's view of the SSO session (state lives server-side, not in the cookie)."""

    def __init__(self, session: SSOSession, account: AccountRecord) -> None:
        self.session = session
        self.account = account

    def get_id(self) -> str:
        return self.account.subject


def _load_from_sso_cookie(_request: Any) -> SignedInUser | None:
    session = current_session()
    if session is None:
        return None
    with services().db.transaction() as uow:
        account = uow.accounts.by_id(session.account_id)
    if account is None or not account.is_active:
        return None
    return SignedInUser(session, account)


def set_session_cookie(
    response: BaseResponse, session_id: str, *, persistent: bool = False
) -> None:
    """The SSO cookie: gone when the browser closes, unless the patient asked to stay
    signed in on this device (then it lasts as long as the session may, the absolute
    timeout). On a shared computer a persistent cookie would hand the next person in
    every portal; the server-side session still has its idle and absolute timeouts."""
    settings = services().settings
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.session.absolute_timeout if persistent else None,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="Lax",
        path="/",
    )


def set_device_cookie(response: BaseResponse, value: str) -> None:
    """The lockout's device cookie (idp/flows/devices.py): proof of an earlier sign-in.

    HttpOnly and SameSite=Lax like the session cookie; it outlives sessions (signing
    out does not make a browser a stranger) and is replaced at every sign-in.
    """
    svc = services()
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=svc.devices.max_age,
        httponly=True,
        secure=svc.settings.secure_cookies,
        samesite="Lax",
        path="/",
    )


def rotate_csrf_secret() -> None:
    """Forget the browser's CSRF secret (Flask-WTF keeps it in the Flask session),
    so that tokens handed out before sign-in are worthless after it, the same way
    the SSO session id is new at every sign-in (ASVS 3.2.1)."""
    flask_session.pop(CSRF_SESSION_KEY, None)
    g.pop(CSRF_SESSION_KEY, None)
    # A new secret at once, so the browser keeps its CSRF cookie (an emptied Flask
    # session would be deleted, and pages opened in other tabs would fail twice).
    generate_csrf()


def clear_session_cookie(response: Response) -> None:
    settings = services().settings
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=settings.secure_cookies, samesite="Lax"
    )


# Set on every response (idp/web/prebuilt.py adds the same to the documents it
# answers before Flask): never sniffed, never framed, no Referer leaving a page.
FIXED_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
# Behind HTTPS only (secure cookies): browsers remember to use HTTPS for a year.
HSTS_HEADER = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def added_security_headers(*, secure: bool) -> list[tuple[str, str]]:
    """What :func:`_security_headers` adds, in its order, to a response that sets
    none of these itself and has its own Cache-Control (a prebuilt document)."""
    headers = [("Content-Security-Policy", CONTENT_SECURITY_POLICY), *FIXED_SECURITY_HEADERS]
    if secure:
        headers.append(HSTS_HEADER)
    return headers


def apply_security_headers(response: BaseResponse, *, secure: bool) -> None:
    """The headers every response gets (idp/web/fastpath.py applies them to the
    protocol answers it makes without Flask, through this same function)."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    for name, value in FIXED_SECURITY_HEADERS:
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    if secure:
        response.headers[HSTS_HEADER[0]] = HSTS_HEADER[1]


def _security_headers(response: Response) -> Response:
    apply_security_headers(response, secure=services().settings.secure_cookies)
    if g.get("idp_clear_cookie"):
        clear_session_cookie(response)
    return response


class LazyCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without its cost on requests that carry none.

    Flask builds the itsdangerous signer on every request and, once anything has
    looked at the (empty) session, adds ``Vary: Cookie`` to the response: a fifth of
    a discovery or token request's time (issue 12). A request without the cookie
    gets an empty session at once, and an empty, unmodified session of such a
    request writes nothing. Anything else is Flask's behaviour unchanged.
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> Any:
        """Flask's serializer, built once per secret key (and fallbacks) instead of on
        every request that carries the cookie: 1.3 % of a sign-in's CPU (issue 12
        item 3). A new key (or fallback list) builds a new one."""
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]

    _serializer: tuple[Any, Any] | None = None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if not session and not session.modified:
            from flask import request

            if not request.cookies.get(self.get_cookie_name(app)):
                return
        super().save_session(app, session, response)


def init_security(app: Flask) -> None:
    app.session_interface = LazyCookieSessions()
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.request_loader(_load_from_sso_cookie)
    app.after_request(_security_headers)


FLOW_BINDING_KEY = "idp_flow_binding"


def flow_binding() -> str:
    """A value only this browser can present, for binding server-side flows to it.

    A random secret kept in the signed Flask session cookie; flows store its hash, so
    a flow id seen elsewhere (a log, a shared link) is useless in another browser.
    """
    import hashlib
    import secrets

    secret = flask_session.get(FLOW_BINDING_KEY)
    if not isinstance(secret, str) or len(secret) < 32:
        secret = secrets.token_urlsafe(32)
        flask_session[FLOW_BINDING_KEY] = secret
    return hashlib.sha256(secret.encode("ascii")).hexdigest()
