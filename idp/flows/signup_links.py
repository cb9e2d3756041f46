"""Pending registrations, user-ID reservations, the verification link and resend.

A no-match sign-up creates **no account** at step 2 (issue: "No match: the account is
created once the email link is opened"). What the account would be made of waits in
the ephemeral store as a *pending registration*, keyed by the SHA-256 of the emailed
link's token, for the link's lifetime (``settings.accounts.verify_link_ttl``)::

    step 2, every branch ─► user ID reserved (SET NX "signup_user_id:<sha256(key)>",
       │                    verify_link_ttl; exact, close, none, email in use alike)
       └─ none ─► pending registration "signup_pending:<sha256(token)>" (user ID,
                  argon2id password hash, hashed answers, demographics, terms time),
                  indexed by an HMAC of the email; the link is mailed

    GET  /signup/verify?token=…  looks only (mail scanners open links)
    POST /signup/verify          takes the record (GETDEL: single use), then in one
       │                         transaction creates the account ACTIVE, email
       │                         verified, person indexed (blocking keys), answers,
       │                         terms, phone verified if proven; reservation released
       └─ user ID taken meanwhile (the reservation had expired and someone else took
          it) ─► CHOOSE_USER_ID: the record is parked ("signup_rename:<id>", 30 min)
                 until another user ID is chosen; nothing half-written

    POST /signup/resend  a new link for every pending registration at the address;
                         the record moves to the new token (the old link dies)

Why every branch reserves (security invariant 4; NIST SP 800-63A-4 §3.1.2.1 item 4,
standards.md row 17): the person typing a stranger's demographics with their own
email and a fresh user ID must not be able to tell afterwards whether the data
matched. Before, only a no-match left a (pending) account behind: signing in said
"email not verified" instead of "invalid credentials", and the user ID showed as taken.
Now every branch leaves the same thing: a reserved user ID for ``verify_link_ttl``
and no account, so sign-in says "invalid credentials" (like any unknown user ID) and a
later sign-up hears "taken" until the reservation ends, whatever matched. A reservation
is never extended (not by resend either): its end is the same in every branch. If the
link is opened after it ended, the account creation reserves again, or asks for
another user ID when someone else holds it. The SQL uniqueness of user IDs still holds
for real accounts, and is checked again when the account is created.

Throttled sign-ups reserve nothing (a throttled client could otherwise squat any number
of user IDs); what throttles count (client address, email, typed name and birth date)
does not depend on whether anything matched, so their effect says nothing of the match.

A proven phone (the optional phone step, which may finish before or after the link is
opened) waits in "signup_pending_phone:<rid>"; the account creation takes it, and a
proof arriving just after the account exists finds the account through
"signup_created:<rid>". Each of the two sides *takes* the number (GETDEL), so it is
applied exactly once.

If Redis is flushed (or the in-process store restarts), pending registrations and
reservations are lost: the link then "does not work" and the person simply signs up
again (the user ID is free again too). Nothing durable depends on them.

Accounts that are still "pending" in SQL — made by staff approval of an enrollment
(:mod:`idp.flows.enrollments`) or by sign-ups from before this change — keep their
durable links (``action_tokens``, :func:`send_verification_link`); the same pages
activate them and resend renews them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from idp.clock import Clock
from idp.notify import InvalidEmailAddress, Notifier, check_email_address
from idp.records import AccountRecord, RequestMeta
from idp.store.accounts import DuplicateError, NewPerson
from idp.store.durable import UnitOfWork
from idp.store.interfaces import EphemeralStore
from idp.store.security_answers import StoredQuestion
from idp.store.usernames import username_key

from .signup_common import (
    FLOW_ID_RE,
    FLOW_TTL,
    THROTTLE_WINDOW,
    USERNAME_RE,
    Refusal,
    SignupContext,
    SignupOutcome,
    SignupState,
)

VERIFY_PURPOSE = "verify_email"
# Resend requests per email and per client address.
RESEND_EMAIL_SCOPE, RESEND_EMAIL_LIMIT = "signup_resend_email", 3
# The outbox task that renews pending links after the response (idp.notify.tasks).
RESEND_TASK = "signup_resend"
RESEND_IP_SCOPE, RESEND_IP_LIMIT = "signup_resend_ip", 10

_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_INDEX_LABEL = b"idp sign-up pending registrations by email v1"

# Ephemeral keys (see the module docstring).
RESERVATION_PREFIX = "signup_user_id:"
PENDING_PREFIX = "signup_pending:"
EMAIL_INDEX_PREFIX = "signup_pending_email:"
PHONE_PREFIX = "signup_pending_phone:"
CREATED_PREFIX = "signup_created:"
RENAME_PREFIX = "signup_rename:"


def token_hash(token: str) -> str:
    """Links carry 256 random bits, so SHA-256 is enough at rest (invariant 5)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def valid_for(seconds: int) -> str:
    """How long a link works, in words for the email: "24 hours", "30 minutes"."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def verify_url(issuer: str, token: str) -> str:
    return f"{issuer.rstrip('/')}/signup/verify?token={token}"


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
    """A new durable link for a *pending account*; it kills any earlier one of the account.

    Used by staff approval of an enrollment (:mod:`idp.flows.enrollments`), whose mail
    uses its own template around the same link, and by resend for pending accounts.
    Self sign-up no longer makes pending accounts (see the module docstring).
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
        context={"link": verify_url(issuer, token), "valid_for": valid_for(ttl)},
        now=now,
    )


