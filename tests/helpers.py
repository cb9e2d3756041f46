"""Test helpers that act like a relying party and a patient's browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.services import Services
from idp.store.sql import models

if TYPE_CHECKING:
    from .conftest import Factory

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def strip_csrf(html: str) -> str:
    return CSRF_RE.sub('name="csrf_token" value=""', html)


MESSAGE_ID_RE = re.compile(r'data-message-id="([^"]+)"')


def message_ids(html: str) -> list[str]:
    """The stable message IDs a page shows (templates mark them with data-message-id)."""
    return MESSAGE_ID_RE.findall(html)


def assert_error_page(response: TestResponse, message_id: str, status: int = 400) -> None:
    """An error shown to the user: the given status and message, and never a redirect."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert "Location" not in response.headers
    assert message_ids(response.text) == [message_id], response.text[:500]


def assert_error_redirect(
    response: TestResponse, redirect_uri: str, error: str, *, state: str | None = None
) -> dict[str, str]:
    """An OAuth error sent back to the client's redirect URI (RFC 6749 §4.1.2.1)."""
    assert response.status_code == 302, (response.status_code, response.text[:500])
    location = response.headers["Location"]
    assert location.split("?", 1)[0] == redirect_uri, location
    params = query(location)
    assert params.get("error") == error, params
    assert "code" not in params
    if state is not None:
        assert params.get("state") == state, params
    return params


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (for looking at times a verifier would reject)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class MovableClock:
    """Wall-clock time plus an offset that tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def row_counts(services: Services) -> dict[str, int]:
    """How many rows the tables a protocol request may write hold right now."""
    tables = {
        "refresh_tokens": models.RefreshToken,
        "audit_events": models.AuditEvent,
        "consents": models.Consent,
        "accounts": models.Account,
        "clients": models.Client,
    }
    with services.db.session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }


def audit_types(services: Services) -> list[str]:
    with services.db.transaction() as uow:
        return [event.type for event in uow.audit.tail(500)]


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

    # --- discovery and keys ---

    def discovery(self) -> dict[str, Any]:
        response = self.client.get("/.well-known/openid-configuration")
        assert response.status_code == 200, response.text
        return response.get_json()  # type: ignore[no-any-return]

    def issuer(self) -> str:
        return str(self.discovery()["issuer"])

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(self.client.get("/jwks.json").get_json())

    def id_token(self, id_token: str, rp_client: Any, *, nonce: str | None = None) -> Any:
        """Verify an ID token as a relying party would; return the decoded token."""
        token = jwt.decode(id_token, self.jwks())
        expected: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer()},
            "aud": {"essential": True, "value": rp_client.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
        }
        if nonce is not None:
            expected["nonce"] = {"essential": True, "value": nonce}
        # The relying party's clock agrees with the provider's (tests may move it).
        now = int(self.factory.services.clock().timestamp())
        jwt.JWTClaimsRegistry(now=now, leeway=5, **expected).validate(token.claims)
        return token

    # --- browser ---

    def sign_in(self, username: str = "alice", password: str | None = None) -> TestResponse:
        """Sign in on the provider's own login page, outside any authorization request."""
        response = self.login("/login", username=username, password=password)
        assert response.status_code == 303, response.text
        return response

    def session_cookie(self) -> str | None:
        cookie = self.client.get_cookie("idp_session")
        return None if cookie is None else cookie.value

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

    def refresh(self, rp_client: Any, refresh_token: str, **kw: Any) -> TestResponse:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        data.update(kw.pop("extra", {}))
        return self.token(rp_client, data, **kw)

    def userinfo(self, access_token: str, *, how: str = "get") -> TestResponse:
        """Call UserInfo: "get" or "post" with the Authorization header, "body" in the form."""
        if how == "get":
            return self.client.get("/userinfo", headers=bearer(access_token))
        if how == "post":
            return self.client.post("/userinfo", headers=bearer(access_token))
        return self.client.post("/userinfo", data={"access_token": access_token})

    def _client_auth(
        self, rp_client: Any, data: dict[str, str], auth: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        secret = self.factory.secrets.get(rp_client.client_id)
        data = dict(data)
        headers: dict[str, str] = {}
        if auth == "basic" and secret:
            headers = basic(rp_client.client_id, secret)
        elif auth == "post" and secret:
            data.update(client_id=rp_client.client_id, client_secret=secret)
        else:
            data["client_id"] = rp_client.client_id
        return data, headers

    def revoke(
        self, rp_client: Any, token: str, *, hint: str | None = None, auth: str = "basic"
    ) -> TestResponse:
        data = {"token": token}
        if hint:
            data["token_type_hint"] = hint
        data, headers = self._client_auth(rp_client, data, auth)
        return self.client.post("/revoke", data=data, headers=headers)

    def introspect(
        self, rp_client: Any, token: str, *, hint: str | None = None, auth: str = "basic"
    ) -> TestResponse:
        data = {"token": token}
        if hint:
            data["token_type_hint"] = hint
        data, headers = self._client_auth(rp_client, data, auth)
        return self.client.post("/introspect", data=data, headers=headers)


class _FormValues(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("hidden", "submit"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = a.get("value", "on")
            else:
                self.values[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select = name
            self.values[name] = ""
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, str]:
    """What a page's visible form fields hold, as the browser would send them (text
    inputs' values, selected options, checked boxes): to test that a refused form keeps
    what was typed."""
    parser = _FormValues()
    parser.feed(html)
    return parser.values
