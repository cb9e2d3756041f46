"""Test helpers that act like a relying party and a patient's browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

if TYPE_CHECKING:
    from .conftest import Factory

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def strip_csrf(html: str) -> str:
    return CSRF_RE.sub('name="csrf_token" value=""', html)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class AuthRequest:
    """One authorization request as a relying party would make it."""

    client_id: str
    redirect_uri: str
    scope: str = "openid profile email"
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))
    nonce: str | None = field(default_factory=lambda: secrets.token_urlsafe(8))
    verifier: str = ""
    challenge: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.verifier:
            self.verifier, self.challenge = pkce_pair()

    def params(self) -> dict[str, str]:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        if self.nonce:
            params["nonce"] = self.nonce
        params.update(self.extra)
        return {k: v for k, v in params.items() if v is not None}


class OIDCActions:
    """Drive the provider's pages and endpoints the way a browser and an RP do."""

    def __init__(self, client: FlaskClient, factory: Factory) -> None:
        self.client = client
        self.factory = factory

    def request(self, rp_client: Any, **kw: Any) -> AuthRequest:
        return AuthRequest(
            client_id=rp_client.client_id, redirect_uri=rp_client.redirect_uris[0], **kw
        )

    def authorize(self, req: AuthRequest, *, method: str = "GET") -> TestResponse:
        if method == "POST":
            return self.client.post("/authorize", data=req.params())
        return self.client.get("/authorize", query_string=req.params())

    def login(
        self, location: str, username: str = "alice", password: str | None = None
    ) -> TestResponse:
        from .conftest import PASSWORD

        page = self.client.get(location)
        assert page.status_code == 200, page.text
        interaction = query(location).get("i")
        data = {
            "username": username,
            "password": PASSWORD if password is None else password,
            "csrf_token": csrf_token(page.text),
        }
        if interaction:
            data["i"] = interaction
        return self.client.post("/login", data=data)

    def consent(self, location: str, decision: str = "allow") -> TestResponse:
        page = self.client.get(location)
        assert page.status_code == 200, page.text
        return self.client.post(
            "/consent",
            data={
                "decision": decision,
                "csrf_token": csrf_token(page.text),
                "i": query(location)["i"],
            },
        )

    def follow_to_redirect(
        self,
        response: TestResponse,
        *,
        login: bool = True,
        consent: bool = True,
        username: str = "alice",
        password: str | None = None,
    ) -> TestResponse:
        """Follow provider-internal redirects, signing in and consenting when asked."""
        for _ in range(8):
            location = response.headers.get("Location", "")
            if response.status_code not in (302, 303) or location.startswith("http"):
                return response
            if location.startswith("/login") and login:
                response = self.login(location, username=username, password=password)
            elif location.startswith("/consent") and consent:
                response = self.consent(location)
            elif location.startswith("/login") or location.startswith("/consent"):
                return response
            else:
                response = self.client.get(location)
        raise AssertionError("too many redirects")

    def code_for(self, req: AuthRequest, **kw: Any) -> str:
        response = self.follow_to_redirect(self.authorize(req), **kw)
        assert response.status_code == 302, response.text
        params = query(response.headers["Location"])
        assert "code" in params, params
        assert params["state"] == req.state
        return params["code"]

    def token(self, rp_client: Any, data: dict[str, str], *, auth: str = "basic") -> TestResponse:
        secret = self.factory.secrets.get(rp_client.client_id)
        headers: dict[str, str] = {}
        data = dict(data)
        if auth == "basic" and secret:
            headers = basic(rp_client.client_id, secret)
        elif auth == "post" and secret:
            data.update(client_id=rp_client.client_id, client_secret=secret)
        else:
            data.setdefault("client_id", rp_client.client_id)
        return self.client.post("/token", data=data, headers=headers)

    def exchange(self, rp_client: Any, req: AuthRequest, code: str, **kw: Any) -> TestResponse:
        return self.token(
            rp_client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": req.redirect_uri,
                "code_verifier": req.verifier,
            },
            **kw,
        )

    def tokens(self, rp_client: Any, req: AuthRequest | None = None, **kw: Any) -> dict[str, Any]:
        """Complete sign-in and code exchange; return the token response JSON."""
        req = req or self.request(rp_client)
        code = self.code_for(req, **kw)
        response = self.exchange(rp_client, req, code)
        assert response.status_code == 200, response.text
        return response.get_json()  # type: ignore[no-any-return]