# --- user-ID reservations --------------------------------------------------------------


def reservation_key(username: str) -> str:
    """The reservation's key: derived from :func:`username_key` (case-insensitive)."""
    digest = hashlib.sha256(username_key(username).encode("utf-8")).hexdigest()
    return RESERVATION_PREFIX + digest


class UserIdReservations:
    """User IDs held for a sign-up in progress; the value is the holder's id (``rid``)."""

    def __init__(self, store: EphemeralStore) -> None:
        self._store = store

    def held(self, username: str) -> bool:
        return self._store.get(reservation_key(username)) is not None

    def holder(self, username: str) -> str | None:
        return self._store.get(reservation_key(username))

    def reserve(self, username: str, holder: str, *, ttl: float) -> bool:
        """Atomic (SET NX): of two sign-ups choosing one user ID, one gets it."""
        return self._store.put_new(reservation_key(username), holder, ttl=ttl)

    def release(self, username: str, holder: str) -> None:
        """Drop the reservation if ``holder`` still has it.

        Not atomic (get, then delete): if it expired in between and someone else took it,
        theirs goes too; that only happens once the user ID is a real account (or the
        creation failed on SQL uniqueness), which SQL then protects anyway.
        """
        key = reservation_key(username)
        if self._store.get(key) == holder:
            self._store.delete(key)


# --- pending registrations -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingRegistration:
    """What a no-match sign-up's account will be made of: hashes only (invariant 5)."""

    rid: str  # also the holder of the user-ID reservation
    username: str
    email: str
    password_hash: str
    answers: tuple[dict[str, Any], ...]  # StoredQuestion fields
    demographics: dict[str, str]  # first_name, last_name, dob (ISO), zip, gender, email
    terms_accepted_at: str  # ISO time
    expires_at: float  # when the current link stops working (timestamp)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "answers": list(self.answers)})

    @classmethod
    def from_json(cls, raw: str) -> PendingRegistration:
        data = json.loads(raw)
        data["answers"] = tuple(data.get("answers", ()))
        return cls(**data)

    def person(self, *, phone: str | None) -> NewPerson:
        who = self.demographics
        return NewPerson(
            first_name=who["first_name"],
            last_name=who["last_name"],
            dob=date.fromisoformat(who["dob"]),
            zip=who["zip"],
            gender=who["gender"],
            email=self.email,
            phone=phone,
        )


