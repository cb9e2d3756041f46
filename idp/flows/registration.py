"""Self sign-up: two steps, identity matching, then email and an optional phone step.

Issue 3 built the steps; issue 5 adds matching against known patients (portal FAQ
``003``: exact match → the user ID by email; close match → "verify by phone number")
and staff review of unproven close matches (FAQ ``004``)::

    GET /signup ─► DEMOGRAPHICS ─(refused: reasons per field)─► DEMOGRAPHICS
                       │ name, date of birth, zip, gender, email valid:
                       ▼ record "signup:<id>" kept 30 min; <id> rides in field ``f``
                   CREDENTIALS ─(refused: user ID taken, password, questions, terms)─► CREDENTIALS
                       │ valid; throttles (address, email, identity); record taken (single use);
                       │ argon2 hashes made and candidates compared on every path
                       ├─ exact ─────────────► nothing created; user ID and practices mailed
                       │                        to the verified address on file
                       ├─ close ─────────────► enrollment pending staff review; the typed
                       │                        address is told it is being reviewed
                       ├─ none, email in use ─► nothing created; notice to the owner
                       ├─ none ──────────────► account "pending", verify_email link mailed
                       └─ throttled ─────────► nothing done
                       ▼
                   CHECK_EMAIL, one page for all, offering "verify by phone number"
                       │ (record "signup_phone:<id>", its <id> in field ``f``)
                       ▼ POST /signup/phone: a 6-digit code texted to the number typed
                   PHONE_CODE, one page for all ─(wrong, expired, 5 tries)─► PHONE_CODE
                       │ right code (single use)
                       ├─ number on the exact/close record ─► EXISTING_ACCOUNT: sign in or
                       │                                       recover; enrollment withdrawn
                       └─ otherwise ─► PHONE_DONE, one page for all (none: the phone is
                                       verified on the new account; close: noted for staff)
    record missing or past its expires_at ─► EXPIRED (start again)

    pending account ─POST /signup/verify (live link, consumed atomically)─► active

Enumeration (security invariant 4; NIST SP 800-63A-4 §3.1.2.1 "no data washing",
standards.md rows 17 and 21). What the person typing can see is the same for every
branch: step 2 ends on CHECK_EMAIL, the phone step on PHONE_CODE, a right code for a
number not on a matching record on PHONE_DONE, and throttles end there too. The only
fact shown on screen is that a user ID is taken (issue 3), and EXISTING_ACCOUNT, shown
only after a code texted to the phone *on the matched record* came back. Both
completion paths spend the same argon2 work and the same candidate search.

Mail, by design of the issue, does differ: whoever controls the typed address learns
the branch from what arrives (for exact that address *is* the account's verified one;
for close, "staff will review" tells the mailbox's owner that the details resembled a
record). The texted code is sent to any number typed (throttled per number and per
client address); proving a number only reveals an account to the holder of the phone
already on that account's record (standards.md §2, "verify by phone number").
"""

from __future__ import annotations

import hashlib
import hmac
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
from idp.notify import (
    InvalidEmailAddress,
    InvalidPhoneNumber,
    Notifier,
    check_email_address,
    normalize_phone,
)
from idp.policies.matching import Demographics as MatchDemographics
from idp.policies.matching import MatchKind, MatchResult, compare_normalised, normalise
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.settings import AccountSettings
from idp.store.interfaces import EphemeralStore
from idp.store.sql.candidates import Candidate
from idp.store.sql.database import Database
from idp.store.sql.enrollments import EnrollmentStatus
from idp.store.sql.repositories import DuplicateError, NewPerson, UnitOfWork
from idp.store.throttle import Throttle

from .credentials import CredentialRules, hash_questions
from .lockout import CredentialLockout
from .methods.password import PasswordHashing

FLOW_TTL = 30 * 60
VERIFY_PURPOSE = "verify_email"
GENDERS = ("female", "male", "other", "unknown")
MAX_NAME = 100
EARLIEST_DOB = date(1900, 1, 1)
MAX_PASSWORD_INPUT = 1024

