"""OpenID Connect Back-Channel Logout 1.0: the portals hear when a session ends.

A session remembers every client it gave a code to (``SSOSessionStore.note_client``).
When it ends, for whatever reason, each of those clients that registered a
``backchannel_logout_uri`` gets a signed logout token POSTed to it (§2.5). The POST
leaves from the outbox's ``task`` channel: queued in the transaction of the change
that ended the session, sent after the commit, retried with the outbox's backoff
while the portal is unreachable (§2.8: the OP should retry), never sent for a change
that rolled back.

The patient is told only what is true: the signed-out page lists as signed out only
the portals that answered 200 to their logout token; the others are "being signed
out" until they do (issue 14, item 1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from joserfc import jwt

from idp.notify import Notifier
from idp.notify.messages import PermanentFailure, TemporaryFailure
from idp.notify.sms import is_loopback_host
from idp.records import ClientRecord
from idp.store.interfaces import EphemeralStore
from idp.store.sessions import SSOSessionStore

from .keys import KeyRing
from .subject import subject_for

log = logging.getLogger("idp.backchannel")

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TASK = "backchannel_logout"
# §2.4: the token's own lifetime; the RP refuses an old one.
TOKEN_LIFETIME = 120
# One POST's budget: an RP that hangs must not hold the outbox worker for long.
POST_TIMEOUT = 5.0
# How long the signed-out page can show a notice's delivery status.
NOTICE_TTL = 900
MAX_URI = 2000


class BackchannelUriError(ValueError):
    pass


def check_backchannel_uri(uri: str) -> str:
    """§2.2: an absolute URI without a fragment; https, or http on loopback only."""
    parts = urlsplit(uri)
    if len(uri) > MAX_URI or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackchannelUriError("must be an absolute http(s) URI")
    if parts.fragment:
        raise BackchannelUriError("must not have a fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise BackchannelUriError("must use https (http is allowed only on loopback)")
    return uri


def session_sid(session_key: str) -> str:
    """The ``sid`` of an SSO session as portals see it (§2.1, Front-Channel §3).

    Derived from the session key, which is itself the SHA-256 of the cookie: stable
    for the session's life, and neither the cookie nor the store key can be got back.
    """
    return hashlib.sha256(f"sid|{session_key}".encode()).hexdigest()[:32]


def refresh_token_sid(session_key: str | None, scope: str) -> str | None:
    """The session a refresh token ends with, or None if it may outlive it.

    §2.7: refresh tokens issued without ``offline_access`` should be revoked when the
    session that issued them ends; ``offline_access`` is the patient's consent to
    access while they are away, so those stay until revoked or expired.
    """
    if session_key is None or "offline_access" in scope.split():
        return None
    return session_sid(session_key)


def logout_token_claims(
    *, issuer: str, client_id: str, subject: str | None, sid: str | None, now: int, jti: str
) -> dict[str, Any]:
    """§2.4: iss, aud, iat, exp, jti, events, and sub and/or sid; never a nonce."""
    if subject is None and sid is None:
        raise ValueError("a logout token names a subject, a session, or both")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": jti,
        "events": {LOGOUT_EVENT: {}},
    }
    if subject is not None:
        claims["sub"] = subject
    if sid is not None:
        claims["sid"] = sid
    return claims


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    """What the signed-out page may say: portals that confirmed, and the rest."""

    confirmed: tuple[str, ...]
    pending: tuple[str, ...]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A logout token goes to the registered URI only, never where a redirect points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_logout_token(uri: str, token: str, *, timeout: float = POST_TIMEOUT) -> None:
    """§2.5: POST ``logout_token`` form-encoded; 200/204 is success (§2.8).

    A 400 means the portal refused this token (it will refuse it again): permanent.
    Anything else, and a network failure, is worth a retry from the outbox.
    """
    body = urlencode({"logout_token": token}).encode()
    req = urllib.request.Request(
        uri,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"},
    )
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        raise TemporaryFailure(f"backchannel_unreachable {exc.__class__.__name__}") from exc
    if status in (200, 204):
        return
    if status == 400:
        raise PermanentFailure("backchannel_refused_400")
    raise TemporaryFailure(f"backchannel_status_{status}")


class PortalLogout:
    """Queues, delivers and reports back-channel logout tokens (``PortalSignOut``)."""

    def __init__(
        self,
        *,
        sessions: SSOSessionStore,
        notifier: Notifier,
        ephemeral: EphemeralStore,
        keys: KeyRing,
        issuer: str,
        clock_ts: Callable[[], float],
        find_client: Callable[[str], ClientRecord | None],
        post: Callable[[str, str], None] = post_logout_token,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._store = ephemeral
        self._keys = keys
        self._issuer = issuer
        self._now = clock_ts
        self._find_client = find_client
        self._post = post

    # --- queue (inside the change's transaction) ---------------------------------------

    def sessions_ending(
        self, uow: Any, *, subject: str, keys: Sequence[str] | None, now: datetime
    ) -> str | None:
        if keys is None:
            keys = [s.key for s in self._sessions.list_for(subject, now=now.timestamp())]
        portals: dict[str, str] = {}
        for key in keys:
            sid = session_sid(key)
            for client_id in sorted(self._sessions.clients_of(key)):
                client = uow.clients.by_client_id(client_id)
                if client is None or not client.backchannel_logout_uri:
                    continue
                portals.setdefault(client_id, client.name)
                self._notifier.task(
                    uow,
                    kind=LOGOUT_TASK,
                    payload={"client_id": client_id, "subject": subject, "sid": sid},
                    now=now,
                )
        if not portals:
            return None
        notice = secrets.token_urlsafe(16)
        self._store.put(f"bcl-notice:{notice}", json.dumps(portals), ttl=NOTICE_TTL)
        # Deliveries confirm against the session's sid; the notice maps them back.
        for key in keys:
            self._store.add_member(f"bcl-watch:{session_sid(key)}", notice, ttl=NOTICE_TTL)
        return notice

    # --- deliver (the outbox worker, after the commit) ---------------------------------

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """The ``backchannel_logout`` task: sign a fresh token and POST it."""
        client_id = payload.get("client_id")
        subject = payload.get("subject")
        sid = payload.get("sid")
        if not (
            isinstance(client_id, str)
            and isinstance(subject, str)
            and isinstance(sid, str)
            and client_id
            and subject
            and sid
        ):
            raise PermanentFailure("bad_payload")
        client = self._find_client(client_id)
        if client is None or not client.backchannel_logout_uri:
            raise PermanentFailure("client_gone")
        token = self.logout_token(client, subject=subject, sid=sid)
        self._post(client.backchannel_logout_uri, token)
        for notice in self._store.members(f"bcl-watch:{sid}"):
            self._store.add_member(f"bcl-ok:{notice}", client_id, ttl=NOTICE_TTL)
        log.info("back-channel logout confirmed by %s", client_id)

    def logout_token(self, client: ClientRecord, *, subject: str, sid: str) -> str:
        alg = client.id_token_signed_response_alg
        key = self._keys.signing_key(alg)
        claims = logout_token_claims(
            issuer=self._issuer,
            client_id=client.client_id,
            subject=subject_for(client, subject, salt=self._keys.pairwise_salt()),
            sid=sid,
            now=int(self._now()),
            jti=secrets.token_urlsafe(16),
        )
        # §2.4: "logout+jwt" keeps a logout token from passing for an ID token.
        header = {"alg": alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, self._keys.private_key_set(alg))

    # --- report (the signed-out page) --------------------------------------------------

    def status(self, notice: str) -> NoticeStatus | None:
        if not notice or len(notice) > 64:
            return None
        raw = self._store.get(f"bcl-notice:{notice}")
        if raw is None:
            return None
        portals: dict[str, str] = json.loads(raw)
        ok = self._store.members(f"bcl-ok:{notice}")
        return NoticeStatus(
            confirmed=tuple(sorted(name for cid, name in portals.items() if cid in ok)),
            pending=tuple(sorted(name for cid, name in portals.items() if cid not in ok)),
        )
