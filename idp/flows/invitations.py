"""Practice invitations (issue 5; portal FAQ "My practice sent me an invitation").

A practice (its own system through the JSON API, or staff) invites one of its patient
records; the patient gets an email with a "Sign up for an account" link carrying an
activation code, proves the date of birth and zip on file, then either signs in with
the account they already have (one login, many practices) or creates one. Either way
the account is linked to the practice's record (a PortalLink) and signed in.

::

    GET /activate?code=C ─► VERIFY  (record "invite-flow:<sha256(id)>", 30 min; <id> in field
         │                   "flow"; nothing is looked up and the code is never used on GET)
         │  POST dob + zip
         ├─ mismatch, unknown / expired / revoked / used code, locked ─► VERIFY + one neutral
         │     message (counted: lockout key "invite:<sha256(C)[:32]>")
         ▼  match (counter cleared)
       CHOOSE ─┬─ "I already have an account": sign in (LoginFlow) ─┐
               └─ "Create an account": user ID, password, questions, terms ─┤
                                    invitation used atomically, account linked ◄┘
                                                       ▼
                                          DONE (the view starts the SSO session)
    record missing or past its expiry ─► EXPIRED (open the link again)

Security invariants kept here:

* 4 (no enumeration): before DOB and zip match, every answer is the same VERIFY page
  with the same neutral message whatever the code was; "resend my code" always
  answers the same. What CHOOSE may reveal (an account uses the invitation's email)
  is shown only to whoever proved code, date of birth and zip.
* 5: the code is 128 random bits, stored only as SHA-256; never logged or audited.
* 6: every wrong DOB/zip counts on the invitation's lockout key, reserved before the
  check. After ``max_failures`` the invitation is locked for ``lock_seconds`` (same
  reply); after ``hard_cap`` failures in all it is revoked (the practice re-invites).
* 9: creating, revoking, verifying and activating are audited in the transaction
  that changes them; the actor is ``client:<id>``, ``staff:<name>`` or the account.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import InvalidEmailAddress, Notifier, check_email_address
from idp.policies.lockout import reaches_hard_cap
from idp.policies.matching import normalise_gender, normalise_zip
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, AuditEntry, PortalRecord, RequestMeta
from idp.store.accounts import DuplicateError, NewPerson
from idp.store.attempts import TOTAL_FAILURES_TTL
from idp.store.candidates import index_person
from idp.store.durable import Database, UnitOfWork
from idp.store.interfaces import EphemeralStore
from idp.store.invitations import InvitationRecord
from idp.store.links import DuplicateLinkError
from idp.store.throttle import Throttle

from .authn.flow import SETUP_PATH, Authenticated, AuthnFlow, Entry
from .base import Done, Redirect
from .credentials import CredentialRules, hash_questions
from .forgot_id import parse_birth_date
from .lockout import CredentialLockout
from .methods.password import PasswordHashing

if TYPE_CHECKING:
    from idp.services import Services

# How long an invitation's code works: the 30 days. NIST SP 800-63A-4 §3.1.8
# (standards.md row 18) keeps emailed confirmation codes to 24 h; this code differs in
# being 128-bit, single use, useless without the date of birth and zip on file, and
# locked after a few wrong answers. Deployments may shorten it (IDP_INVITATION_TTL_DAYS).
DEFAULT_TTL_DAYS = 30
FLOW_TTL = 30 * 60
# secrets.token_urlsafe(16): 128 random bits, 22 characters.
CODE_BYTES = 16
MAX_NAME = 100
MAX_PATIENT_ID = 64
EARLIEST_DOB = date(1900, 1, 1)
MAX_PASSWORD_INPUT = 1024
# Sign-up's vocabulary, so persons made from invitations look like self-made ones.
GENDER_NAMES = {"F": "female", "M": "male", "X": "other"}
UNKNOWN_GENDERS = frozenset({"u", "unknown", "unk", "declined", "undisclosed", "notstated"})

# Verification failures per client address before every attempt from it gets the
# neutral reply for the window (like sign-in's address throttle).
VERIFY_IP_SCOPE = "invite_verify_ip"
# "Resend my code": requests per client address, and codes mailed per address.
RESEND_IP_SCOPE, RESEND_IP_LIMIT = "invite_resend_ip", 10
RESEND_EMAIL_SCOPE, RESEND_EMAIL_LIMIT = "invite_resend_email", 3
RESEND_WINDOW = 3600

_CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_FLOW_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ZIP = re.compile(r"[0-9]{5}(-?[0-9]{4})?")
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{3,64}")
# Control characters, unpaired surrogates, line and paragraph separators (as sign-up).
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def code_hash(code: str) -> str:
    """Codes carry 128 random bits, so SHA-256 is enough at rest (invariant 5)."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def lock_key(hashed_code: str) -> str:
    return f"invite:{hashed_code[:32]}"


