"""What forgot-user-ID and forgot-password share: step state, decoys, counting, throttles.

Security invariants kept here, once for both flows:

* Step state lives server-side in the ephemeral store under a random id (15 minutes);
  the browser holds only that id. A later step reads the email or user ID typed at
  the first step from the stored flow, never from the form, so it cannot switch
  accounts halfway (invariant 4 would otherwise leak through a swapped field).
* Decoy questions: an unknown email or user ID gets a curated question chosen by an
  HMAC of what was typed under the app's secret key, so asking twice shows the same
  question, exactly as a real account does (invariant 4).
* Only curated questions are ever shown before sign-in (issue 8, item 6). A known
  account is asked one of its curated questions; one whose questions are all custom
  (or that has none) is asked the decoy, which it cannot answer, and recovers by its
  verified mailbox alone: forgot user ID sends the ID to that address, forgot password
  sends a link to choose a password there (never one the requester typed, item 5).
  We chose this over showing custom questions because no decoy can look like a
  patient's own words.
* Failed recovery credentials (birth date, security answer) count toward the
  account's sign-in lockout under ``username_key(username)``, the key the login flow
  uses, atomically (invariant 6). Each recovery form also has its own *gate*: an
  :class:`AttemptCounter` under a prefixed key that limits verifications per lock
  period. The gate is separate so that "forgot password" keeps working while a
  password lockout is on (standards.md row 10), and every verification counts on it,
  right or wrong, so that the moment the gate closes never tells a right answer from
  a wrong one. A closed forgot-password gate does not close the form: the request
  goes on as the emailed-link flow, so a stranger's guesses never stop the owner
  from getting back in through the mailbox (invariant 12; docs/lockout.md).
* Mail throttles: at most :data:`MAIL_PER_ADDRESS` messages per typed address and
  :data:`MAIL_PER_IP` per client address per hour. A throttled request gets the same
  reply as any other and sends nothing; only messages actually sent are counted,
  which is invisible from outside, so an attacker cannot use up a patient's quota
  with wrong answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.oidc.tokens import AccessTokenStore
from idp.policies.lockout import LockoutRules, failure_starts_lock
from idp.policies.security_questions import CURATED_QUESTIONS, CUSTOM, question_text
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.settings import AccountSettings
from idp.store.attempts import AttemptCounter
from idp.store.interfaces import EphemeralStore
from idp.store.sessions import SSOSessionStore
from idp.store.sql.database import Database
from idp.store.sql.repositories import UnitOfWork
from idp.store.sql.security_answers import StoredQuestion
from idp.store.throttle import Throttle

from .authn.flow import AuthnFlow
from .credentials import CredentialRules
from .hooks import PortalSignOut
from .lockout import CredentialLockout
from .methods.password import PasswordHashing

if TYPE_CHECKING:
    from idp.services import Services

# Step state of a recovery flow lives this long (seconds).
FLOW_TTL = 15 * 60
# Messages the public can make us send, per typed address (email or user ID) and per hour.
MAIL_PER_ADDRESS = 3
# Messages per client IP address and per hour, whatever addresses they go to. Patients
# share addresses (a clinic's network, a carrier's NAT), hence more than per address.
MAIL_PER_IP = 20
MAIL_WINDOW = 3600
# Account states that may recover: a hard-locked account ("locked") recovers and
# becomes active; pending (email never verified), disabled and closed ones may not.
RECOVERABLE = frozenset({"active", "locked"})

_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{20,64}")


# --- dependencies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecoveryDeps:
    """Everything both recovery flows read or write, passed in explicitly."""

    db: Database
    ephemeral: EphemeralStore
    hashing: PasswordHashing
    attempts: AttemptCounter
    lockout: LockoutRules
    # Counts a wrong answer or birth date exactly as sign-in counts a wrong password.
    credential_lockout: CredentialLockout
    throttle: Throttle
    notifier: Notifier
    sessions: SSOSessionStore
    access_tokens: AccessTokenStore
    credentials: CredentialRules
    accounts: AccountSettings
    clock: Clock
    # Keys the decoy HMAC; the app's secret key, never shown anywhere.
    secret_key: str
    # Links in mail are built on the issuer, never on the request's Host header
    # (a forged Host would otherwise send the patient's reset link to an attacker).
    issuer: str
    # Step submissions per client address and window before a 429 (anti-automation).
    ip_step_limit: int
    ip_step_window: int
    # The second factor of a held reset goes through the authentication flow's check.
    authn: AuthnFlow | None = None
    # Back-channel logout: the portals hear that a reset ended every session.
    portal_sign_out: PortalSignOut | None = None

    @classmethod
    def from_services(cls, services: Services) -> RecoveryDeps:
        settings = services.settings
        return cls(
            db=services.db,
            ephemeral=services.ephemeral,
            hashing=services.hashing,
            attempts=services.attempts,
            credential_lockout=services.lockout,
            lockout=LockoutRules(
                max_failures=settings.lockout.max_failures,
                lock_seconds=settings.lockout.lock_seconds,
                hard_cap=settings.lockout.hard_cap,
            ),
            throttle=services.throttle,
            notifier=services.notifier,
            sessions=services.sessions,
            access_tokens=services.access_tokens,
            credentials=services.credentials,
            accounts=settings.accounts,
            clock=services.clock,
            secret_key=settings.secret_key,
            issuer=settings.issuer,
            ip_step_limit=settings.accounts.ip_failure_limit,
            ip_step_window=settings.accounts.ip_failure_window,
            authn=services.authn,
            portal_sign_out=services.portal_logout,
        )

    @property
    def questions_on(self) -> bool:
        return self.accounts.security_questions > 0

    def url(self, path: str, **query: str) -> str:
        from urllib.parse import urlencode

        return f"{self.issuer}{path}" + (f"?{urlencode(query)}" if query else "")


# --- what a step returns -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Render:
    """A page to show: the view name (the web layer maps it to a template) and its data.

    Views never learn whether an account exists: nothing here says so.
    """

    view: str
    status: int = 200
    message_id: str | None = None
    flow_id: str | None = None
    question: str | None = None
    reasons: tuple[str, ...] = ()
    token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


# --- step state ----------------------------------------------------------------------------


def _flow_key(flow_id: str) -> str:
    return "recovery-flow:" + hashlib.sha256(flow_id.encode()).hexdigest()


class RecoveryFlowStore:
    """Step state of recovery flows: ``{kind, step, data}`` under a random id, 15 minutes."""

    def __init__(self, store: EphemeralStore, *, ttl: int = FLOW_TTL) -> None:
        self._store = store
        self._ttl = ttl

    def start(self, kind: str, step: str, data: Mapping[str, Any]) -> str:
        flow_id = secrets.token_urlsafe(24)
        self._store.put(
            _flow_key(flow_id),
            json.dumps({"kind": kind, "step": step, "data": dict(data)}),
            ttl=self._ttl,
        )
        return flow_id

    def load(self, flow_id: str | None, kind: str) -> tuple[str, dict[str, Any]] | None:
        """(step, data) of a live flow of this kind, or None (unknown, expired, other kind)."""
        if not flow_id or not _FLOW_ID.fullmatch(flow_id):
            return None
        raw = self._store.get(_flow_key(flow_id))
        if raw is None:
            return None
        flow = json.loads(raw)
        if flow.get("kind") != kind:
            return None
        return str(flow["step"]), dict(flow["data"])

    def advance(self, flow_id: str, kind: str, step: str, data: Mapping[str, Any]) -> None:
        """Move to the next step, keeping the flow's original deadline."""
        remaining = self._store.ttl(_flow_key(flow_id)) or 0.0
        if remaining <= 0:
            return
        self._store.put(
            _flow_key(flow_id),
            json.dumps({"kind": kind, "step": step, "data": dict(data)}),
            ttl=remaining,
        )

    def finish(self, flow_id: str, kind: str) -> dict[str, Any] | None:
        """Take the flow for its last step: of two concurrent submissions one gets it."""
        raw = self._store.take(_flow_key(flow_id))
        if raw is None:
            return None
        flow = json.loads(raw)
        return dict(flow["data"]) if flow.get("kind") == kind else None


