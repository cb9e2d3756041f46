"""A tiny relying-party portal: Flask + Authlib's Flask client, served on loopback.

It does what a practice's portal does and nothing more: send the patient to the
provider (code flow, PKCE S256, nonce), take the code back, validate the ID token
(Authlib fetches the JWKS), call userinfo, show who is signed in, log out through
the provider's ``end_session_endpoint``, and check silently (``prompt=none``)
whether the provider session is still alive.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, redirect, session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from tests.live import LiveClient

SCOPE = "openid profile email"


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"</head><body>{body}</body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def create_portal(
    label: str,
    *,
    base_url: str,
    issuer: str,
    client: LiveClient,
    scope: str = SCOPE,
    clock_offset: Callable[[], float] | None = None,
) -> Flask:
    """The portal app; ``base_url`` is where it is served (its redirect URIs hang off it).

    It shows the practice's patient id (``patient_id``) and the granted ``scope`` it
    received, and keeps the last token response in ``app.config["TOKENS"]`` for tests
    that refresh as the portal's back end would. ``clock_offset``: the seconds a test
    moved the provider's clock (IDP_TEST_CLOCK_FILE); the portal's clock agrees.
    """
    app = Flask(f"portal_{label.lower()}")
    app.config.update(
        SECRET_KEY=secrets.token_urlsafe(32),
        # Own cookie name: portals and provider share the loopback interface.
        SESSION_COOKIE_NAME=f"portal_{label.lower()}",
    )
    oauth = OAuth(app)
    idp = oauth.register(
        "idp",
        client_id=client.client_id,
        client_secret=client.client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256"},
    )
    app.config["TOKENS"] = []

    @app.get("/")
    def home() -> Response:
        user = session.get("user")
        if not user:
            return redirect("/login")  # type: ignore[return-value]
        return _page(
            f"Portal {label}",
            f"<h1>Portal {escape(label)}</h1>"
            f'<p>Signed in as <span id="name">{escape(user["name"])}</span> '
            f'(<span id="sub">{escape(user["sub"])}</span>)</p>'
            f'<p>Patient <span id="patient">{escape(user.get("patient_id") or "")}</span></p>'
            f'<p>Scope <span id="scope">{escape(user.get("scope") or "")}</span></p>'
            '<p><a id="logout" href="/logout">Sign out</a></p>',
        )

    @app.get("/login")
    def login() -> Response:
        return idp.authorize_redirect(f"{base_url}/callback")  # type: ignore[no-any-return]

    @app.get("/silent")
    def silent() -> Response:
        """Is the provider session still there? Ask without showing any page."""
        return idp.authorize_redirect(  # type: ignore[no-any-return]
            f"{base_url}/callback", prompt="none"
        )

    @app.get("/callback")
    def callback() -> Response:
        try:
            skew = abs(clock_offset()) if clock_offset else 0.0
            token = idp.authorize_access_token(leeway=int(skew) + 120)
        except OAuthError as exc:
            session.pop("user", None)
            return _page(
                f"Portal {label}: not signed in",
                f'<h1>Not signed in</h1><p id="error">{escape(exc.error or "")}</p>',
                status=401,
            )
        claims = token["userinfo"]  # the validated ID token's claims
        info = idp.userinfo(token=token)
        if info["sub"] != claims["sub"]:
            return _page("Mismatch", "<p id='error'>userinfo sub mismatch</p>", status=502)
        tokens: list[dict[str, Any]] = app.config["TOKENS"]
        tokens.append(dict(token))
        session["user"] = {
            "sub": claims["sub"],
            "name": info.get("name", ""),
            "patient_id": claims.get("patient_id"),
            "scope": token.get("scope", ""),
        }
        session["id_token"] = token["id_token"]
        return redirect("/")  # type: ignore[return-value]

    @app.get("/logout")
    def logout() -> Response:
        """RP-initiated logout: forget the user here, then end the provider session."""
        id_token = session.pop("id_token", None)
        session.pop("user", None)
        return idp.logout_redirect(  # type: ignore[no-any-return]
            post_logout_redirect_uri=f"{base_url}/signed-out", id_token_hint=id_token
        )

    @app.get("/signed-out")
    def signed_out() -> Response:
        try:
            idp.validate_logout_response()  # the state we sent came back
        except OAuthError as exc:
            return _page("Bad logout", f"<p id='error'>{escape(str(exc))}</p>", status=400)
        return _page(
            f"Portal {label}: signed out",
            f'<h1 id="signed-out">You are signed out of Portal {escape(label)}</h1>',
        )

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    return app


@dataclass
class PortalServer:
    """A werkzeug server in a thread; closed by :meth:`stop`."""

    label: str
    host: str
    port: int
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(WSGIRequestHandler):
    """No access log: callback URLs carry authorization codes."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def reserve_server(host: str) -> BaseWSGIServer:
    """Bind first (port 0), so the portal's redirect URIs can name the real port."""
    placeholder = Flask("placeholder")
    return make_server(host, 0, placeholder, threaded=True, request_handler=_QuietHandler)


def serve(label: str, server: BaseWSGIServer, app: Flask) -> PortalServer:
    server.app = app
    thread = threading.Thread(target=server.serve_forever, name=f"portal-{label}", daemon=True)
    thread.start()
    return PortalServer(label, server.host, server.port, server, thread)
