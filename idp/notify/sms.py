"""SMS delivery behind a small interface, and a signed HTTPS webhook any gateway can sit behind.

The webhook POSTs ``application/json``::

    {"to": "+16175550123", "body": "…", "message_id": "<…@host>", "timestamp": 1764000000}

with ``X-IDP-Timestamp: 1764000000`` and ``X-IDP-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw request body under the shared secret. The timestamp is
inside the signed body, so a receiver can refuse stale replays
(:func:`verify_webhook_signature`); ``message_id`` is the idempotency key that
lets it drop a retry of a message it already sent.

2xx is delivered; 408, 429 and 5xx, timeouts and network errors are temporary;
any other status (including a redirect, which is never followed: it would
carry the body and signature to another host) is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import urlsplit

from .messages import Message, PermanentFailure, TemporaryFailure

SIGNATURE_HEADER = "X-IDP-Signature"
TIMESTAMP_HEADER = "X-IDP-Timestamp"
MIN_SECRET_BYTES = 32
_RETRY_STATUSES = {408, 425, 429}


class SmsSender(Protocol):
    """Sends one text to an E.164 number, or raises a ``DeliveryError``."""

    def send(self, message: Message) -> None: ...


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str:
    """https only, except plain http to a loopback gateway (tests, a local relay)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ValueError("the SMS webhook URL must use https (http only for 127.0.0.1 or localhost)")


def sign_webhook_body(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    secret: bytes, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """What a receiver checks: the signature (in constant time) and a fresh timestamp."""
    if not hmac.compare_digest(sign_webhook_body(secret, body), signature):
        return False
    try:
        sent = float(json.loads(body)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return False
    return abs(now - sent) <= tolerance


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class WebhookSmsSender:
    def __init__(self, url: str, *, secret: bytes | str, timeout: float = 10.0) -> None:
        self.url = check_webhook_url(url)
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"the SMS webhook secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = key
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    def request(self, message: Message, *, now: float | None = None) -> urllib.request.Request:
        timestamp = int(time.time() if now is None else now)
        body = json.dumps(
            {
                "to": message.recipient,
                "body": message.text,
                "message_id": message.message_id,
                "timestamp": timestamp,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        return urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "idp-sms-webhook/1",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign_webhook_body(self._secret, body),
            },
        )

    def send(self, message: Message) -> None:
        try:
            with self._opener.open(self.request(message), timeout=self._timeout) as response:
                response.read(64 * 1024)  # drain, so the connection closes cleanly
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status >= 500 or status in _RETRY_STATUSES:
                raise TemporaryFailure(f"http {status}") from None
            raise PermanentFailure(f"http {status}") from None
        except (urllib.error.URLError, OSError) as exc:
            # Refused, reset, DNS, TLS or a timeout: the gateway may be back later.
            reason = getattr(exc, "reason", exc)
            raise TemporaryFailure(f"connection_error {reason.__class__.__name__}") from None