def email_index_key(email: str, secret: str | None) -> str:
    """The index of pending registrations at an address: keyed by an HMAC of the address.

    Without the deployment secret (embedding code and tests only) the HMAC key is a
    public constant, which still keeps plain addresses out of key names.
    """
    key = hmac.new((secret or "").encode("utf-8"), _INDEX_LABEL, hashlib.sha256).digest()
    text = email.strip().lower().encode("utf-8")
    return EMAIL_INDEX_PREFIX + hmac.new(key, text, hashlib.sha256).hexdigest()


class PendingRegistrations:
    """Pending registrations in the ephemeral store: by link token hash, and by email.

    A record past its ``expires_at`` (by the flow's clock) counts as gone even while
    the store still holds it, as the step records do.
    """

    def __init__(self, store: EphemeralStore, *, secret: str | None, clock: Clock) -> None:
        self._store = store
        self._secret = secret
        self._clock = clock

    def _index(self, email: str) -> str:
        return email_index_key(email, self._secret)

    def _live(self, raw: str | None) -> PendingRegistration | None:
        if raw is None:
            return None
        record = PendingRegistration.from_json(raw)
        return record if self._clock().timestamp() < record.expires_at else None

    def put(self, record: PendingRegistration, *, link_hash: str, ttl: float) -> None:
        self._store.put(PENDING_PREFIX + link_hash, record.to_json(), ttl=ttl)
        self._store.add_member(self._index(record.email), link_hash, ttl=ttl)

    def get(self, link_hash: str) -> PendingRegistration | None:
        return self._live(self._store.get(PENDING_PREFIX + link_hash))

    def take(self, link_hash: str) -> PendingRegistration | None:
        """Remove and return (GETDEL): of two concurrent link openings, one gets it."""
        raw = self._store.take(PENDING_PREFIX + link_hash)
        if raw is None:
            return None
        self._store.remove_member(self._index(PendingRegistration.from_json(raw).email), link_hash)
        return self._live(raw)

    def link_hashes(self, email: str) -> list[str]:
        """Link hashes of live registrations at ``email``; dead index entries are dropped."""
        index = self._index(email)
        live = []
        for link_hash in sorted(self._store.members(index)):
            if self.get(link_hash) is not None:
                live.append(link_hash)
            else:
                self._store.remove_member(index, link_hash)
        return live

    def at(self, email: str) -> list[PendingRegistration]:
        """The live registrations at ``email`` (for "email in use", tests and support)."""
        found = (self.get(link_hash) for link_hash in self.link_hashes(email))
        return [record for record in found if record is not None]


class _UserIdTaken(Exception):
    pass


