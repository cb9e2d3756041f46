"""Sign-up's optional "verify by phone number" step (issue 5, portal FAQ ``003``).

Offered on the check-email page of *every* completed sign-up, whatever matched::

    CHECK_EMAIL (record "signup_phone:<id>", its <id> in field ``f``)
        ▼ POST /signup/phone: a 6-digit code texted to the number typed
    PHONE_CODE, one page for all ─(wrong, expired, 5 tries)─► PHONE_CODE
        │ right code (single use)
        ├─ number on the exact/close record ─► EXISTING_ACCOUNT: sign in or recover;
        │                                       enrollment withdrawn
        └─ otherwise ─► PHONE_DONE, one page for all. None: the number waits with the
                        pending registration and is verified on the account once the
                        link creates it (or at once, if it already did); close: noted on
                        the enrollment for staff; exact: nothing more
    record missing or past its expires_at ─► EXPIRED (start again)

NIST SP 800-63A-4 §3.1.8 (standards.md row 18): at least six digits from an approved
random source, at most 10 minutes by phone, invalidated on use. The code is texted to
any number typed (throttled per sign-up, per number and per client address: SMS costs
money and can pester a stranger's phone); proving a number only reveals an account to
the holder of the phone already on that account's record (standards.md §2).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from idp.notify import InvalidPhoneNumber, normalize_phone
from idp.records import RequestMeta
from idp.store.enrollments import EnrollmentStatus

from .signup_common import (
    FLOW_ID_RE,
    FLOW_TTL,
    THROTTLE_WINDOW,
    Refusal,
    SignupContext,
    SignupOutcome,
    SignupState,
)
from .signup_links import SignupLinks

CODE_DIGITS = 6
CODE_TTL = 10 * 60
MAX_CODE_TRIES = 5
# Texts per sign-up, per number and per client address ("SMS pumping").
MAX_CODES_PER_FLOW = 3
SMS_NUMBER_SCOPE, SMS_NUMBER_LIMIT = "signup_sms_number", 3
SMS_IP_SCOPE, SMS_IP_LIMIT = "signup_sms_ip", 10
# Failed codes also count toward the credential lockout under this key (per number).
PHONE_LOCK_PREFIX = "signup-phone:"
# Accounts whose phone, when proven, means "you already have an account".
MAX_PHONE_CANDIDATES = 5

_CODE_SEPARATORS = re.compile(r"[\s-]")


class PhoneStep:
    """The phone step of one sign-up; its record says what a proven phone means.

    The record (``step``) holds ``match`` (the audit's class), ``email``, and one of
    ``candidates`` (exact/close: accounts whose phone means "you have an account"),
    ``enrollment_id`` (close) or ``registration`` (none: the pending registration's id).
    """

    def __init__(self, ctx: SignupContext, links: SignupLinks) -> None:
        self._ctx = ctx
        self._store = ctx.store
        self._links = links

    def offer(self, step: dict[str, Any]) -> SignupOutcome:
        """Every completed sign-up ends here, with a phone step of its own."""
        flow_id = secrets.token_urlsafe(32)
        step = {**step, "expires_at": self._ctx.clock().timestamp() + FLOW_TTL, "sends": 0}
        self._put(flow_id, step)
        return SignupOutcome(SignupState.CHECK_EMAIL, flow_id=flow_id, email=step["email"])

    def _put(self, flow_id: str, step: dict[str, Any]) -> None:
        ttl = step["expires_at"] - self._ctx.clock().timestamp()
        self._store.put(f"signup_phone:{flow_id}", json.dumps(step), ttl=max(ttl, 1))

    def _load(self, flow_id: str) -> dict[str, Any] | None:
        if not FLOW_ID_RE.fullmatch(flow_id):
            return None
        raw = self._store.get(f"signup_phone:{flow_id}")
        if raw is None:
            return None
        step: dict[str, Any] = json.loads(raw)
        if self._ctx.clock().timestamp() >= step["expires_at"]:
            self._store.delete(f"signup_phone:{flow_id}")
            return None
        return step

    def _code_hash(self, flow_id: str, number: str, code: str) -> str:
        """Codes are stored as an HMAC bound to the flow and the number (invariant 5)."""
        text = f"{flow_id}|{number}|{code}"
        return hmac.new(self._ctx.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def send_code(self, flow_id: str, phone: str, *, meta: RequestMeta) -> SignupOutcome:
        """Text a 6-digit code to the number typed; the same page whatever happens next.

        Throttled (per sign-up, per number, per client address) or while the number is
        locked after wrong codes, nothing is sent, and the page says the same.
        """
        step = self._load(flow_id)
        if step is None:
            return SignupOutcome(SignupState.EXPIRED)
        try:
            number = normalize_phone(phone, region=self._ctx.region)
        except InvalidPhoneNumber:
            refused = (Refusal("phone", "phone_invalid"),)
            return SignupOutcome(SignupState.CHECK_EMAIL, flow_id, refused, email=step["email"])
        now = self._ctx.clock()
        throttle, lockout = self._ctx.throttle, self._ctx.lockout
        reason = None
        if step["sends"] >= MAX_CODES_PER_FLOW:
            reason = "throttled_flow"
        elif not throttle.allow(
            SMS_NUMBER_SCOPE, number, limit=SMS_NUMBER_LIMIT, window=THROTTLE_WINDOW
        ):
            reason = "throttled_number"
        elif not throttle.allow(
            SMS_IP_SCOPE, meta.ip or "unknown", limit=SMS_IP_LIMIT, window=THROTTLE_WINDOW
        ):
            reason = "throttled_ip"
        elif lockout and lockout.counter.locked_for(PHONE_LOCK_PREFIX + number):
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
        self._put(flow_id, step)
        with self._ctx.db.transaction() as uow:
            if reason is None:
                self._ctx.notifier.sms(
                    uow,
                    to=number,
                    template="signup_phone_code",
                    context={"code": code, "minutes": CODE_TTL // 60},
                    now=now,
                )
            self._ctx.audit(
                uow,
                meta,
                "success" if reason is None else "failure",
                step="phone_code_sent",
                match=step["match"],
                reason=reason,
            )
        return SignupOutcome(SignupState.PHONE_CODE, flow_id, email=step["email"], phone=number)

    def confirm_code(self, flow_id: str, code: str, *, meta: RequestMeta) -> SignupOutcome:
        """Check a texted code: single use, 10 minutes, 5 tries, each failure locked-out."""
        step = self._load(flow_id)
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

        now = self._ctx.clock()
        if now.timestamp() >= sent["expires_at"]:
            return again("code_expired")
        lockout = self._ctx.lockout
        # Every try counts, atomically, before the code is looked at: per code (5, then it
        # is dead) and toward the credential lockout of this number (invariant 6).
        tries = self._store.hit(f"signup_code_tries:{sent['hash'][:32]}", ttl=CODE_TTL)
        lock_key = PHONE_LOCK_PREFIX + number
        reservation = lockout.reserve(lock_key) if lockout else None
        try:
            if tries > MAX_CODE_TRIES or (reservation is not None and reservation.locked):
                with self._ctx.db.transaction() as uow:
                    self._ctx.audit(
                        uow,
                        meta,
                        "failure",
                        step="phone_code",
                        match=step["match"],
                        reason="locked",
                    )
                return again("code_locked")
            typed = _CODE_SEPARATORS.sub("", code)[:16]
            right = hmac.compare_digest(sent["hash"], self._code_hash(flow_id, number, typed))
            if right:
                # Single use: of two concurrent right answers, one takes the record.
                taken = self._store.take(f"signup_phone:{flow_id}")
                current = json.loads(taken) if taken is not None else None
                right = (
                    current is not None and (current.get("code") or {}).get("hash") == sent["hash"]
                )
                if current is not None and not right:
                    self._put(flow_id, current)  # a newer code replaced this one meanwhile
            if not right:
                with self._ctx.db.transaction() as uow:
                    locked = False
                    if reservation is not None and lockout is not None:
                        locked = lockout.failed(
                            uow, reservation, None, meta=meta, now=now, source="signup_phone"
                        )
                    self._ctx.audit(
                        uow,
                        meta,
                        "failure",
                        step="phone_code",
                        match=step["match"],
                        reason="code_invalid",
                    )
                return again("code_locked" if locked or tries >= MAX_CODE_TRIES else "code_invalid")
            if lockout is not None:
                lockout.succeeded(lock_key)
            return self._proven(step, number, meta=meta, now=now)
        finally:
            # An exception (a store or database outage) settled nothing: free the slot
            # rather than leave it counted for the in-flight period (issue 8, item 3).
            if reservation is not None and lockout is not None:
                lockout.release(reservation)

    def _proven(
        self, step: dict[str, Any], number: str, *, meta: RequestMeta, now: datetime
    ) -> SignupOutcome:
        with self._ctx.db.transaction() as uow:
            owner = next(
                (
                    account_id
                    for account_id in step.get("candidates", [])
                    if number in uow.candidates.phones_of(account_id, region=self._ctx.region)
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
                self._ctx.audit(
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
            if step.get("registration"):
                subject = self._links.phone_proven(uow, step["registration"], number)
            elif step.get("account_id"):
                # A phone step begun before sign-up deferred the account to the link.
                subject = self._links.set_account_phone(uow, step["account_id"], number, now=now)
            elif step.get("enrollment_id"):
                uow.enrollments.note_verified_phone(step["enrollment_id"], number)
            self._ctx.audit(
                uow,
                meta,
                "success",
                step="phone_verified",
                match=step["match"],
                subject=subject,
                enrollment_id=step.get("enrollment_id"),
            )
        return SignupOutcome(SignupState.PHONE_DONE, email=step["email"])