def _failures_key(key: str) -> str:
    """Failures across lock periods, toward the hard cap that revokes the invitation."""
    return f"invite-failures:{key}"


def _flow_key(flow_id: str) -> str:
    return "invite-flow:" + hashlib.sha256(flow_id.encode()).hexdigest()


def age_on(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


# --- creating an invitation: validation (pure) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class InvitationInput:
    """What a practice sends, as text (the API and the CLI parse to this)."""

    patient_id: str
    first_name: str
    last_name: str
    dob: str
    zip: str
    gender: str
    email: str


@dataclass(frozen=True, slots=True)
class NewInvitation:
    patient_id: str
    first_name: str
    last_name: str
    dob: date
    zip: str
    gender: str
    email: str


def _name(fields: dict[str, str], name: str, raw: str) -> str:
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in raw):
        fields[name] = f"{name}_invalid"
        return ""
    value = " ".join(unicodedata.normalize("NFC", raw).split())
    if not value:
        fields[name] = f"{name}_required"
    elif len(value) > MAX_NAME:
        fields[name] = f"{name}_too_long"
    return value


def _dob(fields: dict[str, str], raw: str, *, today: date, min_age: int) -> date | None:
    text = raw.strip()
    if not text:
        fields["dob"] = "dob_required"
        return None
    try:
        dob = date.fromisoformat(text) if _DOB.fullmatch(text) else None
    except ValueError:  # 2023-02-30 and friends
        dob = None
    if dob is None or dob < EARLIEST_DOB:
        fields["dob"] = "dob_invalid"
    elif dob > today:
        fields["dob"] = "dob_in_future"
    elif age_on(dob, today) < min_age:
        # A young child is a person without an account (DESIGN.md): parents get proxy access.
        fields["dob"] = "dob_under_min_age"
    else:
        return dob
    return None


def _gender(fields: dict[str, str], raw: str) -> str:
    text = re.sub(r"[^a-z]", "", raw.casefold())
    if not text:
        fields["gender"] = "gender_required"
        return ""
    if text in UNKNOWN_GENDERS:
        return "unknown"
    code = normalise_gender(text)
    if code is None:
        fields["gender"] = "gender_invalid"
        return ""
    return GENDER_NAMES[code]


def check_invitation(
    form: InvitationInput, *, today: date, min_age: int
) -> tuple[NewInvitation | None, dict[str, str]]:
    """Every problem at once, as ``{field: code}``; or the clean invitation."""
    fields: dict[str, str] = {}
    patient_id = form.patient_id.strip()
    if not patient_id:
        fields["patient_id"] = "patient_id_required"
    elif len(patient_id) > MAX_PATIENT_ID:
        fields["patient_id"] = "patient_id_too_long"
    elif not patient_id.isprintable() or any(c.isspace() for c in patient_id):
        # The same rule as `idp portals link`: the MRN travels in tokens as is.
        fields["patient_id"] = "patient_id_invalid"
    first_name = _name(fields, "first_name", form.first_name)
    last_name = _name(fields, "last_name", form.last_name)
    dob = _dob(fields, form.dob, today=today, min_age=min_age)
    zip_text = form.zip.strip()
    if not zip_text:
        fields["zip"] = "zip_required"
    elif not _ZIP.fullmatch(zip_text):
        fields["zip"] = "zip_invalid"
    gender = _gender(fields, form.gender)
    email = ""
    if not form.email.strip():
        fields["email"] = "email_required"
    elif any(unicodedata.category(c) in _BAD_CATEGORIES for c in form.email):
        fields["email"] = "email_invalid"
    else:
        try:
            email = check_email_address(form.email)
        except InvalidEmailAddress:
            fields["email"] = "email_invalid"
    if fields or dob is None:
        return None, fields
    return (
        NewInvitation(
            patient_id=patient_id,
            first_name=first_name,
            last_name=last_name,
            dob=dob,
            zip=normalise_zip(zip_text) or zip_text[:5],
            gender=gender,
            email=email,
        ),
        {},
    )


