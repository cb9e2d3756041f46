"""Self sign-up: two steps, identity matching, then email and an optional phone step.

Issue 3 built the steps; issue 5 adds matching against known patients (portal FAQ
``003``: exact match → the user ID by email; close match → "verify by phone number")
and staff review of unproven close matches (FAQ ``004``)::

    GET /signup ─► DEMOGRAPHICS ─(refused: reasons per field)─► DEMOGRAPHICS
                       │ name, date of birth, zip, gender, email valid:
                       ▼ record "signup:<id>" kept 30 min; <id> rides in field ``f``
                   CREDENTIALS ─(refused: user ID taken or reserved, password,
                       │         questions, terms)─► CREDENTIALS
                       │ valid; throttles (address, email, identity); user ID reserved
                       │ (SET NX, verify_link_ttl); record taken (single use); argon2
                       │ hashes made and candidates compared on every path
                       ├─ exact ─────────────► nothing created; user ID and practices mailed
                       │                        to the verified address on file
                       ├─ close ─────────────► enrollment pending staff review; the typed
                       │                        address is told it is being reviewed
                       ├─ none, email in use ─► nothing created; notice to the owner
                       ├─ none ──────────────► nothing created in SQL: a pending
                       │                        registration waits for the mailed link
                       │                        (idp.flows.signup_links), which creates
                       │                        the account, active
                       └─ throttled ─────────► nothing done, nothing reserved
                       ▼
                   CHECK_EMAIL, one page for all, offering "verify by phone number"
                   (idp.flows.signup_phone)

Enumeration (security invariant 4; NIST SP 800-63A-4 §3.1.2.1 "no data washing",
standards.md rows 17 and 21). What the person typing can see is the same for every
branch: step 2 ends on CHECK_EMAIL, the phone step on PHONE_CODE, a right code for a
number not on a matching record on PHONE_DONE, and throttles end there too. The only
fact shown on screen is that a user ID is taken (issue 3), and EXISTING_ACCOUNT, shown
only after a code texted to the phone *on the matched record* came back. Both
completion paths spend the same argon2 work and the same candidate search.

What every branch leaves *behind* is the same too: the chosen user ID reserved for the
link's lifetime and no account. So signing in with the chosen user ID and password
afterwards says "invalid credentials" (as for any unknown user ID), and a later
sign-up choosing it hears "taken" until the reservation ends, whatever matched (see
:mod:`idp.flows.signup_links`). Before, a no-match sign-up made a pending account at
once, which answered "email not verified" and kept its user ID: the branch showed.

Mail, by design of the issue, does differ: whoever controls the typed address learns
the branch from what arrives (for exact that address *is* the account's verified one;
for close, "staff will review" tells the mailbox's owner that the details resembled a
record).

The modules: this one (steps 1-2 and the branch decision),
:mod:`idp.policies.demographics` (pure step-1 checks), :mod:`idp.flows.signup_phone`
(the phone step), :mod:`idp.flows.signup_links` (pending registrations, user-ID
reservations, the verification link, resend), :mod:`idp.flows.signup_common`
(pages, outcomes, the audit). Names other code imported from here still are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import InvalidEmailAddress, Notifier, check_email_address
from idp.policies.demographics import (
    EARLIEST_DOB,
    GENDERS,
    MAX_NAME,
    Demographics,
    DemographicsInput,
    Refusal,
    age_on,
)
from idp.policies.demographics import check_demographics as _check_demographics
from idp.policies.matching import Demographics as MatchDemographics
from idp.policies.matching import MatchKind, MatchResult, compare_normalised, normalise
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, RequestMeta
from idp.settings import AccountSettings
from idp.store.candidates import Candidate
from idp.store.durable import Database, UnitOfWork
from idp.store.interfaces import EphemeralStore
from idp.store.throttle import Throttle

from .credentials import CredentialRules, hash_questions
from .lockout import CredentialLockout
from .methods.password import PasswordHashing
from .signup_common import (
    FLOW_ID_RE,
    FLOW_TTL,
    THROTTLE_WINDOW,
    USERNAME_RE,
    SignupContext,
    SignupOutcome,
    SignupState,
)
from .signup_links import (
    RESEND_EMAIL_LIMIT,
    RESEND_EMAIL_SCOPE,
    RESEND_IP_LIMIT,
    RESEND_IP_SCOPE,
    VERIFY_PURPOSE,
    PendingRegistration,
    SignupLinks,
    send_verification_link,
    token_hash,
    valid_for,
)
from .signup_phone import (
    CODE_DIGITS,
    CODE_TTL,
    MAX_CODE_TRIES,
    MAX_CODES_PER_FLOW,
    MAX_PHONE_CANDIDATES,
    PHONE_LOCK_PREFIX,
    SMS_IP_LIMIT,
    SMS_IP_SCOPE,
    SMS_NUMBER_LIMIT,
    SMS_NUMBER_SCOPE,
    PhoneStep,
)

if TYPE_CHECKING:
    from idp.services import Services

# Names other modules and tests import from here (the module was split by concept).
__all__ = [
    "CODE_DIGITS",
    "CODE_TTL",
    "EARLIEST_DOB",
    "FLOW_TTL",
    "GENDERS",
    "MAX_CODES_PER_FLOW",
    "MAX_CODE_TRIES",
    "MAX_NAME",
    "MAX_PASSWORD_INPUT",
    "MAX_PHONE_CANDIDATES",
    "PHONE_LOCK_PREFIX",
    "RESEND_EMAIL_LIMIT",
    "RESEND_EMAIL_SCOPE",
    "RESEND_IP_LIMIT",
    "RESEND_IP_SCOPE",
    "SIGNUP_EMAIL_LIMIT",
    "SIGNUP_EMAIL_SCOPE",
    "SIGNUP_IDENTITY_LIMIT",
    "SIGNUP_IDENTITY_SCOPE",
    "SIGNUP_IP_LIMIT",
    "SIGNUP_IP_SCOPE",
    "SMS_IP_LIMIT",
    "SMS_IP_SCOPE",
    "SMS_NUMBER_LIMIT",
    "SMS_NUMBER_SCOPE",
    "THROTTLE_WINDOW",
    "USERNAME_RE",
    "VERIFY_PURPOSE",
    "CredentialsInput",
    "Demographics",
    "DemographicsInput",
    "Finding",
    "IdentityMatch",
    "IdentityMatcher",
    "Refusal",
    "RegistrationFlow",
    "SignupOutcome",
    "SignupState",
    "age_on",
    "check_demographics",
    "find_match",
    "no_match",
    "send_verification_link",
    "token_hash",
    "valid_for",
]

MAX_PASSWORD_INPUT = 1024

# Throttles (fixed windows). Sign-up completions per client address, per email (a
# stranger must not fill someone's inbox) and per identity (name + DOB: the same
# person's details tried again and again, whatever the address).
SIGNUP_IP_SCOPE, SIGNUP_IP_LIMIT = "signup_ip", 20
SIGNUP_EMAIL_SCOPE, SIGNUP_EMAIL_LIMIT = "signup_email", 5
SIGNUP_IDENTITY_SCOPE, SIGNUP_IDENTITY_LIMIT = "signup_identity", 5

_USERNAME = USERNAME_RE
_KEY_LABEL = b"idp sign-up codes and identity throttle v1"


class IdentityMatch(StrEnum):
    """What matching the demographics against known patients found (the audit's class).

    Whatever it finds, the person signing up sees the same pages: NIST SP 800-63A-4
    §3.1.2.1 item 4 forbids letting an applicant infer whether their data matched.
    """

    NONE = "none"
    CLOSE = "close"
    EXACT = "exact"


@dataclass(frozen=True, slots=True)
class CredentialsInput:
    username: str
    password: str
    questions: Sequence[QuestionChoice]
    accept_terms: bool


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


def check_demographics(
    form: DemographicsInput, *, today: date, min_age: int
) -> tuple[Demographics | None, list[Refusal]]:
    """Step 1's checks (:mod:`idp.policies.demographics`) with the email check every mail uses."""
    return _check_demographics(form, today=today, min_age=min_age, check_email=check_email_address)


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


class _UserIdTaken(Exception):
    """The user ID became a real account between the check and the branch."""


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
        self._ctx = SignupContext(
            db=db,
            store=ephemeral,
            hashing=hashing,
            throttle=throttle,
            notifier=notifier,
            clock=clock,
            accounts=accounts,
            issuer=issuer.rstrip("/"),
            secret=matching_secret,
            # Its own key for codes and the identity throttle, apart from the blocking keys'.
            key=(
                hmac.new(matching_secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()
                if matching_secret
                else secrets.token_bytes(32)
            ),
            lockout=lockout,
            region=phone_region,
        )
        self._db = db
        self._store = ephemeral
        self._hashing = hashing
        self._credentials = credentials
        self._throttle = throttle
        self._notifier = notifier
        self._clock = clock
        self._accounts = accounts
        self._issuer = self._ctx.issuer
        self._secret = matching_secret
        self._region = phone_region
        self._match = match_existing
        self.links = SignupLinks(self._ctx)
        self.phone = PhoneStep(self._ctx, self.links)

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
            self._ctx.audit(uow, meta, "success", step="demographics")
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
        if not FLOW_ID_RE.fullmatch(flow_id):
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
        return hmac.new(self._ctx.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def _taken(self, flow_id: str, meta: RequestMeta) -> SignupOutcome:
        with self._db.transaction() as uow:
            self._ctx.audit(uow, meta, "failure", step="credentials", reasons=["username_taken"])
        taken = (Refusal("username", "username_taken"),)
        return SignupOutcome(SignupState.CREDENTIALS, flow_id, taken)

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

        reservations = self.links.reservations
        with self._db.transaction() as uow:
            # The one thing sign-up may reveal (issue 3): this user ID is taken, by an
            # account or by a sign-up in progress (any branch), alike.
            if _USERNAME.fullmatch(form.username) and (
                uow.accounts.by_username(form.username) or reservations.held(form.username)
            ):
                refusals.insert(0, Refusal("username", "username_taken"))
            if refusals:
                self._ctx.audit(
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
        # Every branch holds the user ID for the link's lifetime, so what is left behind
        # does not tell the branches apart (signup_links). Atomic: one of two racing
        # sign-ups gets it.
        rid = secrets.token_urlsafe(16)
        username = form.username.strip()
        if not reservations.reserve(username, rid, ttl=self._accounts.verify_link_ttl):
            return self._taken(flow_id, meta)
        # Single use: of two concurrent submissions of one flow, one completes.
        if self._store.take(f"signup:{flow_id}") is None:
            reservations.release(username, rid)
            return SignupOutcome(SignupState.EXPIRED)
        try:
            step = self._complete(who, form, rid, meta)
        except _UserIdTaken:
            # An account took it between the check and now (not through sign-up).
            reservations.release(username, rid)
            self._save(flow_id, who, expires_at)
            return self._taken(flow_id, meta)
        return self.phone.offer(step)

    def _finish_quietly(
        self, flow_id: str, who: Demographics, meta: RequestMeta, *, reason: str
    ) -> SignupOutcome:
        """A throttled completion: nothing created, reserved or sent; the usual page shown."""
        self._store.delete(f"signup:{flow_id}")
        with self._db.transaction() as uow:
            self._ctx.audit(uow, meta, "failure", step="credentials", reason=reason)
        return self.phone.offer({"match": None, "email": who.email})

    def _complete(
        self, who: Demographics, form: CredentialsInput, rid: str, meta: RequestMeta
    ) -> dict[str, Any]:
        """Act on the match; returns the phone step's record (what a proven phone means)."""
        # Hashed on every path, before the transaction: the same argon2 work whatever
        # matched, and no write lock held while hashing.
        password_hash = self._hashing.hash(form.password)
        answers = hash_questions(form.questions, self._hashing)
        override = self._match(who) if self._match is not None else None
        with self._db.transaction() as uow:
            now = self._clock()
            # Checked again on every path alike: the user ID may have become an account.
            if uow.accounts.by_username(form.username) is not None:
                raise _UserIdTaken
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
                self._ctx.audit(
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
                enrollment_id = self._enroll(
                    uow, who, form, password_hash, answers, finding, rid, now
                )
                self._ctx.audit(
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
            waiting = self.links.pending.at(who.email)
            if owners or waiting:
                self._notify_owners(uow, owners, waiting, now=now)
                self._ctx.audit(
                    uow,
                    meta,
                    "success",
                    step="credentials",
                    reason="email_in_use",
                    match=audit_match,
                    subject=owners[0].subject if owners else None,
                )
                return step
            self.links.issue(
                uow,
                PendingRegistration(
                    rid=rid,
                    username=form.username.strip(),
                    email=who.email,
                    password_hash=password_hash,
                    answers=tuple(asdict(a) for a in answers),
                    demographics={**asdict(who), "dob": who.dob.isoformat()},
                    terms_accepted_at=now.isoformat(),
                    expires_at=0.0,  # set by issue()
                ),
                now=now,
            )
            self._ctx.audit(
                uow, meta, "success", step="credentials", reason="pending", match=audit_match
            )
            return {**step, "registration": rid}

    @staticmethod
    def _phone_candidates(finding: Finding) -> list[int]:
        return [c.account_id for c, _ in finding.matches[:MAX_PHONE_CANDIDATES]]

    def _tell_existing(self, uow: UnitOfWork, finding: Finding, *, now: datetime) -> None:
        """Exact match (FAQ 003): the user ID and practices, to the verified address on file.

        An account whose address is not verified yet (an approved enrollment never
        confirmed) gets the "someone tried to sign up" notice instead, with the resend
        link. Nothing the requester typed goes into either message.
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
                    self._email_in_use(uow, candidate.email, candidate.status == "pending", now)
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
        rid: str,
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
                # The user-ID reservation it holds (approval may release it).
                "reservation": rid,
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
        self,
        uow: UnitOfWork,
        owners: list[AccountRecord],
        waiting: list[PendingRegistration],
        *,
        now: datetime,
    ) -> None:
        """Tell each owner (account, or sign-up waiting for its link) someone tried.

        Nothing the requester typed goes into the message: it reaches a stranger's
        inbox, and a "name" could be a phishing line.
        """
        seen: set[str] = set()
        addresses = [(o.email, o.status == "pending") for o in owners if o.email]
        addresses += [(w.email, True) for w in waiting]
        for address, pending in addresses:
            if address.casefold() in seen:
                continue
            seen.add(address.casefold())
            try:
                self._email_in_use(uow, address, pending, now)
            except InvalidEmailAddress:
                # An address stored before today's checks: skip it, the reply stays the same.
                continue

    def _email_in_use(self, uow: UnitOfWork, to: str, pending: bool, now: datetime) -> None:
        self._notifier.email(
            uow,
            to=to,
            template="signup_email_in_use",
            context={
                "login_url": f"{self._issuer}/login",
                "resend_url": f"{self._issuer}/signup/resend",
                "pending": pending,
            },
            now=now,
        )

    # --- the phone step and the link (their own modules) ----------------------------------

    def send_phone_code(self, flow_id: str, phone: str, *, meta: RequestMeta) -> SignupOutcome:
        return self.phone.send_code(flow_id, phone, meta=meta)

    def confirm_phone_code(self, flow_id: str, code: str, *, meta: RequestMeta) -> SignupOutcome:
        return self.phone.confirm_code(flow_id, code, meta=meta)

    def link_is_live(self, token: str) -> bool:
        return self.links.link_is_live(token)

    def verify(self, token: str, *, meta: RequestMeta) -> SignupOutcome:
        return self.links.verify(token, meta=meta)

    def choose_user_id(self, flow_id: str, username: str, *, meta: RequestMeta) -> SignupOutcome:
        return self.links.choose_user_id(flow_id, username, meta=meta)

    def resend(self, email: str, *, meta: RequestMeta) -> bool:
        return self.links.resend(email, meta=meta)

    def complete_resend(self, payload: Mapping[str, Any]) -> None:
        """The outbox worker's task queued by :meth:`resend`."""
        self.links.complete_resend(payload)

    @classmethod
    def from_services(cls, services: Services) -> RegistrationFlow:
        """The flow as the web layer and the outbox worker build it."""
        return cls(
            db=services.db,
            ephemeral=services.ephemeral,
            hashing=services.hashing,
            credentials=services.credentials,
            throttle=services.throttle,
            notifier=services.notifier,
            clock=services.clock,
            accounts=services.settings.accounts,
            issuer=services.settings.issuer,
            matching_secret=services.settings.secret_key,
            lockout=services.lockout,
            phone_region=services.settings.sms.phone_region,
        )
