"""The patient's own account settings ("My account", issue 3 items 6-8).

Every change follows one path, and each step can only refuse, never half-do:

    fields checked ──missing, oversized, control characters, rule broken──▶ INVALID
        │        (400; nothing written, nothing counted)
        ▼
    current password (ASVS 7.5.1) ──wrong──▶ WRONG_PASSWORD, or LOCKED at the limit
        │        (counted under the sign-in's own key, audited: invariant 6)
        ▼
    change + notice email + audit event in ONE transaction (invariant 9) ──▶ DONE
        │
        ▼
    sessions and access tokens ended in the ephemeral store, last, still inside the
    transaction: if that fails the change rolls back (sessions already ended stay
    ended, the safe direction); if the commit fails they are ended anyway.

Notices go to the verified address on file (NIST SP 800-63B-4 §4.6, standards.md
row 13): password, email (both at request and at change, to the OLD address),
security questions, account closed. Nothing here deletes a row: closing an
account disables it and keeps it for the retention period.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from idp.clock import Clock
from idp.i18n import format_when
from idp.notify import (
    InvalidEmailAddress,
    InvalidPhoneNumber,
    Notifier,
    check_email_address,
    normalize_phone,
)
from idp.oidc.backchannel import session_sid
from idp.policies.security_questions import CUSTOM, QuestionChoice, question_text
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.candidates import reindex_account
from idp.store.durable import Database, UnitOfWork
from idp.store.sessions import SSOSessionStore

from .credentials import CredentialRules, account_context, has_second_factor, hash_questions
from .hooks import PortalSignOut
from .lockout import CredentialLockout, Reauthentication, reauthenticate
from .methods.password import PasswordHashing

# Field limits (characters). Longer input is refused before anything is checked.
MAX_PASSWORD = 1024
MAX_EMAIL = 254
MAX_PHONE = 64
MAX_CONFIRMATION = 16
MAX_QUESTION_ID = 32
MAX_ANSWER = 200
MAX_CUSTOM_QUESTION = 300
ACTIVITY_LIMIT = 20

CHANGE_EMAIL = "change_email"
# Links that went to the old address die when the address changes or the account closes.
LINK_PURPOSES = (CHANGE_EMAIL, "reset_password", "verify_email")
CLOSE_WORD = "CLOSE"

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_SESSION_KEY = re.compile(r"[0-9a-f]{64}")

# The events the activity page shows: sign-ins and what changed the account's security.
ACTIVITY_TYPES = (
    "login",
    "login_refused",
    "logout",
    "account_locked",
    "reauthentication",
    "password_changed",
    "email_change_requested",
    "email_changed",
    "phone_changed",
    "security_questions_changed",
    "account_closed",
    "second_factor_added",
    "second_factor_removed",
    "second_factor_renamed",
    "recovery_codes_regenerated",
    "second_factors_reset",
)


class Outcome(StrEnum):
    DONE = "done"
    INVALID = "invalid"  # refused input: nothing written
    WRONG_PASSWORD = "wrong_password"  # counted toward the lockout, audited
    LOCKED = "locked"  # the sign-in lock is on: refused without checking
    NOT_FOUND = "not_found"  # the link or session is gone
    UNAVAILABLE = "unavailable"  # the account was closed or locked under this page


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    message_id: str | None = None
    # Reason codes from a policy (password, phone, questions), all of them at once.
    reasons: tuple[str, ...] = ()
    # This browser's session ended too (sign out everywhere, account closed).
    signed_out: bool = False
    # Portals told by back-channel logout: the signed-out page shows their answers.
    logout_notice: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in patient making the change, and where from (for audit and notices)."""

    account_id: int
    subject: str
    session_key: str
    ip: str | None = None
    user_agent: str | None = None
    # The browser's device cookie (idp/flows/devices.py): a wrong current password typed
    # here counts on that device's counter, not on the one strangers can lock.
    device_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URLs for emails, built by the web layer from the configured issuer
    (never from the request's Host header, which an attacker can set)."""

    sign_in: str
    confirm_email: str  # "?token=…" is appended


@dataclass(frozen=True, slots=True)
class Profile:
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool


@dataclass(frozen=True, slots=True)
class QuestionView:
    position: int
    text: str


@dataclass(frozen=True, slots=True)
class SessionView:
    key: str
    started_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


@dataclass(frozen=True, slots=True)
class ActivityItem:
    at: datetime
    type: str
    outcome: str
    reason: str | None
    ip: str | None
    user_agent: str | None


class GrantRevoker(Protocol):
    """Voids every access token of a grant (``AccessTokenStore``)."""

    def revoke_grant(self, grant_id: str) -> None: ...

    def revoke_account(self, account_id: int, *, now: float | None = None) -> None: ...


def check_fields(fields: Sequence[tuple[str, int]], *, optional: Sequence[str] = ()) -> str | None:
    """The first problem with raw form values, as a message ID, or None.

    Control characters (C0, DEL, C1) have no place in any of these fields; they
    are how header injection and log forging start (security invariant 8).
    """
    if any(not value for value, _ in fields):
        return "account_missing_fields"
    for value, limit in [*fields, *((v, MAX_CUSTOM_QUESTION) for v in optional)]:
        if len(value) > limit:
            return "account_field_too_long"
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            return "account_control_characters"
    return None


def mask_email(address: str) -> str:
    """``j***@example.org``: enough for the owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _when(now: datetime) -> str:
    return format_when(now.astimezone(UTC), "%d %B %Y at %H:%M UTC")


class AccountSettings:
    """The account page's journeys; each public method is one user action."""

    def __init__(
        self,
        *,
        db: Database,
        hashing: PasswordHashing,
        lockout: CredentialLockout,
        credentials: CredentialRules,
        sessions: SSOSessionStore,
        grants: GrantRevoker,
        notifier: Notifier,
        clock: Clock,
        phone_region: str,
        verify_link_ttl: int,
        index_secret: str = "",
        portal_sign_out: PortalSignOut | None = None,
    ) -> None:
        self._db = db
        self._portal_sign_out = portal_sign_out
        self._hashing = hashing
        self._lockout = lockout
        self._credentials = credentials
        self._sessions = sessions
        self._grants = grants
        self._notifier = notifier
        self._clock = clock
        self._phone_region = phone_region
        self._verify_link_ttl = verify_link_ttl
        # Keys the candidate-search index (idp.store.sql.candidates) kept current here.
        self._index_secret = index_secret

    @property
    def questions_enabled(self) -> bool:
        return self._credentials.security_questions > 0

    @property
    def question_count(self) -> int:
        return self._credentials.security_questions

    # --- reading ---------------------------------------------------------------------------

    def profile(self, actor: Actor) -> Profile | None:
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
        if account is None:
            return None
        person = account.person
        return Profile(
            username=account.username,
            first_name=person.first_name if person else None,
            last_name=person.last_name if person else None,
            email=account.email,
            email_verified=account.email_verified,
            phone=account.phone,
            phone_verified=account.phone_verified,
        )

    def questions(self, actor: Actor) -> list[QuestionView]:
        """The questions on file, never the answers (only their hashes exist anyway)."""
        with self._db.transaction() as uow:
            stored = uow.security_answers.for_account(actor.account_id)
        return [
            QuestionView(q.position, question_text(q.question_id, q.custom_text)) for q in stored
        ]

    def sessions(self, actor: Actor) -> list[SessionView]:
        now = self._clock().timestamp()
        return [
            SessionView(
                key=s.key,
                started_at=datetime.fromtimestamp(s.created_at, UTC),
                last_seen_at=datetime.fromtimestamp(s.last_seen_at, UTC),
                ip=s.ip,
                user_agent=s.user_agent,
                current=s.key == actor.session_key,
            )
            for s in self._sessions.list_for(actor.subject, now=now)
        ]

    def activity(self, actor: Actor, *, limit: int = ACTIVITY_LIMIT) -> list[ActivityItem]:
        """Recent sign-ins and security changes; only reason codes, never inputs."""
        with self._db.transaction() as uow:
            events = uow.audit.for_subject(actor.subject, ACTIVITY_TYPES, limit)
        return [
            ActivityItem(
                at=e.at,
                type=e.type,
                outcome=e.outcome,
                reason=str(e.details.get("reason")) if e.details.get("reason") else None,
                ip=e.ip,
                user_agent=e.user_agent,
            )
            for e in events
        ]

    # --- profile ---------------------------------------------------------------------------

    def change_phone(self, actor: Actor, *, password: str, phone: str) -> Result:
        """A new contact number, in E.164; names stay with the practice (read-only)."""
        problem = check_fields([(password, MAX_PASSWORD), (phone, MAX_PHONE)])
        if problem:
            return Result(Outcome.INVALID, problem)
        try:
            number = normalize_phone(phone, region=self._phone_region)
        except InvalidPhoneNumber as exc:
            return Result(Outcome.INVALID, "account_phone_invalid", (exc.reason.value,))
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            refused = self._reauthenticate(uow, account, password, actor, action="change_phone")
            if refused is not None:
                return refused
            now = self._clock()
            # The same number keeps its verification; a new one has to be proven again.
            verified = account.phone == number and account.phone_verified
            uow.accounts.set_phone(account.id, number, verified=verified, now=now)
            reindex_account(uow, account.id, self._index_secret)
            uow.audit.record(self._entry(actor, "phone_changed", {"verified": verified}), now=now)
        return Result(Outcome.DONE, "account_phone_changed")

    # --- password --------------------------------------------------------------------------

    def change_password(
        self,
        actor: Actor,
        *,
        current: str,
        new: str,
        repeat: str,
        sign_out_others: bool,
        links: Links,
    ) -> Result:
        """New password after the current one; optionally end every other session and
        every refresh token (ASVS 7.4.3). This browser stays signed in."""
        problem = check_fields(
            [(current, MAX_PASSWORD), (new, MAX_PASSWORD), (repeat, MAX_PASSWORD)]
        )
        if problem:
            return Result(Outcome.INVALID, problem)
        if new != repeat:
            return Result(Outcome.INVALID, "account_password_mismatch")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            verdict = self._credentials.check_password(
                new,
                context=account_context(account),
                has_second_factor=has_second_factor(uow, account.id),
            )
            if not verdict.ok:
                # Every reason at once, before the current password is even looked at:
                # a weak choice costs no lockout attempt.
                return Result(Outcome.INVALID, "account_password_rejected", verdict.reasons)
            refused = self._reauthenticate(uow, account, current, actor, action="change_password")
            if refused is not None:
                return refused
            now = self._clock()
            uow.accounts.set_password(account.id, self._hashing.hash(new), now=now)
            others: list[str] = []
            families: list[str] = []
            if sign_out_others:
                others = [
                    s.key
                    for s in self._sessions.list_for(actor.subject, now=now.timestamp())
                    if s.key != actor.session_key
                ]
                families = uow.refresh_tokens.revoke_for_account(account.id, now=now)
            self._notify(
                uow,
                account,
                "password_changed",
                actor,
                now,
                sign_in_url=links.sign_in,
                others_signed_out=sign_out_others,
            )
            uow.audit.record(
                self._entry(
                    actor,
                    "password_changed",
                    {
                        "sign_out_others": sign_out_others,
                        "sessions_ended": len(others),
                        "token_families_revoked": len(families),
                    },
                ),
                now=now,
            )
            self._tell_portals(uow, actor.subject, others, now)
            for key in others:
                self._sessions.end_by_key(actor.subject, key)
            self._revoke_grants(families)
        message_id = (
            "account_password_changed_others_ended"
            if sign_out_others
            else "account_password_changed"
        )
        return Result(Outcome.DONE, message_id)

    # --- email -----------------------------------------------------------------------------

    def request_email_change(
        self, actor: Actor, *, password: str, new_email: str, links: Links
    ) -> Result:
        """Email a single-use link to the new address; tell the old one it was asked for.

        The address on file changes only when the link is opened, so a typo or an
        attacker's address never replaces a working one. A new request kills the
        previous link (``ActionTokenRepository.issue``).
        """
        problem = check_fields([(password, MAX_PASSWORD), (new_email, MAX_EMAIL)])
        if problem:
            return Result(Outcome.INVALID, problem)
        try:
            address = check_email_address(new_email)
        except InvalidEmailAddress:
            return Result(Outcome.INVALID, "account_email_invalid")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            same = account.email is not None and account.email.casefold() == address.casefold()
            if same and account.email_verified:
                return Result(Outcome.INVALID, "account_email_same")
            refused = self._reauthenticate(uow, account, password, actor, action="change_email")
            if refused is not None:
                return refused
            now = self._clock()
            token = secrets.token_urlsafe(32)
            uow.action_tokens.issue(
                token_hash=_hash(token),
                purpose=CHANGE_EMAIL,
                account_id=account.id,
                now=now,
                expires_at=now + timedelta(seconds=self._verify_link_ttl),
                data={"email": address},
            )
            self._notifier.email(
                uow,
                to=address,
                template="email_change_verify",
                context={
                    "name": self._name(account),
                    "link": f"{links.confirm_email}?token={token}",
                    "hours": max(1, self._verify_link_ttl // 3600),
                },
                now=now,
            )
            self._notify(
                uow,
                account,
                "email_changed_notice",
                actor,
                now,
                stage="requested",
                new_email=mask_email(address),
                sign_in_url=links.sign_in,
            )
            uow.audit.record(self._entry(actor, "email_change_requested", {}), now=now)
        return Result(Outcome.DONE, "account_email_link_sent")

    def pending_email(self, actor: Actor, token: str) -> str | None:
        """The address a live link of this account would set (for its confirmation page)."""
        if not _TOKEN.fullmatch(token):
            return None
        with self._db.transaction() as uow:
            record = uow.action_tokens.peek(_hash(token), CHANGE_EMAIL, now=self._clock())
        if record is None or record.account_id != actor.account_id:
            return None
        return str(record.data.get("email") or "") or None

    def confirm_email_change(self, actor: Actor, token: str, *, links: Links) -> Result:
        """Use the link (one conditional UPDATE: a double click changes it once)."""
        if not _TOKEN.fullmatch(token):
            return Result(Outcome.INVALID, "account_email_link_invalid")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            now = self._clock()
            # Another account's link is refused without being used up.
            live = uow.action_tokens.peek(_hash(token), CHANGE_EMAIL, now=now)
            if live is None or live.account_id != account.id:
                return Result(Outcome.NOT_FOUND, "account_email_link_invalid")
            record = uow.action_tokens.consume(_hash(token), CHANGE_EMAIL, now=now)
            address = str(record.data.get("email") or "") if record else ""
            if record is None or not address:
                return Result(Outcome.NOT_FOUND, "account_email_link_invalid")
            uow.accounts.set_email(account.id, address, verified=True, now=now)
            reindex_account(uow, account.id, self._index_secret)
            for purpose in LINK_PURPOSES:
                uow.action_tokens.revoke(account.id, purpose, now=now)
            old = account.email
            if old and old.casefold() != address.casefold():
                self._notify(
                    uow,
                    account,
                    "email_changed_notice",
                    actor,
                    now,
                    stage="changed",
                    new_email=mask_email(address),
                    sign_in_url=links.sign_in,
                )
            uow.audit.record(self._entry(actor, "email_changed", {"verified": True}), now=now)
        return Result(Outcome.DONE, "account_email_changed")

    # --- security questions ----------------------------------------------------------------

    def change_questions(
        self, actor: Actor, *, password: str, choices: Sequence[QuestionChoice], links: Links
    ) -> Result:
        """Replace the whole set at once; answers are hashed, never kept or logged."""
        if not self.questions_enabled:
            return Result(Outcome.NOT_FOUND)
        fields = [(password, MAX_PASSWORD)]
        fields += [(c.question_id, MAX_QUESTION_ID) for c in choices]
        fields += [(c.answer, MAX_ANSWER) for c in choices]
        custom = [c.custom_text or "" for c in choices if c.question_id == CUSTOM]
        problem = check_fields(fields, optional=custom)
        if problem:
            return Result(Outcome.INVALID, problem)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            verdict = self._credentials.check_questions(
                choices, username=account.username, password=password
            )
            if not verdict.ok:
                return Result(Outcome.INVALID, "account_questions_rejected", verdict.reasons)
            refused = self._reauthenticate(uow, account, password, actor, action="change_questions")
            if refused is not None:
                return refused
            now = self._clock()
            uow.security_answers.replace(
                account.id, hash_questions(choices, self._hashing), now=now
            )
            self._notify(
                uow, account, "security_questions_changed", actor, now, sign_in_url=links.sign_in
            )
            uow.audit.record(
                self._entry(actor, "security_questions_changed", {"count": len(choices)}), now=now
            )
        return Result(Outcome.DONE, "account_questions_changed")

    # --- sessions --------------------------------------------------------------------------

    def end_session(self, actor: Actor, key: str) -> Result:
        """Sign out one device; only this account's sessions can be named."""
        if not _SESSION_KEY.fullmatch(key):
            return Result(Outcome.INVALID, "account_session_not_found")
        now = self._clock()
        live = {s.key for s in self._sessions.list_for(actor.subject, now=now.timestamp())}
        if key not in live:
            return Result(Outcome.NOT_FOUND, "account_session_not_found")
        with self._db.transaction() as uow:
            # Tokens issued without offline_access end with the session (BCL §2.7).
            families = uow.refresh_tokens.revoke_for_sessions([session_sid(key)], now=now)
            uow.audit.record(
                self._entry(
                    actor,
                    "logout",
                    {
                        "initiated_by": "account_page",
                        "scope": "one_session",
                        "token_families_revoked": len(families),
                    },
                    session_id=key[:16],
                ),
                now=now,
            )
            notice = self._tell_portals(uow, actor.subject, [key], now)
            self._sessions.end_by_key(actor.subject, key)
            self._revoke_grants(families)
        return Result(
            Outcome.DONE,
            "account_session_ended",
            signed_out=key == actor.session_key,
            logout_notice=notice,
        )

    def end_everywhere(self, actor: Actor) -> Result:
        """Every session (this one too) and every refresh token and its access tokens."""
        now = self._clock()
        with self._db.transaction() as uow:
            families = uow.refresh_tokens.revoke_for_account(actor.account_id, now=now)
            uow.audit.record(
                self._entry(
                    actor,
                    "logout",
                    {
                        "initiated_by": "account_page",
                        "scope": "everywhere",
                        "token_families_revoked": len(families),
                    },
                ),
                now=now,
            )
            notice = self._tell_portals(uow, actor.subject, None, now)
            self._sessions.end_all_for(actor.subject, now=now.timestamp())
            self._revoke_grants(families)
        return Result(
            Outcome.DONE, "account_signed_out_everywhere", signed_out=True, logout_notice=notice
        )

    # --- close -----------------------------------------------------------------------------

    def close_account(
        self, actor: Actor, *, password: str, confirmation: str, links: Links
    ) -> Result:
        """Disable the account for good: sessions, tokens, consents and links end.

        Nothing is deleted (``AccountRepository.close`` only sets the status), so the
        audit trail and the practices' references stay for the retention period.
        """
        problem = check_fields([(password, MAX_PASSWORD), (confirmation, MAX_CONFIRMATION)])
        if problem:
            return Result(Outcome.INVALID, problem)
        if confirmation.strip().upper() != CLOSE_WORD:
            return Result(Outcome.INVALID, "account_close_confirmation")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            refused = self._reauthenticate(uow, account, password, actor, action="close_account")
            if refused is not None:
                return refused
            now = self._clock()
            uow.accounts.close(account.id, now=now)
            families = uow.refresh_tokens.revoke_for_account(account.id, now=now)
            consents = uow.consents.revoke_for_account(account.id, now=now)
            uow.portal_links.revoke_all_for_account(account.id, now)
            for purpose in LINK_PURPOSES:
                uow.action_tokens.revoke(account.id, purpose, now=now)
            self._notify(uow, account, "account_closed", actor, now, username=account.username)
            uow.audit.record(
                self._entry(
                    actor,
                    "account_closed",
                    {
                        "initiated_by": "account_page",
                        "token_families_revoked": len(families),
                        "consents_revoked": consents,
                    },
                ),
                now=now,
            )
            notice = self._tell_portals(uow, actor.subject, None, now)
            self._sessions.end_all_for(actor.subject, now=now.timestamp())
            self._revoke_grants(families)
            # Access tokens of grants without a refresh token too: introspection reads
            # Redis alone, so the closed account must be marked there.
            self._grants.revoke_account(account.id, now=now.timestamp())
        return Result(Outcome.DONE, "account_closed", signed_out=True, logout_notice=notice)

    # --- shared steps ----------------------------------------------------------------------

    def _tell_portals(
        self, uow: UnitOfWork, subject: str, keys: list[str] | None, now: datetime
    ) -> str | None:
        """Queue back-channel logout tokens for sessions about to end (same transaction)."""
        if self._portal_sign_out is None or keys == []:
            return None
        return self._portal_sign_out.sessions_ending(uow, subject=subject, keys=keys, now=now)

    def _account(self, uow: UnitOfWork, actor: Actor) -> AccountRecord | None:
        """The account fresh from the database (the page may be stale); active only."""
        account = uow.accounts.by_id(actor.account_id)
        if account is None or not account.is_active or account.subject != actor.subject:
            return None
        return account

    def _reauthenticate(
        self, uow: UnitOfWork, account: AccountRecord, password: str, actor: Actor, *, action: str
    ) -> Result | None:
        """Check the current password under the sign-in's lockout (invariant 6).

        Same counter key as the login flow (the normalised user ID), same
        reserve-then-check order, so N parallel guesses here and on the login page
        together never get more than the limit. Reaching the limit refuses the
        change; this browser's session is left alone.
        """
        outcome = reauthenticate(
            self._lockout,
            self._hashing,
            uow,
            account,
            password,
            meta=RequestMeta(ip=actor.ip, user_agent=actor.user_agent),
            now=self._clock(),
            source="account_page",
            device_cookie=actor.device_cookie,
        )
        if outcome is Reauthentication.OK:
            return None
        if outcome is Reauthentication.LOCKED:
            # As at sign-in; the hard cap also makes the account "locked", and this
            # browser is then signed out, since only active accounts load.
            self._refusal(uow, actor, action, "locked")
            return Result(Outcome.LOCKED, "account_locked")
        self._refusal(uow, actor, action, "invalid_credentials")
        return Result(Outcome.WRONG_PASSWORD, "account_wrong_password")

    def _revoke_grants(self, families: Sequence[str]) -> None:
        # A refresh token family and the access tokens it issued share one grant id.
        for family in families:
            self._grants.revoke_grant(family)

    def _notify(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        template: str,
        actor: Actor,
        now: datetime,
        **context: Any,
    ) -> None:
        """A notice to the verified address on file; an unproven address gets nothing."""
        if not account.email or not account.email_verified:
            return
        self._notifier.email(
            uow,
            to=account.email,
            template=template,
            context={
                "name": self._name(account),
                "when": _when(now),
                "ip": actor.ip,
                **context,
            },
            now=now,
        )

    @staticmethod
    def _name(account: AccountRecord) -> str:
        return account.person.first_name if account.person else account.username

    @staticmethod
    def _entry(
        actor: Actor,
        event: str,
        details: dict[str, Any],
        *,
        outcome: str = "success",
        session_id: str | None = None,
    ) -> AuditEntry:
        """Who (the account, acting for itself), what, from where; "when" is the
        transaction's clock reading, passed to ``record``. Never a secret in details."""
        return AuditEntry(
            type=event,
            outcome=outcome,
            actor=actor.subject,
            subject=actor.subject,
            ip=actor.ip,
            user_agent=actor.user_agent,
            session_id=session_id or actor.session_key[:16],
            details=details,
        )

    def _refusal(self, uow: UnitOfWork, actor: Actor, action: str, reason: str) -> None:
        details = {"action": action, "reason": reason}
        entry = self._entry(actor, "reauthentication", details, outcome="failure")
        uow.audit.record(entry, now=self._clock())
