"""A portal's back-channel logout endpoint, for tests: a real HTTP server on loopback.

It checks each logout token as OpenID Connect Back-Channel Logout 1.0 §2.6 tells a
relying party to (signature against the provider's JWKS, ``iss``, ``aud``, ``iat``,
``jti`` never seen before, the logout event, ``sub`` or ``sid``, no ``nonce``) and
answers 200 for a valid one and 400 otherwise, recording both. ``fail_next`` makes it
answer 503 a number of times first (a portal that is down).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class Received:
    valid: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    answered_503: int = 0


class LogoutReceiver:
    def __init__(self, *, issuer: str, jwks: Callable[[], KeySet], clock: Callable[[], float]):
        self.issuer = issuer
        self._jwks = jwks
        self._clock = clock
        self.client_ids: set[str] = set()
        self.received = Received()
        self.fail_next = 0
        self._seen_jti: set[str] = set()
        self._lock = threading.Lock()
        self.url = ""

    def check(self, raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
        token = jwt.decode(raw, self._jwks())
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=10,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "values": sorted(self.client_ids)},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(claims)
        events = claims.get("events")
        if not isinstance(events, dict) or events.get(LOGOUT_EVENT) != {}:
            raise ValueError("no logout event")
        if "nonce" in claims:
            raise ValueError("a logout token must not have a nonce")
        if not claims.get("sub") and not claims.get("sid"):
            raise ValueError("neither sub nor sid")
        if claims["jti"] in self._seen_jti:
            raise ValueError("jti replayed")
        self._seen_jti.add(claims["jti"])
        return dict(token.header), dict(claims)

    def handle(self, body: bytes, content_type: str) -> int:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.received.answered_503 += 1
                return 503
            if not content_type.startswith("application/x-www-form-urlencoded"):
                self.received.refused.append("content_type")
                return 400
            values = parse_qs(body.decode(), strict_parsing=False).get("logout_token", [])
            if len(values) != 1:
                self.received.refused.append("no_token")
                return 400
            try:
                header, claims = self.check(values[0])
            except (JoseError, ValueError) as exc:
                self.received.refused.append(str(exc))
                return 400
            self.received.valid.append(claims)
            self.received.headers.append(header)
            return 200

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received.valid) >= count:
                break
            time.sleep(0.05)
        return list(self.received.valid)


@contextmanager
def logout_receiver(
    *, issuer: str, jwks: Callable[[], KeySet], clock: Callable[[], float] = time.time
) -> Iterator[LogoutReceiver]:
    receiver = LogoutReceiver(issuer=issuer, jwks=jwks, clock=clock)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            status = receiver.handle(self.rfile.read(length), self.headers.get("Content-Type", ""))
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
