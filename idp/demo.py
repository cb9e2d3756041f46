"""Demo data and a demo portal, so a new user sees the whole journey in one command.

The demo portal is a separate tiny relying party (its own server on the next
port) that signs patients in through the provider exactly as a practice's
portal would: authorization code + PKCE S256, ID token, UserInfo, RP-initiated
logout, and Back-Channel Logout 1.0 (it ends its own session when the provider
tells it the patient signed out elsewhere). It is a public client, so no secret has
to survive between runs.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from idp.settings import Settings

DEMO_PORTAL_SLUG = "demo-family-practice"
DEMO_CLIENT_ID = "demo-portal"
DEMO_USERNAME = "demo.patient"
# Long enough for the NIST default policy (15+ characters when single-factor).
DEMO_PASSWORD = "violet-harbor-lantern-42"


def seed_demo(settings: Settings, *, portal_url: str) -> str:
    """Create (idempotently) the demo practice, its client and a demo patient.

    The client id names the portal's port, so each demo address has its own
    client with exactly its redirect URI. Returns that client id.
    """
    from urllib.parse import urlsplit

    from idp.app import build_services
    from idp.store.sql.candidates import index_person
    from idp.store.sql.repositories import NewClient, NewPerson

    client_id = f"{DEMO_CLIENT_ID}-{urlsplit(portal_url).port}"
    services = build_services(settings)
    now = datetime.now(UTC)
    with services.db.transaction() as uow:
        portal = uow.portals.by_slug(DEMO_PORTAL_SLUG) or uow.portals.add(
            slug=DEMO_PORTAL_SLUG, name="Demo Family Practice", now=now
        )
        backchannel = f"{portal_url}/backchannel-logout"
        existing = uow.clients.by_client_id(client_id)
        if existing is not None and existing.backchannel_logout_uri != backchannel:
            # A demo instance made before back-channel logout: register the endpoint.
            uow.clients.set_backchannel_logout(client_id, uri=backchannel, session_required=True)
        if existing is None:
            uow.clients.add(
                NewClient(
                    client_id=client_id,
                    name="Demo Patient Portal",
                    redirect_uris=[f"{portal_url}/callback"],
                    post_logout_redirect_uris=[f"{portal_url}/signed-out"],
                    scope="openid profile email phone address",
                    grant_types=["authorization_code", "refresh_token"],
                    token_endpoint_auth_method="none",
                    portal_id=portal.id,
                    backchannel_logout_uri=backchannel,
                    backchannel_logout_session_required=True,
                ),
                secret_hash=None,
                now=now,
            )
        if uow.accounts.by_username(DEMO_USERNAME) is None:
            account = uow.accounts.add(
                username=DEMO_USERNAME,
                password_hash=services.hashing.hash(DEMO_PASSWORD),
                email="demo.patient@example.test",
                email_verified=True,
                now=now,
                person=NewPerson(
                    first_name="Dana",
                    last_name="Rivera",
                    dob=date(1984, 3, 9),
                    zip="02139",
                    gender="female",
                    email="demo.patient@example.test",
                ),
            )
            if account.person is not None:
                index_person(
                    uow, account.person.id, account.person, settings.secret_key, fresh=True
                )
    services.close()
    return client_id


class PortalSessions:
    """The demo portal's own sessions, kept server-side so the provider can end them.

    A cookie-only session cannot be ended from outside; a back-channel logout token
    names the provider's session (``sid``) or the patient (``sub``), and every portal
    session signed in under it ends here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._seen_jti: set[str] = set()

    def open(self, data: dict[str, Any]) -> str:
        key = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[key] = data
        return key

    def get(self, key: str | None) -> dict[str, Any] | None:
        with self._lock:
            return self._sessions.get(key or "")

    def end(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)

    def end_matching(self, *, sid: str | None, sub: str | None, jti: str) -> int | None:
        """End the sessions a logout token names; None if its ``jti`` was seen before."""
        with self._lock:
            if jti in self._seen_jti:
                return None
            self._seen_jti.add(jti)
            ended = [
                k
                for k, v in self._sessions.items()
                if (sid is not None and v.get("sid") == sid)
                or (sid is None and sub is not None and v.get("sub") == sub)
            ]
            for key in ended:
                del self._sessions[key]
            return len(ended)


LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def create_demo_portal(*, issuer: str, client_id: str, portal_url: str) -> Any:
    """A minimal relying party built on Authlib's Flask client."""
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.flask_client import OAuth
    from flask import Flask, redirect, request, session, url_for
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet
    from markupsafe import escape

    app = Flask("demo_portal")
    sessions = PortalSessions()
    app.extensions["demo_portal_sessions"] = sessions
    app.secret_key = secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_NAME"] = "demo_portal"
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=client_id,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "none",
        },
    )

    def page(body: str) -> str:
        return (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>Demo Portal</title>"
            f"<h1>Demo Family Practice portal</h1>{body}</html>"
        )

    @app.get("/")
    def index() -> str:
        current = sessions.get(session.get("portal_session"))
        user = current["user"] if current else None
        if not user:
            ended = ""
            if session.pop("portal_session", None):
                ended = (
                    "<p id=ended-by-provider>You were signed out of this portal because you "
                    "signed out at the sign-in service.</p>"
                )
            return page(f'{ended}<p><a id="signin" href="{url_for("login")}">Sign in</a></p>')
        items = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in sorted(user.items()))
        return page(
            f"<p id=welcome>Welcome, {escape(user.get('name', user['sub']))}</p>"
            f"<ul>{items}</ul><p><a id=signout href='{url_for('logout')}'>Sign out</a> "
            "(of this portal and of the sign-in service)</p>"
        )

    @app.get("/login")
    def login() -> Any:
        return oauth.idp.authorize_redirect(f"{portal_url}/callback")

    @app.get("/callback")
    def callback() -> Any:
        """The provider's answer: a code, or an error (RFC 6749 §4.1.2.1) shown as a page.

        "Don't allow" on the consent page comes back as ``error=access_denied``; like
        a wrong ``state`` or a failed token request, it gets a page that says what
        happened, never a 500.
        """
        try:
            token = oauth.idp.authorize_access_token()
            user = dict(oauth.idp.userinfo(token=token))
        except OAuthError as exc:
            home = f'<p><a href="{url_for("index")}">Back to the portal</a></p>'
            if exc.error == "access_denied":
                return page(
                    "<p id=denied>You chose not to share your information with this "
                    "portal, so you are not signed in here. You can sign in again at "
                    f"any time.</p>{home}"
                )
            return page(
                "<p id=signin-failed>Sign-in did not complete "
                f"(<code>{escape(exc.error or 'error')}</code>). Please try again.</p>{home}"
            ), 400
        claims = token.get("userinfo") or {}
        session["portal_session"] = sessions.open(
            {
                "user": user,
                "id_token": token.get("id_token"),
                "sid": claims.get("sid"),
                "sub": claims.get("sub"),
            }
        )
        return redirect(url_for("index"))

    @app.post("/backchannel-logout")
    def backchannel_logout() -> Any:
        """Back-Channel Logout 1.0 §2.6: validate the logout token, end what it names."""
        headers = {"Cache-Control": "no-store"}
        raw = request.form.get("logout_token", "")
        try:
            keys = KeySet.import_key_set(oauth.idp.fetch_jwk_set())
            token = jwt.decode(raw, keys)
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": client_id},
                iat={"essential": True},
                jti={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError):
            return ("", 400, headers)
        claims = token.claims
        events = claims.get("events")
        if (
            not isinstance(events, dict)
            or events.get(LOGOUT_EVENT) != {}
            or "nonce" in claims
            or not (claims.get("sid") or claims.get("sub"))
        ):
            return ("", 400, headers)
        ended = sessions.end_matching(
            sid=claims.get("sid"), sub=claims.get("sub"), jti=str(claims["jti"])
        )
        if ended is None:  # the same token twice
            return ("", 400, headers)
        return ("", 200, headers)

    @app.get("/logout")
    def logout() -> Any:
        metadata = oauth.idp.load_server_metadata()
        current = sessions.get(session.get("portal_session"))
        hint = current["id_token"] if current else None
        sessions.end(session.get("portal_session"))
        session.clear()
        from authlib.common.urls import add_params_to_uri

        return redirect(
            add_params_to_uri(
                metadata["end_session_endpoint"],
                {
                    "id_token_hint": hint or "",
                    "post_logout_redirect_uri": f"{portal_url}/signed-out",
                    "state": secrets.token_urlsafe(8),
                },
            )
        )

    @app.get("/signed-out")
    def signed_out() -> str:
        return page(
            "<p id=signedout>You are signed out of this portal and of the sign-in "
            "service. Other portals that take sign-out notices from the sign-in service "
            "end their sessions too; any other keeps its own sign-in until you sign out "
            'there.</p><p><a href="/">Home</a></p>'
        )

    return app


def run_demo(
    settings: Settings, *, host: str, port: int, serve: Callable[[Settings], None]
) -> None:
    from werkzeug.serving import make_server

    from idp.access_log import RedactingRequestHandler

    portal_url = f"http://{host}:{port + 1}"
    client_id = seed_demo(settings, portal_url=portal_url)
    portal = create_demo_portal(issuer=settings.issuer, client_id=client_id, portal_url=portal_url)
    # The portal's callback URL carries the authorization code: log it redacted.
    server = make_server(
        host, port + 1, portal, threaded=True, request_handler=RedactingRequestHandler
    )
    threading.Thread(target=server.serve_forever, name="demo-portal", daemon=True).start()
    print(
        "\n".join(
            [
                "",
                f"  Provider:     {settings.issuer}",
                f"  Demo portal:  {portal_url}   (open this and click Sign in)",
                f"  Demo patient: user ID {DEMO_USERNAME}  password {DEMO_PASSWORD}",
                "",
            ]
        ),
        flush=True,
    )
    serve(settings)