def typed_zip(raw: str) -> str | None:
    """A zip typed on a form: five digits or ZIP+4, compared on its first five."""
    text = raw.strip()
    return text[:5] if _ZIP.fullmatch(text) else None


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Created:
    invitation: InvitationRecord | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


class Revocation(StrEnum):
    REVOKED = "revoked"
    ALREADY_REVOKED = "already_revoked"
    ALREADY_ACTIVATED = "already_activated"
    NOT_FOUND = "not_found"


class Reissue(StrEnum):
    SENT = "sent"
    NOT_LIVE = "not_live"  # activated, revoked or expired: nothing to resend
    NOT_FOUND = "not_found"


class Step(StrEnum):
    CODE = "code"  # type the activation code
    VERIFY = "verify"  # date of birth and zip
    CHOOSE = "choose"  # sign in, or create an account
    DONE = "done"  # linked; the view starts the SSO session
    EXPIRED = "expired"  # the step record is gone: open the link again


@dataclass(frozen=True, slots=True)
class NewCredentials:
    username: str
    password: str
    questions: Sequence[QuestionChoice]
    accept_terms: bool


@dataclass(frozen=True, slots=True)
class ActivationView:
    """What the page shows. Before CHOOSE nothing here depends on the invitation."""

    step: Step
    status: int = 200
    flow_id: str | None = None
    message_id: str | None = None
    # (field, code) pairs: format problems, or refused credentials.
    reasons: tuple[tuple[str, str], ...] = ()
    portal_name: str | None = None
    # CHOOSE: an account already uses the invitation's email; offer signing in only.
    email_in_use: bool = False
    account: AccountRecord | None = None
    # DONE: the sign-in that completed it, for the web layer to turn into a session.
    authenticated: Authenticated | None = None
    # The sign-in stopped half-way (the second factor): where the browser goes next.
    redirect: str | None = None


@dataclass(frozen=True, slots=True)
class ResendResult:
    """``reasons`` only for malformed input; otherwise the same reply, always."""

    reasons: tuple[tuple[str, str], ...] = ()


NOT_VALID = "invitation_not_valid"


class _Abort(Exception):
    """Leave a transaction (rolling it back) and show ``view``; audit ``reason`` apart."""

    def __init__(self, view: ActivationView, reason: str) -> None:
        super().__init__(reason)
        self.view = view
        self.reason = reason


# --- the flow ------------------------------------------------------------------------------