# --- questions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuestionRef:
    """Which question a step asks: a curated id, or "custom" with its text."""

    question_id: str
    custom_text: str | None = None

    @property
    def text(self) -> str:
        return question_text(self.question_id, self.custom_text)

    def asks(self, stored: StoredQuestion) -> bool:
        return (stored.question_id, stored.custom_text or None) == (
            self.question_id,
            self.custom_text or None,
        )

    def as_dict(self) -> dict[str, str | None]:
        return {"question_id": self.question_id, "custom_text": self.custom_text}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionRef:
        return cls(str(data["question_id"]), data.get("custom_text"))


def _digest(secret: str, parts: tuple[str, ...]) -> int:
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    mac = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")


def decoy_question(secret: str, *parts: str) -> QuestionRef:
    """A curated question picked by HMAC(secret key, what was typed): stable, unguessable."""
    ids = sorted(CURATED_QUESTIONS)
    return QuestionRef(ids[_digest(secret, ("decoy", *parts)) % len(ids)])


def curated_on_file(stored: list[StoredQuestion]) -> list[StoredQuestion]:
    """The questions of an account that an unauthenticated page may show: curated only.

    A custom question's text is the patient's own words, which no decoy can produce;
    showing it would tell a stranger that the user ID (or email and birth date) is
    real (issue 8, item 6). An account whose questions are all custom is treated as
    one without questions: it recovers through its verified mailbox alone.
    """
    return [q for q in stored if q.question_id != CUSTOM]


def pick_question(stored: list[StoredQuestion], secret: str, *parts: str) -> QuestionRef:
    """The one question of an account a step asks, always the same for the same input.

    Stable, so that repeating the request cannot cycle to an easier question, and only
    ever curated: among the account's curated questions, or the decoy when it has none
    (see :func:`curated_on_file`), so the page looks the same as an unknown account's.
    """
    pool = curated_on_file(stored)
    if not pool:
        return decoy_question(secret, *parts)
    chosen = pool[_digest(secret, ("decoy", *parts)) % len(pool)]
    return QuestionRef(chosen.question_id)