# Throttles (fixed windows). Sign-up completions per client address, per email (a
# stranger must not fill someone's inbox) and per identity (name + DOB: the same
# person's details tried again and again, whatever the address); resend requests per
# email and address.
SIGNUP_IP_SCOPE, SIGNUP_IP_LIMIT = "signup_ip", 20
SIGNUP_EMAIL_SCOPE, SIGNUP_EMAIL_LIMIT = "signup_email", 5
SIGNUP_IDENTITY_SCOPE, SIGNUP_IDENTITY_LIMIT = "signup_identity", 5
RESEND_EMAIL_SCOPE, RESEND_EMAIL_LIMIT = "signup_resend_email", 3
RESEND_IP_SCOPE, RESEND_IP_LIMIT = "signup_resend_ip", 10
THROTTLE_WINDOW = 3600

# "Verify by phone number" (NIST SP 800-63A-4 §3.1.8, standards.md row 18: at least six
# digits from an approved random source, at most 10 minutes by phone, invalidated on use).
CODE_DIGITS = 6
CODE_TTL = 10 * 60
MAX_CODE_TRIES = 5
# Texts per sign-up, per number and per client address: SMS costs money and can be
# used to pester a stranger's phone ("SMS pumping").
MAX_CODES_PER_FLOW = 3
SMS_NUMBER_SCOPE, SMS_NUMBER_LIMIT = "signup_sms_number", 3
SMS_IP_SCOPE, SMS_IP_LIMIT = "signup_sms_ip", 10
# Failed codes also count toward the credential lockout under this key (per number).
PHONE_LOCK_PREFIX = "signup-phone:"
# Accounts whose phone, when proven, means "you already have an account".
MAX_PHONE_CANDIDATES = 5

_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{3,64}")
_USERNAME = USERNAME_RE
_CODE_SEPARATORS = re.compile(r"[\s-]")
_KEY_LABEL = b"idp sign-up codes and identity throttle v1"
# Control characters, unpaired surrogates, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


class SignupState(StrEnum):
    DEMOGRAPHICS = "demographics"
    CREDENTIALS = "credentials"
    CHECK_EMAIL = "check_email"
    PHONE_CODE = "phone_code"
    PHONE_DONE = "phone_done"
    EXISTING_ACCOUNT = "existing_account"
    EXPIRED = "expired"


class IdentityMatch(StrEnum):
    """What matching the demographics against known patients found (the audit's class).

    Whatever it finds, the person signing up sees the same pages: NIST SP 800-63A-4
    §3.1.2.1 item 4 forbids letting an applicant infer whether their data matched.
    """

    NONE = "none"
    CLOSE = "close"
    EXACT = "exact"


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

    def for_matching(self) -> MatchDemographics:
        return MatchDemographics(
            first_name=self.first_name,
            last_name=self.last_name,
            dob=self.dob,
            zip=self.zip,
            gender=self.gender,
            email=self.email,
        )


# A test seam: given, it replaces the candidate search (called on every path alike,
# outside the transaction). Its answer has no candidates, so exact and close from it
# behave as none.
IdentityMatcher = Callable[[Demographics], IdentityMatch]


def no_match(demographics: Demographics) -> IdentityMatch:
    return IdentityMatch.NONE


@dataclass(frozen=True, slots=True)
class Finding:
    """The best match class and the matching accounts (best first) that justify it."""

    kind: IdentityMatch
    matches: tuple[tuple[Candidate, MatchResult], ...] = ()


@dataclass(frozen=True, slots=True)
class SignupOutcome:
    """Which page to show: ``state``, the flow id to carry on, reasons, email, phone."""

    state: SignupState
    flow_id: str | None = None
    refusals: tuple[Refusal, ...] = ()
    email: str | None = None
    phone: str | None = None


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