class SignupLinks:
    """Pending registrations from the link's side: issue, look, verify, resend."""

    def __init__(self, ctx: SignupContext) -> None:
        self._ctx = ctx
        self._store = ctx.store
        self.pending = PendingRegistrations(ctx.store, secret=ctx.secret, clock=ctx.clock)
        self.reservations = UserIdReservations(ctx.store)

    @property
    def _ttl(self) -> int:
        return self._ctx.accounts.verify_link_ttl

    # --- issuing ---------------------------------------------------------------------------

    def issue(
        self, uow: UnitOfWork, record: PendingRegistration, *, now: datetime
    ) -> PendingRegistration:
        """Store the registration under a new link and mail it (in ``uow``: after commit)."""
        token = secrets.token_urlsafe(32)
        record = replace(record, expires_at=now.timestamp() + self._ttl)
        self.pending.put(record, link_hash=token_hash(token), ttl=self._ttl)
        self._mail(uow, record.email, token, now=now)
        return record

    def _mail(self, uow: UnitOfWork, email: str, token: str, *, now: datetime) -> None:
        self._ctx.notifier.email(
            uow,
            to=email,
            template="verify_email",
            context={
                "link": verify_url(self._ctx.issuer, token),
                "valid_for": valid_for(self._ttl),
            },
            now=now,
        )

    # --- the link ----------------------------------------------------------------------

    def link_is_live(self, token: str) -> bool:
        """For the confirmation page; looking never uses the link (mail scanners open it)."""
        if not _TOKEN.fullmatch(token):
            return False
        if self.pending.get(token_hash(token)) is not None:
            return True
        with self._ctx.db.transaction() as uow:
            return (
                uow.action_tokens.peek(token_hash(token), VERIFY_PURPOSE, now=self._ctx.clock())
                is not None
            )

    def verify(self, token: str, *, meta: RequestMeta) -> SignupOutcome:
        """Use the link (atomically, once): create the account, or activate a pending one."""
        if not _TOKEN.fullmatch(token):
            return self._invalid(meta)
        link_hash = token_hash(token)
        record = self.pending.take(link_hash)
        if record is not None:
            return self._create(record, meta=meta, link_hash=link_hash)
        with self._ctx.db.transaction() as uow:
            # A pending account (approved enrollment, or a sign-up from before).
            now = self._ctx.clock()
            used = uow.action_tokens.consume(token_hash(token), VERIFY_PURPOSE, now=now)
            account = uow.accounts.by_id(used.account_id) if used else None
            if account is not None and uow.accounts.activate(account.id, now=now):
                self._ctx.audit(uow, meta, "success", step="verify", subject=account.subject)
                return SignupOutcome(SignupState.VERIFIED)
        return self._invalid(meta)

    def _invalid(self, meta: RequestMeta) -> SignupOutcome:
        with self._ctx.db.transaction() as uow:
            self._ctx.audit(uow, meta, "failure", step="verify", reason="invalid_link")
        return SignupOutcome(SignupState.LINK_INVALID)

    def choose_user_id(self, flow_id: str, username: str, *, meta: RequestMeta) -> SignupOutcome:
        """The link was used but its user ID was taken meanwhile: try another one."""
        if not FLOW_ID_RE.fullmatch(flow_id):
            return SignupOutcome(SignupState.EXPIRED)
        raw = self._store.take(RENAME_PREFIX + flow_id)
        if raw is None:
            return SignupOutcome(SignupState.EXPIRED)
        parked = json.loads(raw)
        record = PendingRegistration.from_json(parked["record"])
        until = float(parked["until"])
        if self._ctx.clock().timestamp() >= until:
            return SignupOutcome(SignupState.EXPIRED)
        name = username.strip()
        if not USERNAME_RE.fullmatch(name):
            return self._park(
                record, meta, flow_id=flow_id, until=until, refused="username_invalid"
            )
        return self._create(replace(record, username=name), meta=meta, flow_id=flow_id, until=until)

    def _park(
        self,
        record: PendingRegistration,
        meta: RequestMeta,
        *,
        flow_id: str | None = None,
        until: float | None = None,
        refused: str | None = None,
    ) -> SignupOutcome:
        """Keep the registration (30 minutes) while its holder chooses another user ID."""
        now = self._ctx.clock().timestamp()
        flow_id = flow_id or secrets.token_urlsafe(32)
        until = until if until is not None else now + FLOW_TTL
        parked = json.dumps({"record": record.to_json(), "until": until})
        self._store.put(RENAME_PREFIX + flow_id, parked, ttl=max(until - now, 1))
        if refused != "username_invalid":  # a typing mistake is not a security event
            with self._ctx.db.transaction() as uow:
                self._ctx.audit(uow, meta, "failure", step="verify", reason="username_taken")
        refusals = (Refusal("username", refused),) if refused else ()
        return SignupOutcome(SignupState.CHOOSE_USER_ID, flow_id, refusals, email=record.email)

    def _create(
        self,
        record: PendingRegistration,
        *,
        meta: RequestMeta,
        link_hash: str | None = None,
        flow_id: str | None = None,
        until: float | None = None,
    ) -> SignupOutcome:
        """The account, at last: ACTIVE, email verified, in one transaction.

        Called with the registration already taken from the store (by its link, or from
        the "choose another user ID" page); on any failure it is put back.
        """
        name, rid = record.username, record.rid
        # Shown as a refusal only on the "choose another user ID" page itself.
        taken_refusal = "username_taken" if flow_id is not None else None
        holder = self.reservations.holder(name)
        # The reservation ended (the link was opened late): hold the user ID while creating.
        ours = holder == rid or (
            holder is None and self.reservations.reserve(name, rid, ttl=FLOW_TTL)
        )
        if not ours:
            return self._park(record, meta, flow_id=flow_id, until=until, refused=taken_refusal)
        proven = self._store.take(PHONE_PREFIX + rid)
        try:
            with self._ctx.db.transaction() as uow:
                account = self._add_account(uow, record, phone=proven)
                self._ctx.audit(uow, meta, "success", step="verify", subject=account.subject)
        except _UserIdTaken:
            # An account took the user ID without a reservation (staff, office, CLI).
            self._restore_phone(rid, proven)
            self.reservations.release(name, rid)
            return self._park(record, meta, flow_id=flow_id, until=until, refused=taken_refusal)
        except Exception:
            # Nothing was written: put the registration back so the link works again.
            self._restore_phone(rid, proven)
            self._restore(record, link_hash=link_hash, flow_id=flow_id, until=until)
            raise
        self.reservations.release(name, rid)
        # A phone proven just now, after the take above (see phone_proven).
        self._store.put(CREATED_PREFIX + rid, str(account.id), ttl=self._ttl)
        late = self._store.take(PHONE_PREFIX + rid)
        if late:
            with self._ctx.db.transaction() as uow:
                self.set_account_phone(uow, account.id, late, now=self._ctx.clock())
        return SignupOutcome(SignupState.VERIFIED)

    def _add_account(
        self, uow: UnitOfWork, record: PendingRegistration, *, phone: str | None
    ) -> AccountRecord:
        now = self._ctx.clock()
        if uow.accounts.by_username(record.username) is not None:
            raise _UserIdTaken
        person = record.person(phone=phone)
        try:
            account = uow.accounts.add(
                username=record.username,
                password_hash=record.password_hash,
                email=record.email,
                email_verified=True,
                now=now,
                status="active",
                person=person,
            )
        except DuplicateError:
            raise _UserIdTaken from None
        if self._ctx.secret is not None and account.person is not None:
            uow.candidates.index_person(
                account.person.id, person, secret=self._ctx.secret, fresh=True
            )
        uow.security_answers.replace(
            account.id, [StoredQuestion(**a) for a in record.answers], now=now
        )
        uow.accounts.accept_terms(account.id, now=_when(record.terms_accepted_at, now))
        if phone:
            uow.accounts.set_phone(account.id, phone, verified=True, now=now)
        return account

    def _restore_phone(self, rid: str, number: str | None) -> None:
        if number:
            self._store.put(PHONE_PREFIX + rid, number, ttl=self._ttl)

    def _restore(
        self,
        record: PendingRegistration,
        *,
        link_hash: str | None,
        flow_id: str | None,
        until: float | None,
    ) -> None:
        """Put a taken registration back where it was (the link, or the parked page)."""
        now = self._ctx.clock().timestamp()
        if link_hash is not None and record.expires_at > now:
            self.pending.put(record, link_hash=link_hash, ttl=record.expires_at - now)
        elif flow_id is not None and until is not None and until > now:
            parked = json.dumps({"record": record.to_json(), "until": until})
            self._store.put(RENAME_PREFIX + flow_id, parked, ttl=until - now)

    # --- the phone step's side ----------------------------------------------------------

    def phone_proven(self, uow: UnitOfWork, rid: str, number: str) -> str | None:
        """Note a proven phone for registration ``rid``; the subject if applied to an account.

        Before the link is opened the number waits for the account creation; after, it
        goes on the account directly. Whichever side takes the number applies it.
        """
        self._store.put(PHONE_PREFIX + rid, number, ttl=self._ttl)
        created = self._store.get(CREATED_PREFIX + rid)
        if created is None:
            return None
        taken = self._store.take(PHONE_PREFIX + rid)
        if not taken:
            return None
        return self.set_account_phone(uow, int(created), taken, now=self._ctx.clock())

    def set_account_phone(
        self, uow: UnitOfWork, account_id: int, number: str, *, now: datetime
    ) -> str | None:
        """The proven number, verified on the account and in its blocking keys."""
        account = uow.accounts.by_id(account_id)
        if account is None or account.status not in ("pending", "active"):
            return None
        uow.accounts.set_phone(account.id, number, verified=True, now=now)
        if self._ctx.secret is not None and account.person is not None:
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
                secret=self._ctx.secret,
            )
        return account.subject

    # --- resend ------------------------------------------------------------------------

    def resend(self, email: str, *, meta: RequestMeta) -> bool:
        """Queue a new link for each pending registration (and pending account) at ``email``.

        False only for a malformed address; the reply never depends on what was found
        (security invariant 4), in time too: the request queues the same small task
        whatever is pending and the outbox worker does the rest
        (:meth:`complete_resend`). Before, an address with something pending issued and
        rendered its links in the request and answered measurably slower (issue 8,
        item 7).
        """
        try:
            address = check_email_address(email)
        except InvalidEmailAddress:
            return False
        throttle = self._ctx.throttle
        by_email = throttle.allow(
            RESEND_EMAIL_SCOPE, address, limit=RESEND_EMAIL_LIMIT, window=THROTTLE_WINDOW
        )
        by_ip = throttle.allow(
            RESEND_IP_SCOPE, meta.ip or "unknown", limit=RESEND_IP_LIMIT, window=THROTTLE_WINDOW
        )
        allowed = by_email and by_ip
        now = self._ctx.clock()
        with self._ctx.db.transaction() as uow:
            self._ctx.notifier.task(
                uow,
                kind=RESEND_TASK,
                payload={"email": address if allowed else None, "ip": meta.ip},
                now=now,
            )
            if allowed:
                self._ctx.audit(uow, meta, "success", step="resend_requested")
            else:
                self._ctx.audit(uow, meta, "failure", step="resend", reason="throttled")
        return True

    def complete_resend(self, payload: Mapping[str, Any]) -> None:
        """The outbox worker's half of :meth:`resend`: renew every pending link of the email.

        Each new link kills the old one. The user-ID reservation is not extended (see
        the module docstring): if the new link is opened after it ended, the account
        creation reserves again or asks for another user ID.
        """
        address = payload.get("email")
        if not isinstance(address, str):
            return  # a throttled request: nothing to send
        ip = payload.get("ip")
        meta = RequestMeta(ip=ip if isinstance(ip, str) else None, user_agent=None)
        with self._ctx.db.transaction() as uow:
            now = self._ctx.clock()
            sent = 0
            for link_hash in self.pending.link_hashes(address):
                record = self.pending.take(link_hash)
                if record is None:  # used or renewed meanwhile
                    continue
                self.issue(uow, record, now=now)
                self._store.expire(PHONE_PREFIX + record.rid, ttl=self._ttl)
                self._ctx.audit(uow, meta, "success", step="resend")
                sent += 1
            for account in uow.accounts.by_email(address):
                if account.status != "pending":
                    continue
                send_verification_link(
                    uow,
                    self._ctx.notifier,
                    account_id=account.id,
                    email=account.email or address,
                    issuer=self._ctx.issuer,
                    ttl=self._ttl,
                    now=now,
                )
                self._ctx.audit(uow, meta, "success", step="resend", subject=account.subject)
                sent += 1
            if not sent:
                self._ctx.audit(uow, meta, "failure", step="resend", reason="nothing_pending")


def _when(text: str, fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return fallback