class InvitationFlow:
    def __init__(
        self,
        *,
        db: Database,
        ephemeral: EphemeralStore,
        hashing: PasswordHashing,
        credentials: CredentialRules,
        lockout: CredentialLockout,
        authn: AuthnFlow,
        throttle: Throttle,
        notifier: Notifier,
        clock: Clock,
        issuer: str,
        min_age: int = 13,
        ip_failure_limit: int = 30,
        ip_failure_window: int = 15 * 60,
        invitation_ttl_days: int = DEFAULT_TTL_DAYS,
        secret_key: str = "",
    ) -> None:
        self._db = db
        self._store = ephemeral
        self._hashing = hashing
        self._credentials = credentials
        self._lockout = lockout
        self._authn = authn
        self._throttle = throttle
        self._notifier = notifier
        self._clock = clock
        self._issuer = issuer.rstrip("/")
        # Keys the HMAC of the candidate-search index (idp.store.sql.candidates).
        self._secret_key = secret_key
        self._min_age = min_age
        self._ip_limit = ip_failure_limit
        self._ip_window = ip_failure_window
        self._ttl = timedelta(days=invitation_ttl_days)

    @classmethod
    def from_services(cls, services: Services) -> InvitationFlow:
        settings = services.settings
        return cls(
            db=services.db,
            ephemeral=services.ephemeral,
            hashing=services.hashing,
            credentials=services.credentials,
            lockout=services.lockout,
            authn=services.authn,
            throttle=services.throttle,
            notifier=services.notifier,
            clock=services.clock,
            issuer=settings.issuer,
            min_age=settings.accounts.signup_min_age,
            ip_failure_limit=settings.accounts.ip_failure_limit,
            ip_failure_window=settings.accounts.ip_failure_window,
            invitation_ttl_days=settings.accounts.invitation_ttl_days,
            secret_key=settings.secret_key,
        )

    # --- practice and staff side -------------------------------------------------------

    def create(
        self,
        portal: PortalRecord,
        form: InvitationInput,
        *,
        actor: str,
        meta: RequestMeta,
        facts: Mapping[str, Any] | None = None,
    ) -> Created:
        """Validate, store (replacing the record's pending invitations) and email the code.

        ``facts`` (a staff operation's role, operation and reason) join the audit event.
        """
        now = self._clock()
        new, fields = check_invitation(form, today=now.date(), min_age=self._min_age)
        if new is None:
            return Created(fields=fields)
        code = secrets.token_urlsafe(CODE_BYTES)
        with self._db.transaction() as uow:
            invitation, superseded = uow.invitations.create(
                portal_id=portal.id,
                patient_id=new.patient_id,
                code_hash=code_hash(code),
                first_name=new.first_name,
                last_name=new.last_name,
                dob=new.dob,
                zip=new.zip,
                gender=new.gender,
                email=new.email,
                created_by=actor,
                now=now,
                expires_at=now + self._ttl,
            )
            for old in superseded:
                self._audit(
                    uow,
                    meta,
                    "invitation_revoked",
                    "success",
                    actor=actor,
                    invitation_id=old,
                    portal=portal.slug,
                    reason="superseded",
                )
            self._audit(
                uow, meta, "invitation_created", "success", invitation, actor=actor, **(facts or {})
            )
            self._send_code(uow, invitation, code, now=now, resent=False)
        return Created(invitation=invitation)

    def find(self, invitation_id: int, *, portal_id: int | None = None) -> InvitationRecord | None:
        """An invitation; with ``portal_id``, only one of that practice (others look absent)."""
        with self._db.transaction() as uow:
            found = uow.invitations.by_id(invitation_id)
        if found is None or (portal_id is not None and found.portal_id != portal_id):
            return None
        return found

    def list_for_portal(self, portal_id: int) -> list[InvitationRecord]:
        with self._db.transaction() as uow:
            return uow.invitations.for_portal(portal_id)

    def revoke(
        self,
        invitation_id: int,
        *,
        actor: str,
        meta: RequestMeta,
        portal_id: int | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> tuple[Revocation, InvitationRecord | None]:
        """Revoke a pending invitation (its code stops working at once)."""
        with self._db.transaction() as uow:
            found = uow.invitations.by_id(invitation_id)
            if found is None or (portal_id is not None and found.portal_id != portal_id):
                return Revocation.NOT_FOUND, None
            if found.status == "activated":
                return Revocation.ALREADY_ACTIVATED, found
            if not uow.invitations.revoke(found.id, now=self._clock()):
                return Revocation.ALREADY_REVOKED, found
            self._audit(
                uow,
                meta,
                "invitation_revoked",
                "success",
                found,
                actor=actor,
                **{"reason": "revoked", **(facts or {})},
            )
            return Revocation.REVOKED, uow.invitations.by_id(found.id)

    def reissue(
        self,
        invitation_id: int,
        *,
        actor: str,
        meta: RequestMeta,
        portal_id: int | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> tuple[Reissue, InvitationRecord | None]:
        """Staff resend: a new code emailed to the invitation's address; the old code
        stops working in the same UPDATE (``replace_code``). Only a live invitation."""
        now = self._clock()
        code = secrets.token_urlsafe(CODE_BYTES)
        with self._db.transaction() as uow:
            found = uow.invitations.by_id(invitation_id)
            if found is None or (portal_id is not None and found.portal_id != portal_id):
                return Reissue.NOT_FOUND, None
            if not uow.invitations.replace_code(found.id, code_hash(code), now=now):
                return Reissue.NOT_LIVE, found
            self._send_code(uow, found, code, now=now, resent=True)
            self._audit(
                uow, meta, "invitation_reissued", "success", found, actor=actor, **(facts or {})
            )
            return Reissue.SENT, found

    def _send_code(
        self,
        uow: UnitOfWork,
        invitation: InvitationRecord,
        code: str,
        *,
        now: datetime,
        resent: bool,
    ) -> None:
        """The invitation email: practice name, link, code, expiry date; nothing medical."""
        self._notifier.email(
            uow,
            to=invitation.email,
            template="invitation",
            context={
                "practice": invitation.portal_name,
                "link": f"{self._issuer}/activate?code={code}",
                "activate_url": f"{self._issuer}/activate",
                "resend_url": f"{self._issuer}/activate/resend",
                "code": code,
                "expires_on": f"{invitation.expires_at:%B} {invitation.expires_at.day}, "
                f"{invitation.expires_at.year}",
                "resent": resent,
            },
            now=now,
        )

    # --- patient side: step state ------------------------------------------------------

    def _save(self, flow_id: str, record: Mapping[str, Any]) -> None:
        self._store.put(_flow_key(flow_id), json.dumps(dict(record)), ttl=FLOW_TTL)

    def _load(self, flow_id: str, step: Step) -> dict[str, Any] | None:
        if not _FLOW_ID.fullmatch(flow_id):
            return None
        raw = self._store.get(_flow_key(flow_id))
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record if record.get("step") == step else None

    # --- step 1: open the link (or type the code) --------------------------------------

    def open(self, code: str) -> ActivationView:
        """Start a flow for ``code`` without looking it up (mail scanners open links too)."""
        code = "".join(code.split())
        if not code:
            return ActivationView(Step.CODE)
        if not _CODE.fullmatch(code):
            # A format problem only: the same for every code of this shape.
            return ActivationView(Step.CODE, status=400, message_id="invitation_code_malformed")
        flow_id = secrets.token_urlsafe(32)
        self._save(flow_id, {"step": Step.VERIFY, "code_hash": code_hash(code)})
        return ActivationView(Step.VERIFY, flow_id=flow_id)

    # --- step 2: date of birth and zip -------------------------------------------------

    def verify(
        self, flow_id: str, dob_text: str, zip_text: str, *, meta: RequestMeta
    ) -> ActivationView:
        flow = self._load(flow_id, Step.VERIFY)
        if flow is None:
            return ActivationView(Step.EXPIRED, status=400, message_id="invitation_flow_expired")
        now = self._clock()
        dob = parse_birth_date(dob_text, today=now.date())
        zip5 = typed_zip(zip_text)
        reasons = (() if dob else (("dob", "invitation_dob_invalid"),)) + (
            () if zip5 else (("zip", "invitation_zip_invalid"),)
        )
        if dob is None or zip5 is None:
            # Typing mistakes, the same whatever the code: not counted, not audited.
            return ActivationView(Step.VERIFY, status=400, flow_id=flow_id, reasons=reasons)
        neutral = ActivationView(Step.VERIFY, status=400, flow_id=flow_id, message_id=NOT_VALID)
        hashed = flow["code_hash"]
        key = lock_key(hashed)
        ip = meta.ip or "unknown"
        if self._throttle.exceeded(VERIFY_IP_SCOPE, ip, limit=self._ip_limit):
            with self._db.transaction() as uow:
                self._audit(
                    uow, meta, "invitation_verification", "failure", reason="address_throttled"
                )
            return neutral
        reservation = self._lockout.reserve(key)
        # A verification that dies (database down) releases its reservation (item 3).
        with self._db.transaction() as uow, self._lockout.releasing(reservation):
            invitation = uow.invitations.by_code(hashed)
            if reservation.locked:
                self._audit(
                    uow, meta, "invitation_verification", "failure", invitation, reason="locked"
                )
                return neutral
            reason = self._mismatch(invitation, dob, zip5, now)
            if reason is None and invitation is not None:
                self._lockout.succeeded(key)
                self._store.delete(_failures_key(key))
                self._audit(uow, meta, "invitation_verification", "success", invitation)
                in_use = bool(uow.accounts.by_email(invitation.email))
                self._save(flow_id, {"step": Step.CHOOSE, "invitation_id": invitation.id})
                return self._choose(flow_id, invitation, in_use)
            self._throttle.allow(VERIFY_IP_SCOPE, ip, limit=self._ip_limit, window=self._ip_window)
            started_lock = self._lockout.failed(
                uow, reservation, None, meta=meta, now=now, source="invitation"
            )
            total = self._store.hit(_failures_key(key), ttl=TOTAL_FAILURES_TTL)
            self._audit(uow, meta, "invitation_verification", "failure", invitation, reason=reason)
            if started_lock:
                self._audit(
                    uow,
                    meta,
                    "invitation_locked",
                    "failure",
                    invitation,
                    reason="temporarily_locked",
                )
            if (
                invitation is not None
                and reaches_hard_cap(total, self._lockout.rules)
                and uow.invitations.revoke(invitation.id, now=now)
            ):
                # Past the hard cap only the practice can help: it sends a new invitation.
                self._audit(
                    uow,
                    meta,
                    "invitation_revoked",
                    "success",
                    invitation,
                    actor="system",
                    reason="hard_cap",
                )
            return neutral

    @staticmethod
    def _mismatch(
        invitation: InvitationRecord | None, dob: date, zip5: str, now: datetime
    ) -> str | None:
        """Why verification fails (for the audit trail only; the reply is always the same)."""
        if invitation is None:
            return "unknown_code"
        if invitation.status != "pending":
            return f"invitation_{invitation.status}"
        if invitation.expires_at <= now:
            return "invitation_expired"
        if invitation.dob != dob:
            return "dob_mismatch"
        if invitation.zip[:5] != zip5:
            return "zip_mismatch"
        return None

    def _choose(
        self, flow_id: str, invitation: InvitationRecord, email_in_use: bool, **kw: Any
    ) -> ActivationView:
        return ActivationView(
            Step.CHOOSE,
            flow_id=flow_id,
            portal_name=invitation.portal_name,
            email_in_use=email_in_use,
            **kw,
        )

    def _live(self, flow: Mapping[str, Any]) -> tuple[InvitationRecord, bool] | None:
        with self._db.transaction() as uow:
            invitation = uow.invitations.by_id(int(flow["invitation_id"]))
            if invitation is None or not invitation.is_live(self._clock()):
                return None
            return invitation, bool(uow.accounts.by_email(invitation.email))

    # --- step 3a: link an account the patient already has ------------------------------

    def sign_in(
        self, flow_id: str, username: str, password: str, *, meta: RequestMeta, entry: Entry
    ) -> ActivationView:
        """Sign in through the authentication flow, then link: every factor first.

        An account with a second factor stops at it; the link is made only when the
        flow comes back DONE (:meth:`link_signed_in`), so activation is no MFA bypass.
        """
        flow = self._load(flow_id, Step.CHOOSE)
        if flow is None:
            return ActivationView(Step.EXPIRED, status=400, message_id="invitation_flow_expired")
        live = self._live(flow)
        if live is None:
            return self._gone(flow_id)
        invitation, in_use = live
        outcome = self._authn.password(
            replace(entry, continuation={"kind": "invitation", "flow": flow_id}),
            username=username,
            password=password,
            meta=meta,
        )
        if isinstance(outcome, Redirect) and outcome.url.startswith(SETUP_PATH):
            return self._choose(
                flow_id, invitation, in_use, status=403, message_id="invitation_setup_first"
            )
        if isinstance(outcome, Redirect):
            return ActivationView(Step.CHOOSE, flow_id=flow_id, redirect=outcome.url)
        if isinstance(outcome, Done):
            return self.link_signed_in(flow_id, outcome.result, meta=meta)
        return self._choose(
            flow_id,
            invitation,
            in_use,
            status=outcome.status,
            message_id=outcome.message_id or "invalid_credentials",
        )

    def link_signed_in(
        self, flow_id: str, done: Authenticated, *, meta: RequestMeta
    ) -> ActivationView:
        """The patient is fully signed in: link their account to the invitation's record."""
        flow = self._load(flow_id, Step.CHOOSE)
        if flow is None:
            return ActivationView(Step.EXPIRED, status=400, message_id="invitation_flow_expired")
        live = self._live(flow)
        if live is None:
            return self._gone(flow_id)
        invitation, in_use = live
        with self._db.transaction() as uow:
            account = uow.accounts.by_id(done.result.account_id)
        if account is None or not account.is_active:
            return self._gone(flow_id)
        person = account.person
        if person is not None and person.dob is not None and person.dob != invitation.dob:
            # Every patient has their own account (FAQ): a parent's login is not the child's.
            with self._db.transaction() as uow:
                self._audit(
                    uow,
                    meta,
                    "invitation_activation",
                    "failure",
                    invitation,
                    actor=account.subject,
                    subject=account.subject,
                    reason="other_person",
                )
            return self._choose(
                flow_id, invitation, in_use, status=409, message_id="invitation_other_person"
            )
        view = self._activate(
            flow_id, invitation, meta, lambda uow, now: account, path="existing_account"
        )
        return replace(view, authenticated=done) if view.step is Step.DONE else view

    # --- step 3b: create an account ----------------------------------------------------

    def create_account(
        self, flow_id: str, form: NewCredentials, *, meta: RequestMeta, entry: Entry
    ) -> ActivationView:
        flow = self._load(flow_id, Step.CHOOSE)
        if flow is None:
            return ActivationView(Step.EXPIRED, status=400, message_id="invitation_flow_expired")
        live = self._live(flow)
        if live is None:
            return self._gone(flow_id)
        invitation, in_use = live
        reasons = self._check_credentials(form, invitation)
        if in_use:
            # One person, one account: whoever uses this address signs in to link instead.
            return self._choose(
                flow_id, invitation, True, status=409, message_id="invitation_email_in_use"
            )
        if reasons:
            return self._choose(flow_id, invitation, False, status=400, reasons=tuple(reasons))
        # Hashed before the transaction: no write lock is held while argon2 works.
        password_hash = self._hashing.hash(form.password)
        answers = hash_questions(form.questions, self._hashing)

        def new_account(uow: UnitOfWork, now: datetime) -> AccountRecord:
            if uow.accounts.by_username(form.username):
                raise DuplicateError("username")
            if uow.accounts.by_email(invitation.email):
                view = self._choose(
                    flow_id, invitation, True, status=409, message_id="invitation_email_in_use"
                )
                raise _Abort(view, "email_in_use")
            account = uow.accounts.add(
                username=form.username,
                password_hash=password_hash,
                email=invitation.email,
                # The invitation email reached the patient: the address is proven.
                email_verified=True,
                status="active",
                now=now,
                person=NewPerson(
                    first_name=invitation.first_name,
                    last_name=invitation.last_name,
                    dob=invitation.dob,
                    zip=invitation.zip,
                    gender=invitation.gender,
                    email=invitation.email,
                ),
            )
            if answers:
                uow.security_answers.replace(account.id, answers, now=now)
            uow.accounts.accept_terms(account.id, now=now)
            if account.person is not None:
                # Sign-up matching must find this patient from now on (issue 5).
                index_person(uow, account.person.id, account.person, self._secret_key, fresh=True)
            uow.audit.record(
                AuditEntry(
                    type="account_created",
                    outcome="success",
                    actor=account.subject,
                    subject=account.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    details={"via": "invitation", "invitation_id": invitation.id},
                ),
                now=now,
            )
            return account

        try:
            view = self._activate(flow_id, invitation, meta, new_account, path="new_account")
        except DuplicateError:
            taken = (("username", "invitation_username_taken"),)
            return self._choose(flow_id, invitation, False, status=400, reasons=taken)
        if view.step is not Step.DONE or view.account is None:
            return view
        # The password was chosen just now: the authentication flow's FIRST_FACTOR.
        outcome = self._authn.credentials_chosen(entry, view.account, meta=meta)
        if isinstance(outcome, Done):
            return replace(view, authenticated=outcome.result)
        if isinstance(outcome, Redirect):
            return replace(view, redirect=outcome.url)
        return view

    def _check_credentials(
        self, form: NewCredentials, invitation: InvitationRecord
    ) -> list[tuple[str, str]]:
        """Sign-up's rules for a user ID, password, security questions and the terms."""
        reasons: list[tuple[str, str]] = []
        if not _USERNAME.fullmatch(form.username):
            reasons.append(("username", "invitation_username_invalid"))
        verdict = self._credentials.check_password(
            form.password[: MAX_PASSWORD_INPUT + 1],
            context=[form.username, invitation.first_name, invitation.last_name, invitation.email],
        )
        reasons += [("password", code) for code in verdict.reasons]
        questions = self._credentials.check_questions(
            form.questions, username=form.username, password=form.password
        )
        reasons += [("questions", code) for code in questions.reasons]
        if not form.accept_terms:
            reasons.append(("accept_terms", "invitation_terms_not_accepted"))
        return reasons

    # --- using the invitation ----------------------------------------------------------

    def _activate(
        self,
        flow_id: str,
        invitation: InvitationRecord,
        meta: RequestMeta,
        account_for: Callable[[UnitOfWork, datetime], AccountRecord],
        *,
        path: str,
    ) -> ActivationView:
        """Use the invitation and link the account, all in one transaction, or nothing."""
        actor = "anonymous"
        conflict_view = ActivationView(
            Step.CHOOSE,
            status=409,
            flow_id=flow_id,
            portal_name=invitation.portal_name,
            message_id="invitation_link_conflict",
        )
        try:
            with self._db.transaction() as uow:
                now = self._clock()
                account = account_for(uow, now)
                actor = account.subject
                if not uow.invitations.mark_activated(invitation.id, account.id, now=now):
                    raise _Abort(self._gone(flow_id), "no_longer_live")
                try:
                    uow.portal_links.link(
                        account_id=account.id,
                        portal_id=invitation.portal_id,
                        patient_id=invitation.patient_id,
                        now=now,
                        status="active",
                    )
                except DuplicateLinkError as exc:
                    # The record belongs to another account at the practice, or this account
                    # to another record there: the whole transaction rolls back.
                    raise _Abort(conflict_view, f"linked_{exc.field}") from None
                self._audit(
                    uow,
                    meta,
                    "invitation_activated",
                    "success",
                    invitation,
                    actor=account.subject,
                    subject=account.subject,
                    path=path,
                )
        except _Abort as abort:
            with self._db.transaction() as uow:
                self._audit(
                    uow,
                    meta,
                    "invitation_activation",
                    "failure",
                    invitation,
                    actor=actor,
                    subject=None if actor == "anonymous" else actor,
                    reason=abort.reason,
                    path=path,
                )
            return abort.view
        self._store.delete(_flow_key(flow_id))
        return ActivationView(Step.DONE, portal_name=invitation.portal_name, account=account)

    def _gone(self, flow_id: str) -> ActivationView:
        """The invitation died between steps (revoked, used elsewhere, expired)."""
        self._store.delete(_flow_key(flow_id))
        return ActivationView(Step.CODE, status=400, message_id="invitation_no_longer_valid")

    # --- "resend my activation code" ---------------------------------------------------

    def resend(
        self, email_text: str, dob_text: str, zip_text: str, *, meta: RequestMeta
    ) -> ResendResult:
        """A new code for each live invitation at this email with this birth date (and zip).

        The reply never depends on what was found (invariant 4). The new code goes to
        the invitation's own address, so a wrong birth date teaches nothing and is
        throttled rather than counted on a lockout. Requests count per client address;
        codes mailed count per email address, so strangers cannot use up a patient's
        quota with wrong answers.
        """
        now = self._clock()
        reasons: list[tuple[str, str]] = []
        email = ""
        try:
            email = check_email_address(email_text)
        except InvalidEmailAddress:
            reasons.append(("email", "invitation_email_invalid"))
        dob = parse_birth_date(dob_text, today=now.date())
        if dob is None:
            reasons.append(("dob", "invitation_dob_invalid"))
        zip5 = typed_zip(zip_text) if zip_text.strip() else None
        if zip_text.strip() and zip5 is None:
            reasons.append(("zip", "invitation_zip_invalid"))
        if reasons:
            return ResendResult(tuple(reasons))
        by_ip = self._throttle.allow(
            RESEND_IP_SCOPE, meta.ip or "unknown", limit=RESEND_IP_LIMIT, window=RESEND_WINDOW
        )
        with self._db.transaction() as uow:
            if not by_ip:
                self._audit(uow, meta, "invitation_resend", "failure", reason="throttled")
                return ResendResult()
            matches = [
                i
                for i in uow.invitations.pending_for_email(email, now=now)
                if i.dob == dob and (zip5 is None or i.zip[:5] == zip5)
            ]
            if not matches:
                self._audit(uow, meta, "invitation_resend", "failure", reason="no_match")
            for invitation in matches:
                if not self._throttle.allow(
                    RESEND_EMAIL_SCOPE, email, limit=RESEND_EMAIL_LIMIT, window=RESEND_WINDOW
                ):
                    self._audit(
                        uow, meta, "invitation_resend", "failure", invitation, reason="throttled"
                    )
                    continue
                code = secrets.token_urlsafe(CODE_BYTES)
                if uow.invitations.replace_code(invitation.id, code_hash(code), now=now):
                    self._send_code(uow, invitation, code, now=now, resent=True)
                    self._audit(uow, meta, "invitation_resend", "success", invitation)
        return ResendResult()

    # --- audit -------------------------------------------------------------------------

    def _audit(
        self,
        uow: UnitOfWork,
        meta: RequestMeta,
        event: str,
        outcome: str,
        invitation: InvitationRecord | None = None,
        *,
        actor: str = "anonymous",
        subject: str | None = None,
        **details: Any,
    ) -> None:
        """Ids, the practice and reason codes; never the code, names or what was typed."""
        info: dict[str, Any] = {}
        if invitation is not None:
            info = {"invitation_id": invitation.id, "portal": invitation.portal_slug}
        info.update((k, v) for k, v in details.items() if v is not None)
        uow.audit.record(
            AuditEntry(
                type=event,
                outcome=outcome,
                actor=actor,
                subject=subject,
                client_id=actor.removeprefix("client:") if actor.startswith("client:") else None,
                ip=meta.ip,
                user_agent=meta.user_agent,
                details=info,
            ),
            now=self._clock(),
        )
