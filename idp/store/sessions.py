"""SSO sessions: one browser's signed-in state, shared by every client.

The browser holds only a random 256-bit session id (cookie); the server keeps
the state in the ephemeral store under the id's SHA-256, so a leaked store dump
holds no usable cookie and "log out" really ends the session server-side
(ASVS 7.4.1) in every process at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, fields, replace

from idp.policies.session import SessionFacts, SessionRules, SessionState, decide_session
from idp.store.interfaces import EphemeralStore
from idp.store.linked import Link

# Touch the idle timer at most this often; every request rewriting the session
# would turn each page view into a store write.
TOUCH_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class SSOSession:
    key: str  # sha256 of the cookie value: safe to log and to put in audit events
    account_id: int
    subject: str
    auth_time: int
    created_at: float
    last_seen_at: float
    amr: tuple[str, ...] = ("pwd",)
    ip: str | None = None
    user_agent: str | None = None
    # Set when a second factor was used (idp.flows.authn.result.ACR_MFA).
    acr: str | None = None


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


# The marker "this account's sessions created before <time> are void" (end_all_for),
# and the link that reads it with the session (the session's ``subject`` names it).
REVOKED_BEFORE = "sso-revoked-before:"
_REVOKED_LINK: tuple[Link] = (("subject", REVOKED_BEFORE),)

# Field names, read once: ``dataclasses.asdict`` deep-copies every value for json.dumps
# to read (issue 12 item 3).
_FIELDS = tuple(f.name for f in fields(SSOSession))


class SSOSessionStore:
    def __init__(self, store: EphemeralStore, rules: SessionRules) -> None:
        self._store = store
        self._rules = rules

    def _put(self, session: SSOSession, now: float) -> None:
        remaining_absolute = session.created_at + self._rules.absolute_timeout - now
        ttl = max(1.0, min(float(self._rules.idle_timeout), remaining_absolute))
        data = {name: getattr(session, name) for name in _FIELDS}
        data["amr"] = list(session.amr)
        self._store.put(f"sso:{session.key}", json.dumps(data), ttl=ttl)

    def start(
        self,
        *,
        account_id: int,
        subject: str,
        now: float,
        amr: tuple[str, ...] = ("pwd",),
        acr: str | None = None,
        auth_time: int | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, SSOSession]:
        """Create a new session; returns the cookie value and the session.

        Always a new id (session fixation, ASVS 7.2.4); the caller ends the old one.
        Called by ``idp.web.session_issuer`` only (``tests/unit/test_layering.py``).
        """
        session_id = secrets.token_urlsafe(32)
        session = SSOSession(
            key=session_key(session_id),
            account_id=account_id,
            subject=subject,
            auth_time=int(now) if auth_time is None else auth_time,
            created_at=now,
            last_seen_at=now,
            amr=amr,
            acr=acr,
            ip=ip,
            user_agent=(user_agent or "")[:256] or None,
        )
        self._put(session, now)
        self._store.add_member(
            f"sso-index:{subject}", session.key, ttl=float(self._rules.absolute_timeout)
        )
        return session_id, session

    def resume(self, session_id: str, *, now: float) -> SSOSession | None:
        """The live session for a cookie value, or None; ends it if a timeout passed."""
        if not session_id or len(session_id) > 128:
            return None
        key = session_key(session_id)
        # The session and its account's "ended before" marker in one round trip: every
        # request of a signed-in browser resumes its session (issue 12 item 3).
        raw, linked = self._store.get_linked(f"sso:{key}", _REVOKED_LINK)
        if raw is None:
            return None
        session = self._decode(raw)
        if not self._valid(session, now, linked[0]):
            self._store.delete(f"sso:{key}")
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            session = replace(session, last_seen_at=now)
            self._put(session, now)
        return session

    def choose_record(
        self, session: SSOSession, portal_id: int, choice: str, *, now: float
    ) -> None:
        """Remember whose record this session opens at one practice (issue 10 item 5).

        ``choice`` is ``"self"`` or ``"person:<id>"``. A key of its own, named by the
        session's key and living no longer than the session could: choosing never
        rewrites the session (no read-then-write) and a new sign-in (a new key) starts
        with no choice. Called by ``idp.web.session_issuer`` only.
        """
        left = session.created_at + self._rules.absolute_timeout - now
        self._store.put(f"sso-record:{session.key}:{portal_id}", choice, ttl=max(1.0, left))

    def chosen_record(self, session: SSOSession, portal_id: int) -> str | None:
        """The choice :meth:`choose_record` kept for this session at the practice, if any."""
        return self._store.get(f"sso-record:{session.key}:{portal_id}")

    def note_client(self, key: str, client_id: str) -> None:
        """Remember that this session signed in to ``client_id`` (back-channel logout)."""
        self._store.add_member(
            f"sso-clients:{key}", client_id, ttl=float(self._rules.absolute_timeout)
        )

    def clients_of(self, key: str) -> set[str]:
        """Every client this session gave a code to."""
        return self._store.members(f"sso-clients:{key}")

    def end(self, session_id: str) -> None:
        self._store.delete(f"sso:{session_key(session_id)}")

    def end_by_key(self, subject: str, key: str) -> bool:
        """End one of an account's sessions from its key ("sign out that device")."""
        if not self._store.remove_member(f"sso-index:{subject}", key):
            return False
        self._store.delete(f"sso:{key}")
        return True

    def list_for(self, subject: str, *, now: float) -> list[SSOSession]:
        """The account's live sessions, newest first; dead index entries are pruned."""
        sessions = []
        revoked = self._store.get(f"{REVOKED_BEFORE}{subject}")
        for key in self._store.members(f"sso-index:{subject}"):
            raw = self._store.get(f"sso:{key}")
            session = self._decode(raw) if raw else None
            if (
                session is None
                or session.subject != subject
                or not self._valid(session, now, revoked)
            ):
                self._store.remove_member(f"sso-index:{subject}", key)
                continue
            sessions.append(session)
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    @staticmethod
    def _decode(raw: str) -> SSOSession:
        data = json.loads(raw)
        data["amr"] = tuple(data.get("amr") or ())
        return SSOSession(**data)

    def _valid(self, session: SSOSession, now: float, revoked: str | None) -> bool:
        """``revoked``: the value of the account's "ended before" marker (end_all_for)."""
        facts = SessionFacts(
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            revoked_before=float(revoked) if revoked else None,
        )
        return decide_session(facts, self._rules, now) is SessionState.VALID

    def end_all_for(self, subject: str, *, now: float) -> None:
        """End every session of an account, in every process (logout everywhere).

        A marker "sessions created before now are void" is enough, and it may expire
        once the longest possible session would have expired anyway.
        """
        self._store.put(
            f"{REVOKED_BEFORE}{subject}",
            repr(now),
            ttl=float(self._rules.absolute_timeout) + 60.0,
        )
