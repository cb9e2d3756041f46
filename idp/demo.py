"""Demo data and a demo portal, so a new user sees the whole journey in one command.

The demo portal is a separate tiny relying party (its own server on the next
port) that signs patients in through the provider exactly as a practice's
portal would: authorization code + PKCE S256, ID token, UserInfo, RP-initiated
logout. It is a public client, so no secret has to survive between runs.
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
    from idp.store.accounts import NewPerson
    from idp.store.candidates import index_person
    from idp.store.sql.repositories import NewClient

    client_id = f"{DEMO_CLIENT_ID}-{urlsplit(portal_url).port}"
    services = build_services(settings)
    now = datetime.now(UTC)
    with services.db.transaction() as uow:
        portal = uow.portals.by_slug(DEMO_PORTAL_SLUG) or uow.portals.add(
            slug=DEMO_PORTAL_SLUG, name="Demo Family Practice", now=now
        )
        if uow.clients.by_client_id(client_id) is None:
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


def create_demo_portal(*, issuer: str, client_id: str, portal_url: str) -> Any:
    """A minimal relying party built on Authlib's Flask client."""
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.flask_client import OAuth
    from flask import Flask, redirect, session, url_for
    from markupsafe import escape

    app = Flask("demo_portal")
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
        user = session.get("user")
        if not user:
            return page(f'<p><a id="signin" href="{url_for("login")}">Sign in</a></p>')
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
        session["user"] = user
        session["id_token"] = token.get("id_token")
        return redirect(url_for("index"))

    @app.get("/logout")
    def logout() -> Any:
        metadata = oauth.idp.load_server_metadata()
        hint = session.pop("id_token", None)
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
            "service. Other portals you opened keep their own sign-in until you sign "
            'out there.</p><p><a href="/">Home</a></p>'
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
