"""The same request to the provider with the fast path (idp/web/fastpath.py) and to
the provider without it (``create_app(fast_path=False)``): are the answers the same?

Compared: the status line, every header in order (except Date and X-Request-ID), the
body byte for byte, and what the request left behind: the audit events it wrote
(with the request's IP and user agent) and the row counts of the tables a protocol
request may write. Tokens are random, so a token in a body is compared by its length
and place (and an ID token by its header and claims, times as a lifetime).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.records import ClientRecord
from idp.services import Services
from idp.store.sql import models
from idp.web.fastpath import ProtocolFastPath

from .conftest import ALL_SCOPES, Factory
from .helpers import MovableClock, OIDCActions, basic, row_counts

VOLATILE_HEADERS = frozenset({"date", "x-request-id"})
# A cookie's Expires is "now + Max-Age" to the second: two answers a second apart differ
# there and nowhere else (Max-Age, kept, carries the lifetime).
_COOKIE_EXPIRES = re.compile(r"(?i)(;\s*expires=)[^;]*")
# Audit details that name a grant family: random per prepared state.
VOLATILE_DETAILS = frozenset({"grant", "grant_id"})


@dataclass
class Sent:
    """A request for ``FlaskClient.open``."""

    method: str
    path: str
    kw: dict[str, Any] = field(default_factory=dict)
    # Sent as a Cookie header (the test client's jar replaces one given in ``headers``).
    cookies: dict[str, str] = field(default_factory=dict)


AGENT = "PortalBackend/2.1 (fast path equality)"
ADDRESS = "203.0.113.9"
REQUEST_ID = "fastpath-equality-0001"


@dataclass
class Env:
    oidc: OIDCActions
    factory: Factory
    services: Services
    clock: MovableClock | None
    rp: ClientRecord
    other: ClientRecord
    public: ClientRecord

    @classmethod
    def make(
        cls,
        oidc: OIDCActions,
        factory: Factory,
        services: Services,
        clock: MovableClock | None = None,
    ) -> Env:
        """An account and three clients: the portal, another portal, a public app."""
        factory.account()
        return cls(
            oidc=oidc,
            factory=factory,
            services=services,
            clock=clock,
            rp=factory.client(),
            other=factory.client(name="Other Portal"),
            public=factory.client(name="Public App", public=True),
        )

    def basic(self, client: ClientRecord | None = None) -> dict[str, str]:
        client = client or self.rp
        return basic(client.client_id, self.factory.secrets[client.client_id])

    def tokens(self, scope: str = ALL_SCOPES) -> dict[str, Any]:
        return self.oidc.tokens(self.rp, self.oidc.request(self.rp, scope=scope))

    def service_token(self, scope: str | None = None) -> str:
        data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = self.oidc.token(self.rp, data)
        assert response.status_code == 200, response.text
        return str(response.get_json()["access_token"])


def request(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    environ: dict[str, Any] | None = None,
    **kw: Any,
) -> Sent:
    """A request from a relying party's server: its own user agent and address."""
    return Sent(
        method,
        path,
        {
            # A fixed request id: the 500 page shows it.
            "headers": {"User-Agent": AGENT, "X-Request-ID": REQUEST_ID, **(headers or {})},
            "environ_base": {"REMOTE_ADDR": ADDRESS, **(environ or {})},
            **kw,
        },
    )


def with_cookie(sent: Sent) -> Sent:
    sent.cookies["idp_lang"] = "es"
    return sent


def post(path: str, data: Any = None, **kw: Any) -> Sent:
    return request("POST", path, data=data, **kw)


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    audit: list[dict[str, Any]]
    rows: dict[str, int]


def code_exchange(env: Env, **change: str) -> Sent:
    """A code for the test client redeemed with PKCE at /token (``change`` overrides fields)."""
    req = env.oidc.request(env.rp)
    code = env.oidc.code_for(req)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.redirect_uri,
        "code_verifier": req.verifier,
        **change,
    }
    return post("/token", data, headers=env.basic())


def fast_layer(app: Flask) -> ProtocolFastPath:
    layer: Any = app.wsgi_app
    while not isinstance(layer, ProtocolFastPath):
        layer = layer.app
    return layer


class FastPathSpy:
    """Counts the requests the fast path answered itself (not passed to Flask)."""

    def __init__(self, app: Flask) -> None:
        self.answered = 0
        layer = fast_layer(app)
        answer = layer._answer

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.answered += 1
            return answer(*args, **kwargs)

        layer._answer = counted  # type: ignore[method-assign]


