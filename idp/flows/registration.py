"""Self sign-up in two steps, then a verification link (issue 3; portal FAQ "sign up").

::

    GET /signup ─► DEMOGRAPHICS ─(refused: reasons per field)─► DEMOGRAPHICS
                       │ name, date of birth, zip, gender, email valid:
                       ▼ record "signup:<id>" kept 30 min; <id> rides in field ``f``
                   CREDENTIALS ─(refused: user ID taken, password, questions, terms)─► CREDENTIALS
                       │ valid; record taken (single use)
                       ├─ email new ────► account "pending", verify_email link mailed ─┐
                       ├─ email in use ─► nothing created, notice mailed to owner ──────┤
                       └─ throttled ────► nothing done ─────────────────────────────────┤
                                                                                        ▼
                                                                   CHECK_EMAIL (one page)
    record missing or past its expires_at ─► EXPIRED (start again)

    pending account ─POST /signup/verify (live link, consumed atomically)─► active

Enumeration (security invariant 4; NIST SP 800-63A-4 §3.1.2.1, standards.md rows 17
and 21): the only fact sign-up reveals is that a user ID is taken. Whether the email
belongs to someone, whether identity matching found anyone and whether a throttle
was hit all end in the same CHECK_EMAIL page, and both completion paths spend the
same argon2 work (password and answers are hashed even when nothing is stored).

Identity matching against existing patients comes with issue 5; the seam is
``match_existing`` (see :data:`IdentityMatcher`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from idp.clock import Clock
from idp.notify import InvalidEmailAddress, Notifier, check_email_address
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.settings import AccountSettings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database
from idp.store.sql.repositories import DuplicateError, NewPerson, UnitOfWork
from idp.store.throttle import Throttle

from .credentials import CredentialRules, hash_questions
from .methods.password import PasswordHashing

FLOW_TTL = 30 * 60
VERIFY_PURPOSE = "verify_email"
GENDERS = ("female", "male", "other", "unknown")
MAX_NAME = 100
EARLIEST_DOB = date(1900, 1, 1)
MAX_PASSWORD_INPUT = 1024

# Throttles (fixed windows). Sign-up completions per client address and per email
# (a stranger must not fill someone's inbox); resend requests per email and address.
SIGNUP_IP_SCOPE, SIGNUP_IP_LIMIT = "signup_ip", 20
SIGNUP_EMAIL_SCOPE, SIGNUP_EMAIL_LIMIT = "signup_email", 5
RESEND_EMAIL_SCOPE, RESEND_EMAIL_LIMIT = "signup_resend_email", 3
RESEND_IP_SCOPE, RESEND_IP_LIMIT = "signup_resend_ip", 10
THROTTLE_WINDOW = 3600

_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{3,64}")
# Control characters, unpaired surrogates, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class SignupState(StrEnum):
    DEMOGRAPHICS = "demographics"
    CREDENTIALS = "credentials"
    CHECK_EMAIL = "check_email"
    EXPIRED = "expired"


class IdentityMatch(StrEnum):
    """What matching the demographics against known patients found.

    Only ``none`` exists until issue 5, which adds exact and close matches (the
    FAQ's "you already have an account" email and "verify by phone"). Whatever it
    finds, the person signing up sees the same CHECK_EMAIL page: NIST SP 800-63A-4
    §3.1.2.1 item 4 forbids letting an applicant infer whether their data matched.
    """

    NONE = "none"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason a step was refused: the field it concerns and a stable code."""

    field: str
    code: str


@dataclass(frozen=True, slots=True)
class DemographicsInput:
    """Step 1 as typed (stripped by the view, cut just past each field's limit)."""

    first_name: str
    last_name: str
    dob: str
    zip: str
    gender: str
    email: str


@dataclass(frozen=True, slots=True)
class CredentialsInput:
    username: str
    password: str
    questions: Sequence[QuestionChoice]
    accept_terms: bool


@dataclass(frozen=True, slots=True)
class Demographics:
    first_name: str
    last_name: str
    dob: date
    zip: str
    gender: str
    email: str


# Issue 5 replaces the default with a matcher over stored persons; it is called with
# the accepted demographics when sign-up completes, on every path alike.
IdentityMatcher = Callable[[Demographics], IdentityMatch]


def no_match(demographics: Demographics) -> IdentityMatch:
    return IdentityMatch.NONE


@dataclass(frozen=True, slots=True)
class SignupOutcome:
    """Which page to show: ``state``, the flow id to carry on, the reasons, the email."""

    state: SignupState
    flow_id: str | None = None
    refusals: tuple[Refusal, ...] = ()
    email: str | None = None


def token_hash(token: str) -> str:
    """Links carry 256 random bits, so SHA-256 is enough at rest (invariant 5)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _clean_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def _check_name(field: str, raw: str) -> list[Refusal]:
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in raw):
        return [Refusal(field, f"{field}_invalid")]
    value = _clean_text(raw)
    if not value:
        return [Refusal(field, f"{field}_required")]
    if len(value) > MAX_NAME:
        return [Refusal(field, f"{field}_too_long")]
    return []


def age_on(dob: date, today: date) -> int:
    """Whole years lived; someone born on 29 February turns a year older on 1 March."""
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def check_demographics(
    form: DemographicsInput, *, today: date, min_age: int
) -> tuple[Demographics | None, list[Refusal]]:
    """Every reason step 1 is refused, at once; or the clean demographics."""
    refusals = _check_name("first_name", form.first_name) + _check_name("last_name", form.last_name)
    dob: date | None = None
    if not form.dob:
        refusals.append(Refusal("dob", "dob_required"))
    elif not _DOB.fullmatch(form.dob):
        refusals.append(Refusal("dob", "dob_invalid"))
    else:
        try:
            dob = date.fromisoformat(form.dob)
        except ValueError:  # 2023-02-30 and friends
            refusals.append(Refusal("dob", "dob_invalid"))
    if dob is not None:
        if dob > today:
            refusals.append(Refusal("dob", "dob_in_future"))
        elif dob < EARLIEST_DOB:
            refusals.append(Refusal("dob", "dob_invalid"))
        elif age_on(dob, today) < min_age:
            refusals.append(Refusal("dob", "dob_under_min_age"))
    if not _ZIP.fullmatch(form.zip):
        refusals.append(Refusal("zip", "zip_invalid"))
    if form.gender not in GENDERS:
        refusals.append(Refusal("gender", "gender_invalid"))
    email = ""
    try:
        email = check_email_address(form.email)
    except InvalidEmailAddress:
        refusals.append(Refusal("email", "email_invalid"))
    if refusals or dob is None:
        return None, refusals
    demographics = Demographics(
        first_name=_clean_text(form.first_name),
        last_name=_clean_text(form.last_name),
        dob=dob,
        zip=form.zip,
        gender=form.gender,
        email=email,
    )
    return demographics, []


def valid_for(seconds: int) -> str:
    """How long a link works, in words for the email: "24 hours", "30 minutes"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class RegistrationFlow:
    def __init__(
        self,
        *,
        db: Database,
        ephemeral: EphemeralStore,
        hashing: PasswordHashing,
        credentials: CredentialRules,
        throttle: Throttle,
        notifier: Notifier,
        clock: Clock,
        accounts: AccountSettings,
        issuer: str,
        match_existing: IdentityMatcher = no_match,
    ) -> None:
        self._db = db
        self._store = ephemeral
        self._hashing = hashing
        self._credentials = credentials
        self._throttle = throttle
        self._notifier = notifier
        self._clock = clock
        self._accounts = accounts
        self._issuer = issuer.rstrip("/")
        self._match = match_existing

    # --- step 1 ----------------------------------------------------------------------

    def start(self, form: DemographicsInput, *, meta: RequestMeta) -> SignupOutcome:
        now = self._clock()
        demographics, refusals = check_demographics(
            form, today=now.date(), min_age=self._accounts.signup_min_age
        )
        if demographics is None:
            # Typing mistakes are not security events: nothing is stored or audited.
            return SignupOutcome(SignupState.DEMOGRAPHICS, refusals=tuple(refusals))
        flow_id = secrets.token_urlsafe(32)
        self._save(flow_id, demographics, (now + timedelta(seconds=FLOW_TTL)).timestamp())
        with self._db.transaction() as uow:
            self._audit(uow, meta, "success", step="demographics")
        return SignupOutcome(SignupState.CREDENTIALS, flow_id=flow_id)

    # --- step 2 ----------------------------------------------------------------------

    def _save(self, flow_id: str, who: Demographics, expires_at: float) -> None:
        record = {
            "state": SignupState.CREDENTIALS.value,
            "expires_at": expires_at,
            "demographics": {**asdict(who), "dob": who.dob.isoformat()},
        }
        ttl = expires_at - self._clock().timestamp()
        self._store.put(f"signup:{flow_id}", json.dumps(record), ttl=max(ttl, 1))

    def _load(self, flow_id: str) -> tuple[Demographics, float] | None:
        if not _FLOW_ID.fullmatch(flow_id):
            return None
        raw = self._store.get(f"signup:{flow_id}")
        if raw is None:
            return None
        record = json.loads(raw)
        if record.get("state") != SignupState.CREDENTIALS or (
            self._clock().timestamp() >= record["expires_at"]
        ):
            self._store.delete(f"signup:{flow_id}")
            return None
        data: dict[str, Any] = dict(record["demographics"])
        data["dob"] = date.fromisoformat(data["dob"])
        return Demographics(**data), float(record["expires_at"])

    def _check_credentials(self, form: CredentialsInput, who: Demographics) -> list[Refusal]:
        refusals: list[Refusal] = []
        if not _USERNAME.fullmatch(form.username):
            refusals.append(Refusal("username", "username_invalid"))
        verdict = self._credentials.check_password(
            form.password[: MAX_PASSWORD_INPUT + 1],
            context=[form.username, who.first_name, who.last_name, who.email],
        )
        refusals += [Refusal("password", code) for code in verdict.reasons]
        questions = self._credentials.check_questions(
            form.questions, username=form.username, password=form.password
        )
        refusals += [Refusal("questions", code) for code in questions.reasons]
        if not form.accept_terms:
            refusals.append(Refusal("accept_terms", "terms_not_accepted"))
        return refusals

    def submit_credentials(
        self, flow_id: str, form: CredentialsInput, *, meta: RequestMeta
    ) -> SignupOutcome:
        loaded = self._load(flow_id)
        if loaded is None:
            return SignupOutcome(SignupState.EXPIRED)
        who, expires_at = loaded
        refusals = self._check_credentials(form, who)
        # Counted before the user ID is looked up: probing for taken IDs is what it slows.
        within_limit = self._throttle.allow(
            SIGNUP_IP_SCOPE, meta.ip or "unknown", limit=SIGNUP_IP_LIMIT, window=THROTTLE_WINDOW
        )
        if not within_limit:
            if refusals:  # pure checks only; no lookup while throttled
                return SignupOutcome(SignupState.CREDENTIALS, flow_id, tuple(refusals))
            return self._finish_quietly(flow_id, who, meta, reason="throttled_ip")

        with self._db.transaction() as uow:
            # The one thing sign-up may reveal (issue 3): this user ID is taken.
            if _USERNAME.fullmatch(form.username) and uow.accounts.by_username(form.username):
                refusals.insert(0, Refusal("username", "username_taken"))
            if refusals:
                self._audit(
                    uow, meta, "failure", step="credentials", reasons=[r.code for r in refusals]
                )
                return SignupOutcome(SignupState.CREDENTIALS, flow_id, tuple(refusals))

        if not self._throttle.allow(
            SIGNUP_EMAIL_SCOPE, who.email, limit=SIGNUP_EMAIL_LIMIT, window=THROTTLE_WINDOW
        ):
            return self._finish_quietly(flow_id, who, meta, reason="throttled_email")
        # Single use: of two concurrent submissions of one flow, one completes.
        if self._store.take(f"signup:{flow_id}") is None:
            return SignupOutcome(SignupState.EXPIRED)
        try:
            self._complete(who, form, meta)
        except DuplicateError:
            # Taken between the check and the insert by a concurrent sign-up.
            self._save(flow_id, who, expires_at)
            taken = (Refusal("username", "username_taken"),)
            with self._db.transaction() as uow:
                self._audit(uow, meta, "failure", step="credentials", reasons=["username_taken"])
            return SignupOutcome(SignupState.CREDENTIALS, flow_id, taken)
        return SignupOutcome(SignupState.CHECK_EMAIL, email=who.email)

    def _finish_quietly(
        self, flow_id: str, who: Demographics, meta: RequestMeta, *, reason: str
    ) -> SignupOutcome:
        """A throttled completion: nothing created or sent, the usual page shown."""
        self._store.delete(f"signup:{flow_id}")
        with self._db.transaction() as uow:
            self._audit(uow, meta, "failure", step="credentials", reason=reason)
        return SignupOutcome(SignupState.CHECK_EMAIL, email=who.email)

    def _complete(self, who: Demographics, form: CredentialsInput, meta: RequestMeta) -> None:
        # Hashed on both paths, before the transaction: the same argon2 work whether or
        # not the email is in use, and no write lock held while hashing.
        password_hash = self._hashing.hash(form.password)
        answers = hash_questions(form.questions, self._hashing)
        match = self._match(who)
        with self._db.transaction() as uow:
            now = self._clock()
            owners = uow.accounts.by_email(who.email)
            if owners:
                self._notify_owners(uow, owners, now=now)
                self._audit(
                    uow,
                    meta,
                    "success",
                    step="credentials",
                    reason="email_in_use",
                    match=match.value,
                    subject=owners[0].subject,
                )
                return
            account = uow.accounts.add(
                username=form.username,
                password_hash=password_hash,
                email=who.email,
                now=now,
                status="pending",
                person=NewPerson(
                    first_name=who.first_name,
                    last_name=who.last_name,
                    dob=who.dob,
                    zip=who.zip,
                    gender=who.gender,
                    email=who.email,
                ),
            )
            uow.security_answers.replace(account.id, answers, now=now)
            uow.accounts.accept_terms(account.id, now=now)
            self._send_link(uow, account.id, who.email, now=now)
            self._audit(
                uow,
                meta,
                "success",
                step="credentials",
                reason="pending",
                match=match.value,
                subject=account.subject,
            )

    def _notify_owners(
        self, uow: UnitOfWork, owners: list[AccountRecord], *, now: datetime
    ) -> None:
        """Tell each owner someone tried, at the stored address.

        Nothing the requester typed goes into the message: it reaches a stranger's
        inbox, and a "name" could be a phishing line.
        """
        seen: set[str] = set()
        for owner in owners:
            if not owner.email or owner.email.casefold() in seen:
                continue
            seen.add(owner.email.casefold())
            try:
                self._notifier.email(
                    uow,
                    to=owner.email,
                    template="signup_email_in_use",
                    context={
                        "login_url": f"{self._issuer}/login",
                        "resend_url": f"{self._issuer}/signup/resend",
                        "pending": owner.status == "pending",
                    },
                    now=now,
                )
            except InvalidEmailAddress:
                # An address stored before today's checks: skip it, the reply stays the same.
                continue

    def _send_link(self, uow: UnitOfWork, account_id: int, email: str, *, now: datetime) -> None:
        """A new verification link; issuing it kills any earlier one of the account."""
        token = secrets.token_urlsafe(32)
        ttl = self._accounts.verify_link_ttl
        uow.action_tokens.issue(
            token_hash=token_hash(token),
            purpose=VERIFY_PURPOSE,
            account_id=account_id,
            now=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        self._notifier.email(
            uow,
            to=email,
            template="verify_email",
            context={
                "link": f"{self._issuer}/signup/verify?token={token}",
                "valid_for": valid_for(ttl),
            },
            now=now,
        )

    # --- verification link -----------------------------------------------------------

    def link_is_live(self, token: str) -> bool:
        """For the confirmation page; looking never uses the link (mail scanners open it)."""
        if not _TOKEN.fullmatch(token):
            return False
        with self._db.transaction() as uow:
            return (
                uow.action_tokens.peek(token_hash(token), VERIFY_PURPOSE, now=self._clock())
                is not None
            )

    def verify(self, token: str, *, meta: RequestMeta) -> bool:
        """Use the link (atomically, once) and activate the pending account."""
        with self._db.transaction() as uow:
            now = self._clock()
            used = (
                uow.action_tokens.consume(token_hash(token), VERIFY_PURPOSE, now=now)
                if _TOKEN.fullmatch(token)
                else None
            )
            account = uow.accounts.by_id(used.account_id) if used else None
            if account is None or not uow.accounts.activate(account.id, now=now):
                self._audit(uow, meta, "failure", step="verify", reason="invalid_link")
                return False
            self._audit(uow, meta, "success", step="verify", subject=account.subject)
            return True

    def resend(self, email: str, *, meta: RequestMeta) -> bool:
        """A new link for each pending account at ``email``; False only for a malformed address.

        The reply never depends on what was found (security invariant 4).
        """
        try:
            address = check_email_address(email)
        except InvalidEmailAddress:
            return False
        by_email = self._throttle.allow(
            RESEND_EMAIL_SCOPE, address, limit=RESEND_EMAIL_LIMIT, window=THROTTLE_WINDOW
        )
        by_ip = self._throttle.allow(
            RESEND_IP_SCOPE, meta.ip or "unknown", limit=RESEND_IP_LIMIT, window=THROTTLE_WINDOW
        )
        with self._db.transaction() as uow:
            if not (by_email and by_ip):
                self._audit(uow, meta, "failure", step="resend", reason="throttled")
                return True
            now = self._clock()
            pending = [a for a in uow.accounts.by_email(address) if a.status == "pending"]
            for account in pending:
                self._send_link(uow, account.id, account.email or address, now=now)
                self._audit(uow, meta, "success", step="resend", subject=account.subject)
            if not pending:
                self._audit(uow, meta, "failure", step="resend", reason="no_pending_account")
        return True

    # --- audit -----------------------------------------------------------------------

    def _audit(
        self,
        uow: UnitOfWork,
        meta: RequestMeta,
        outcome: str,
        *,
        step: str,
        subject: str | None = None,
        **details: Any,
    ) -> None:
        """One "signup" event per step; codes only, never what was typed (names, answers)."""
        uow.audit.record(
            AuditEntry(
                type="signup",
                outcome=outcome,
                # Nobody is signed in during sign-up; the account concerned is the subject.
                actor="anonymous",
                subject=subject,
                ip=meta.ip,
                user_agent=meta.user_agent,
                details={"step": step, **details},
            ),
            now=self._clock(),
        )