def send_verification_link(
    uow: UnitOfWork,
    notifier: Notifier,
    *,
    account_id: int,
    email: str,
    issuer: str,
    ttl: int,
    now: datetime,
    template: str = "verify_email",
) -> None:
    """A new verification link; issuing it kills any earlier one of the account.

    Shared with staff approval of an enrollment (:mod:`idp.flows.enrollments`), whose
    mail uses its own template around the same link.
    """
    token = secrets.token_urlsafe(32)
    uow.action_tokens.issue(
        token_hash=token_hash(token),
        purpose=VERIFY_PURPOSE,
        account_id=account_id,
        now=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    notifier.email(
        uow,
        to=email,
        template=template,
        context={
            "link": f"{issuer.rstrip('/')}/signup/verify?token={token}",
            "valid_for": valid_for(ttl),
        },
        now=now,
    )


def find_match(
    uow: UnitOfWork, who: MatchDemographics, *, secret: str, region: str = "US"
) -> Finding:
    """Compare ``who`` with every candidate sharing a blocking key; the best class decides."""
    probe = normalise(who)
    scored = [
        (candidate, compare_normalised(probe, normalise(candidate.demographics)))
        for candidate in uow.candidates.candidates(who, secret=secret, region=region)
    ]
    for kind in (MatchKind.EXACT, MatchKind.CLOSE):
        matches = sorted(
            ((c, r) for c, r in scored if r.kind is kind),
            key=lambda cr: (-cr[1].score, cr[0].account_id),
        )
        if matches:
            return Finding(IdentityMatch(kind.value), tuple(matches))
    return Finding(IdentityMatch.NONE)


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
        matching_secret: str | None = None,
        lockout: CredentialLockout | None = None,
        phone_region: str = "US",
        match_existing: IdentityMatcher | None = None,
    ) -> None:
        """``matching_secret`` (the deployment secret) keys the blocking-key HMACs, the
        identity throttle and the texted codes; without it (embedding code and tests
        only) persons are neither indexed nor searched, and codes are keyed per instance.
        """
        self._db = db
        self._store = ephemeral
        self._hashing = hashing
        self._credentials = credentials
        self._throttle = throttle
        self._notifier = notifier
        self._clock = clock
        self._accounts = accounts
        self._issuer = issuer.rstrip("/")
        self._secret = matching_secret
        # Its own key for codes and the identity throttle, apart from the blocking keys'.
        self._key = (
            hmac.new(matching_secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()
            if matching_secret
            else secrets.token_bytes(32)
        )
        self._lockout = lockout
        self._region = phone_region
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

    def _identity(self, who: Demographics) -> str:
        """The throttle's per-identity subject: an HMAC, since names + DOB are guessable."""
        n = normalise(who.for_matching())
        text = f"{n.first}|{n.last}|{n.dob.isoformat()}"
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

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
        if not self._throttle.allow(
            SIGNUP_IDENTITY_SCOPE,
            self._identity(who),
            limit=SIGNUP_IDENTITY_LIMIT,
            window=THROTTLE_WINDOW,
        ):
            return self._finish_quietly(flow_id, who, meta, reason="throttled_identity")
        # Single use: of two concurrent submissions of one flow, one completes.
        if self._store.take(f"signup:{flow_id}") is None:
            return SignupOutcome(SignupState.EXPIRED)
        try:
            step = self._complete(who, form, meta)
        except DuplicateError:
            # Taken between the check and the insert by a concurrent sign-up.
            self._save(flow_id, who, expires_at)
            taken = (Refusal("username", "username_taken"),)
            with self._db.transaction() as uow:
                self._audit(uow, meta, "failure", step="credentials", reasons=["username_taken"])
            return SignupOutcome(SignupState.CREDENTIALS, flow_id, taken)
        return self._offer_phone(step)

    def _finish_quietly(
        self, flow_id: str, who: Demographics, meta: RequestMeta, *, reason: str
    ) -> SignupOutcome:
        """A throttled completion: nothing created or sent, the usual page shown."""
        self._store.delete(f"signup:{flow_id}")
        with self._db.transaction() as uow:
            self._audit(uow, meta, "failure", step="credentials", reason=reason)
        return self._offer_phone({"match": None, "email": who.email})

    def _complete(
        self, who: Demographics, form: CredentialsInput, meta: RequestMeta
    ) -> dict[str, Any]:
        """Act on the match; returns the phone step's record (what a proven phone means)."""
        # Hashed on every path, before the transaction: the same argon2 work whatever
        # matched, and no write lock held while hashing.
        password_hash = self._hashing.hash(form.password)
        answers = hash_questions(form.questions, self._hashing)
        override = self._match(who) if self._match is not None else None
        with self._db.transaction() as uow:
            now = self._clock()
            if override is not None or self._secret is None:
                finding = Finding(IdentityMatch.NONE)
            else:
                finding = find_match(
                    uow, who.for_matching(), secret=self._secret, region=self._region
                )
            audit_match = (override or finding.kind).value
            step: dict[str, Any] = {"match": audit_match, "email": who.email}
            if finding.kind is IdentityMatch.EXACT:
                self._tell_existing(uow, finding, now=now)
                self._audit(
                    uow,
                    meta,
                    "success",
                    step="credentials",
                    reason="existing_account",
                    match=audit_match,
                    subject=finding.matches[0][0].subject,
                )
                return {**step, "candidates": self._phone_candidates(finding)}
            if finding.kind is IdentityMatch.CLOSE:
                enrollment_id = self._enroll(uow, who, form, password_hash, answers, finding, now)
                self._audit(
                    uow,
                    meta,
                    "success",
                    step="credentials",
                    reason="enrollment",
                    match=audit_match,
                    subject=finding.matches[0][0].subject,
                    enrollment_id=enrollment_id,
                )
                return {
                    **step,
                    "enrollment_id": enrollment_id,
                    "candidates": self._phone_candidates(finding),
                }
            owners = uow.accounts.by_email(who.email)
            if owners:
                self._notify_owners(uow, owners, now=now)
                self._audit(
                    uow,
                    meta,
                    "success",
                    step="credentials",
                    reason="email_in_use",
                    match=audit_match,
                    subject=owners[0].subject,
                )
                return step
            person = NewPerson(
                first_name=who.first_name,
                last_name=who.last_name,
                dob=who.dob,
                zip=who.zip,
                gender=who.gender,
                email=who.email,
            )
            account = uow.accounts.add(
                username=form.username,
                password_hash=password_hash,
                email=who.email,
                now=now,
                status="pending",
                person=person,
            )
            if self._secret is not None and account.person is not None:
                uow.candidates.index_person(
                    account.person.id, person, secret=self._secret, fresh=True
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
                match=audit_match,
                subject=account.subject,
            )
            return {**step, "account_id": account.id}

    @staticmethod
    def _phone_candidates(finding: Finding) -> list[int]:
        return [c.account_id for c, _ in finding.matches[:MAX_PHONE_CANDIDATES]]

    def _tell_existing(self, uow: UnitOfWork, finding: Finding, *, now: datetime) -> None:
        """Exact match (FAQ 003): the user ID and practices, to the verified address on file.

        An account whose address is not verified yet (a sign-up never confirmed) gets
        the "someone tried to sign up" notice instead, with the resend link. Nothing the
        requester typed goes into either message.
        """
        for candidate, _ in finding.matches:
            if not candidate.email:
                continue
            try:
                if candidate.email_verified and candidate.status != "pending":
                    self._notifier.email(
                        uow,
                        to=candidate.email,
                        template="signup_existing_account",
                        context={
                            "username": candidate.username,
                            "practices": uow.candidates.listed_practices(candidate.account_id),
                            "login_url": f"{self._issuer}/login",
                            "forgot_password_url": f"{self._issuer}/forgot-password",
                        },
                        now=now,
                    )
                else:
                    self._notifier.email(
                        uow,
                        to=candidate.email,
                        template="signup_email_in_use",
                        context={
                            "login_url": f"{self._issuer}/login",
                            "resend_url": f"{self._issuer}/signup/resend",
                            "pending": candidate.status == "pending",
                        },
                        now=now,
                    )
            except InvalidEmailAddress:
                continue  # an address stored before today's checks; the reply stays the same

    def _enroll(
        self,
        uow: UnitOfWork,
        who: Demographics,
        form: CredentialsInput,
        password_hash: str,
        answers: Sequence[Any],
        finding: Finding,
        now: datetime,
    ) -> int:
        """Close match without proof (FAQ 004): an enrollment for staff, and a note by email.

        It holds what the account would be made of: hashes only (invariant 5). Proving
        the phone on the matched record later withdraws it.
        """
        best, result = finding.matches[0]
        enrollment = uow.enrollments.add(
            email=who.email,
            candidate_account_id=best.account_id,
            now=now,
            data={
                "username": form.username.strip(),
                "password_hash": password_hash,
                "answers": [asdict(a) for a in answers],
                "demographics": {**asdict(who), "dob": who.dob.isoformat()},
                "terms_accepted_at": now.isoformat(),
                "match_reasons": list(result.reasons),
                "match_score": result.score,
                "phone_verified": None,
            },
        )
        self._notifier.email(
            uow,
            to=who.email,
            template="signup_enrollment_received",
            context={"business_days": "3-5"},
            now=now,
        )
        return enrollment.id

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
        send_verification_link(
            uow,
            self._notifier,
            account_id=account_id,
            email=email,
            issuer=self._issuer,
            ttl=self._accounts.verify_link_ttl,
            now=now,
        )

    # --- "verify by phone number" ------------------------------------------------------

    def _offer_phone(self, step: dict[str, Any]) -> SignupOutcome:
        """Every completed sign-up ends here, with a phone step of its own."""
        flow_id = secrets.token_urlsafe(32)
        step = {**step, "expires_at": self._clock().timestamp() + FLOW_TTL, "sends": 0}
        self._put_phone(flow_id, step)
        return SignupOutcome(SignupState.CHECK_EMAIL, flow_id=flow_id, email=step["email"])

    def _put_phone(self, flow_id: str, step: dict[str, Any]) -> None:
        ttl = step["expires_at"] - self._clock().timestamp()
        self._store.put(f"signup_phone:{flow_id}", json.dumps(step), ttl=max(ttl, 1))

    def _load_phone(self, flow_id: str) -> dict[str, Any] | None:
        if not _FLOW_ID.fullmatch(flow_id):
            return None
        raw = self._store.get(f"signup_phone:{flow_id}")
        if raw is None:
            return None
        step: dict[str, Any] = json.loads(raw)
        if self._clock().timestamp() >= step["expires_at"]:
            self._store.delete(f"signup_phone:{flow_id}")
            return None
        return step

    def _code_hash(self, flow_id: str, number: str, code: str) -> str:
        """Codes are stored as an HMAC bound to the flow and the number (invariant 5)."""
        text = f"{flow_id}|{number}|{code}"
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def send_phone_code(self, flow_id: str, phone: str, *, meta: RequestMeta) -> SignupOutcome:
        """Text a 6-digit code to the number typed; the same page whatever happens next.

        Throttled (per sign-up, per number, per client address) or while the number is
        locked after wrong codes, nothing is sent, and the page says the same.
        """
        step = self._load_phone(flow_id)
        if step is None:
            return SignupOutcome(SignupState.EXPIRED)
        try:
            number = normalize_phone(phone, region=self._region)
        except InvalidPhoneNumber:
            refused = (Refusal("phone", "phone_invalid"),)
            return SignupOutcome(SignupState.CHECK_EMAIL, flow_id, refused, email=step["email"])
        now = self._clock()
        reason = None
        if step["sends"] >= MAX_CODES_PER_FLOW:
            reason = "throttled_flow"
        elif not self._throttle.allow(
            SMS_NUMBER_SCOPE, number, limit=SMS_NUMBER_LIMIT, window=THROTTLE_WINDOW
        ):
            reason = "throttled_number"
        elif not self._throttle.allow(
            SMS_IP_SCOPE, meta.ip or "unknown", limit=SMS_IP_LIMIT, window=THROTTLE_WINDOW
        ):
            reason = "throttled_ip"
        elif self._lockout and self._lockout.counter.locked_for(PHONE_LOCK_PREFIX + number):
            reason = "locked"
        # A code is made either way; unsent, it can never be typed right.
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        step = {
            **step,
            "sends": step["sends"] + 1,
            "code": {
                "hash": self._code_hash(flow_id, number, code),
                "number": number,
                "expires_at": (now + timedelta(seconds=CODE_TTL)).timestamp(),
            },
            "expires_at": max(step["expires_at"], now.timestamp() + CODE_TTL),
        }
        self._put_phone(flow_id, step)
        with self._db.transaction() as uow:
            if reason is None:
                self._notifier.sms(
                    uow,
                    to=number,
                    template="signup_phone_code",
                    context={"code": code, "minutes": CODE_TTL // 60},
                    now=now,
                )
            self._audit(
                uow,
                meta,
                "success" if reason is None else "failure",
                step="phone_code_sent",
                match=step["match"],
                reason=reason,
            )
        return SignupOutcome(SignupState.PHONE_CODE, flow_id, email=step["email"], phone=number)

    def confirm_phone_code(self, flow_id: str, code: str, *, meta: RequestMeta) -> SignupOutcome:
        """Check a texted code: single use, 10 minutes, 5 tries, each failure locked-out."""
        step = self._load_phone(flow_id)
        if step is None:
            return SignupOutcome(SignupState.EXPIRED)
        sent = step.get("code")
        if not sent:  # no code asked for yet (or already used): back to the offer
            return SignupOutcome(SignupState.CHECK_EMAIL, flow_id, email=step["email"])
        number = sent["number"]

        def again(code_id: str) -> SignupOutcome:
            return SignupOutcome(
                SignupState.PHONE_CODE,
                flow_id,
                (Refusal("code", code_id),),
                email=step["email"],
                phone=number,
            )

        now = self._clock()
        if now.timestamp() >= sent["expires_at"]:
            return again("code_expired")
        # Every try counts, atomically, before the code is looked at: per code (5, then it
        # is dead) and toward the credential lockout of this number (invariant 6).
        tries = self._store.hit(f"signup_code_tries:{sent['hash'][:32]}", ttl=CODE_TTL)
        lock_key = PHONE_LOCK_PREFIX + number
        reservation = self._lockout.reserve(lock_key) if self._lockout else None
        if tries > MAX_CODE_TRIES or (reservation is not None and reservation.locked):
            with self._db.transaction() as uow:
                self._audit(
                    uow, meta, "failure", step="phone_code", match=step["match"], reason="locked"
                )
            return again("code_locked")
        typed = _CODE_SEPARATORS.sub("", code)[:16]
        right = hmac.compare_digest(sent["hash"], self._code_hash(flow_id, number, typed))
        if right:
            # Single use: of two concurrent right answers, one takes the record.
            taken = self._store.take(f"signup_phone:{flow_id}")
            current = json.loads(taken) if taken is not None else None
            right = current is not None and (current.get("code") or {}).get("hash") == sent["hash"]
            if current is not None and not right:
                self._put_phone(flow_id, current)  # a newer code replaced this one meanwhile
        if not right:
            with self._db.transaction() as uow:
                locked = False
                if reservation is not None and self._lockout is not None:
                    locked = self._lockout.failed(
                        uow, reservation, None, meta=meta, now=now, source="signup_phone"
                    )
                self._audit(
                    uow,
                    meta,
                    "failure",
                    step="phone_code",
                    match=step["match"],
                    reason="code_invalid",
                )
            return again("code_locked" if locked or tries >= MAX_CODE_TRIES else "code_invalid")
        if self._lockout is not None:
            self._lockout.succeeded(lock_key)
        return self._phone_proven(step, number, meta=meta, now=now)

    def _phone_proven(
        self, step: dict[str, Any], number: str, *, meta: RequestMeta, now: datetime
    ) -> SignupOutcome:
        with self._db.transaction() as uow:
            owner = next(
                (
                    account_id
                    for account_id in step.get("candidates", [])
                    if number in uow.candidates.phones_of(account_id, region=self._region)
                ),
                None,
            )
            if owner is not None:
                # The phone on the matched record answered: this is that person. Say an
                # account exists instead of making a second one (no user ID shown; the
                # recovery pages send it to the address on file).
                if step.get("enrollment_id"):
                    uow.enrollments.decide(
                        step["enrollment_id"],
                        status=EnrollmentStatus.WITHDRAWN,
                        by="applicant:phone",
                        reason="phone_on_record_verified",
                        now=now,
                    )
                account = uow.accounts.by_id(owner)
                self._audit(
                    uow,
                    meta,
                    "success",
                    step="phone_verified",
                    match=step["match"],
                    reason="existing_account",
                    subject=account.subject if account else None,
                    enrollment_id=step.get("enrollment_id"),
                )
                return SignupOutcome(SignupState.EXISTING_ACCOUNT)
            subject = None
            if step.get("account_id"):
                account = uow.accounts.by_id(step["account_id"])
                if account is not None and account.status in ("pending", "active"):
                    uow.accounts.set_phone(account.id, number, verified=True, now=now)
                    if self._secret is not None and account.person is not None:
                        uow.candidates.add_keys(
                            account.person.id,
                            NewPerson(
                                first_name=account.person.first_name,
                                last_name=account.person.last_name,
                                dob=account.person.dob,
                                zip=account.person.zip,
                                gender=account.person.gender,
                                email=account.email,
                                phone=number,
                            ),
                            secret=self._secret,
                        )
                    subject = account.subject
            elif step.get("enrollment_id"):
                uow.enrollments.note_verified_phone(step["enrollment_id"], number)
            self._audit(
                uow,
                meta,
                "success",
                step="phone_verified",
                match=step["match"],
                subject=subject,
                enrollment_id=step.get("enrollment_id"),
            )
        return SignupOutcome(SignupState.PHONE_DONE, email=step["email"])

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
        """One "signup" event per step; codes and the match class only, never what was
        typed (names, date of birth, answers, phone numbers, codes)."""
        uow.audit.record(
            AuditEntry(
                type="signup",
                outcome=outcome,
                # Nobody is signed in during sign-up; the account concerned is the subject.
                actor="anonymous",
                subject=subject,
                ip=meta.ip,
                user_agent=meta.user_agent,
                details={"step": step, **{k: v for k, v in details.items() if v is not None}},
            ),
            now=self._clock(),
        )