def answer_is_right(
    stored: list[StoredQuestion], asked: QuestionRef, answer: str, hashing: PasswordHashing
) -> bool | None:
    """True/False for the asked question; None when the account does not hold it."""
    from idp.policies.security_questions import normalise_answer

    for question in stored:
        if asked.asks(question):
            return hashing.verify(question.answer_hash, normalise_answer(answer)).ok
    return None


def spend_decoy_verification(hashing: PasswordHashing, answer: str) -> None:
    """One argon2 verification of work when there is nothing real to check (invariant 4)."""
    from idp.policies.security_questions import normalise_answer

    hashing.verify_decoy(normalise_answer(answer))


# --- counting toward the lockout ----------------------------------------------------------


def gate_is_closed(deps: RecoveryDeps, key: str) -> bool:
    """Reserve one verification on a recovery gate; True when it must be refused.

    Every verification counts, right or wrong; the one that fills the last slot starts
    the lock period, so "4 wrong then 1 right" closes the gate exactly as "5 wrong"
    does and the gate is no oracle for a right answer. Completing the recovery (the
    emailed link) clears it.
    """
    slot = deps.attempts.reserve(key)
    if slot is None:
        return True
    if failure_starts_lock(deps.attempts.keep(slot), deps.lockout):
        deps.attempts.start_lock(key)
    return False


def count_failure(
    deps: RecoveryDeps,
    uow: UnitOfWork,
    key: str,
    account: AccountRecord | None,
    *,
    meta: RequestMeta,
    now: datetime,
    source: str,
) -> None:
    """A wrong recovery credential counts as a failed sign-in of ``key`` (a user ID key).

    Exactly what :class:`idp.flows.login.LoginFlow` does with a wrong password: one
    atomic reservation, the failure that reaches the limit starts the lock, and the
    hard cap turns the account to "locked" (NIST SP 800-63B-4 §3.2.2).
    """
    reservation = deps.credential_lockout.reserve(key)
    deps.credential_lockout.failed(uow, reservation, account, meta=meta, now=now, source=source)


# --- throttles -----------------------------------------------------------------------------


def ip_allowed(deps: RecoveryDeps, meta: RequestMeta) -> bool:
    """Count one recovery step from this client address (same limit for everyone)."""
    return deps.throttle.allow(
        "recovery-step", meta.ip or "-", limit=deps.ip_step_limit, window=deps.ip_step_window
    )


def mail_allowed(deps: RecoveryDeps, *, kind: str, address: str, meta: RequestMeta) -> bool:
    """Count one message the public made us send; False: send nothing, reply the same.

    ``kind`` separates the quotas of different messages (forgot ID, reset, resend);
    ``address`` is what the requester typed (email or user ID), hashed by the throttle.
    """
    per_address = deps.throttle.allow(
        f"mail:{kind}", address, limit=MAIL_PER_ADDRESS, window=MAIL_WINDOW
    )
    per_ip = deps.throttle.allow("mail-ip", meta.ip or "-", limit=MAIL_PER_IP, window=MAIL_WINDOW)
    return per_address and per_ip


# --- links ---------------------------------------------------------------------------------


def new_link_token() -> tuple[str, str]:
    """A 256-bit link token and its SHA-256, the only form stored (invariant 5)."""
    token = secrets.token_urlsafe(32)
    return token, link_token_hash(token)


def link_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def link_token_ok(token: str | None) -> bool:
    return bool(token) and len(token or "") <= 128 and _FLOW_ID.fullmatch(token or "") is not None


def mask_email(address: str) -> str:
    """``m***@example.org``: enough for the owner to recognise, not to copy."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def requested_from(meta: RequestMeta, now: datetime) -> dict[str, str | None]:
    """When and from where a link was asked for: coarse, for the owner to recognise.

    The address and the browser's User-Agent (shown as "Firefox on Windows") are what
    the audit log keeps too; the time is to the minute.
    """
    return {
        "at": now.strftime("%Y-%m-%d %H:%M UTC"),
        "ip": meta.ip,
        "user_agent": (meta.user_agent or "")[:256] or None,
    }


# --- audit ---------------------------------------------------------------------------------


def audit_entry(
    event: str,
    outcome: str,
    account: AccountRecord | None,
    meta: RequestMeta,
    *,
    actor: str | None = None,
    **details: Any,
) -> AuditEntry:
    """An audit event about ``account`` (or nobody); details hold codes, never inputs.

    The actor is "anonymous" unless given: whoever fills in a recovery form has not
    proved who they are yet.
    """
    subject = account.subject if account else None
    return AuditEntry(
        type=event,
        outcome=outcome,
        actor=actor or "anonymous",
        subject=subject,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={k: v for k, v in details.items() if v is not None},
    )