def _jwt_part(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def normalized_body(body: bytes) -> bytes:
    """The body with each token replaced by a placeholder of what it must equal."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    for key in ("access_token", "refresh_token"):
        value = data.get(key)
        if isinstance(value, str) and value:
            body = body.replace(value.encode(), f"<{key} of {len(value)}>".encode())
    exp, iat = data.get("exp"), data.get("iat")
    if isinstance(exp, int) and isinstance(iat, int):
        # Introspection: the token's times, made a second or so apart for the two apps.
        body = body.replace(f'"exp": {exp}'.encode(), f'"exp": "<iat+{exp - iat}>"'.encode())
        body = body.replace(f'"iat": {iat}'.encode(), b'"iat": "<iat>"')
    id_token = data.get("id_token")
    if isinstance(id_token, str) and id_token.count(".") == 2:
        header, payload, signature = id_token.split(".")
        claims = _jwt_part(payload)
        claims.pop("at_hash", None)  # of the (random) access token
        if "nonce" in claims:
            claims["nonce"] = "<the request's nonce>"  # random per authorization request
        if "auth_time" in claims:
            claims["auth_time"] = "<the sign-in's time>"  # each app's state signs in anew
        claims["lifetime"] = claims.pop("exp") - claims.pop("iat")
        shown = json.dumps([_jwt_part(header), claims, len(signature)], sort_keys=True)
        body = body.replace(id_token.encode(), f"<id_token {shown}>".encode())
    return body


def _last_audit_id(services: Services) -> int:
    with services.db.session() as session:
        return int(session.scalar(select(func.max(models.AuditEvent.id))) or 0)


def _audit_since(services: Services, after: int) -> list[dict[str, Any]]:
    with services.db.session() as session:
        events = session.scalars(
            select(models.AuditEvent)
            .where(models.AuditEvent.id > after)
            .order_by(models.AuditEvent.id)
        ).all()
        return [
            {
                "type": e.type,
                "outcome": e.outcome,
                "actor": e.actor,
                "subject": e.subject,
                "client_id": e.client_id,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "details": {
                    k: v for k, v in (e.details or {}).items() if k not in VOLATILE_DETAILS
                },
            }
            for e in events
        ]


@dataclass(frozen=True)
class Outage:
    """A dependency taken down just for the request (``stop``) and back after it."""

    stop: Callable[[], None]
    start: Callable[[], None]


def answer(
    client: FlaskClient, services: Services, sent: Sent, outage: Outage | None = None
) -> Answer:
    for name, value in sent.cookies.items():
        client.set_cookie(name, value)
    last, before = _last_audit_id(services), row_counts(services)
    if outage is not None:
        outage.stop()
        try:
            response = client.open(sent.path, method=sent.method, **sent.kw)
        finally:
            outage.start()
    else:
        response = client.open(sent.path, method=sent.method, **sent.kw)
    after = row_counts(services)
    return Answer(
        status=response.status,
        headers=[
            (k, stable_header_value(k, v))
            for k, v in response.headers
            if k.lower() not in VOLATILE_HEADERS
        ],
        body=normalized_body(response.get_data()),
        audit=_audit_since(services, last),
        rows={name: after[name] - before[name] for name in after},
    )


def stable_header_value(name: str, value: str) -> str:
    """``value`` without what depends on the second it was made (a cookie's Expires)."""
    if name.lower() == "set-cookie":
        return _COOKIE_EXPIRES.sub(r"\1<expires>", value)
    return value


def assert_same_answer(
    *,
    fast_app: Flask,
    flask_app: Flask,
    services: Services,
    prepare: Callable[[], Sent],
    answered_fast: bool,
    check: Callable[[Answer], None] | None = None,
    outage: Outage | None = None,
) -> Answer:
    """``prepare`` makes the state and the request afresh for each app (tokens are
    single use); the fast path must have answered it itself iff ``answered_fast``.
    With ``outage``, the request is sent while that dependency is down."""
    reference = answer(flask_app.test_client(), services, prepare(), outage)
    sent = prepare()
    spy = FastPathSpy(fast_app)
    fast = answer(fast_app.test_client(), services, sent, outage)
    assert spy.answered == (1 if answered_fast else 0), "fast path use"
    assert fast.status == reference.status, (fast.body, reference.body)
    assert fast.headers == reference.headers
    assert fast.body == reference.body, (fast.body, reference.body)
    assert fast.audit == reference.audit
    assert fast.rows == reference.rows
    if check is not None:
        check(fast)
    return fast
