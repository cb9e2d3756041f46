"""Forgot user ID (issue 4, item 3; portal FAQ "I forgot my user ID").

::

    EMAIL ──valid address──▶ BIRTH_DATE ──valid date──▶ QUESTION ──answer──▶ SENT
                                 │                                             ▲
                                 └──── questions turned off: valid date ───────┘

Every arrow is taken alike for a known or unknown email and a right or wrong birth
date: the pages differ only in the question's text, which is the account's own
question when email and birth date match an account and otherwise a decoy picked by
an HMAC of the email and birth date (so it is stable, and the question never tells
whether the birth date was right). The last page always says "if the details match,
we have emailed the user ID" (security invariant 4; standards.md row 21, §2).

One attempt is the birth date and answer together, judged at the end: a wrong one
counts once toward the lockout of every account the email belongs to (invariant 6),
and once on the email's own recovery gate, which unknown emails have too. Judging
both at once means the lockout never tells which of the two was wrong.

Several accounts may share an email (a parent's address on a teen's account): every
account whose birth date and answer match gets its user ID, one message per address.
Accounts without a curated security question on file (office-made, made while
questions were off, or with custom questions only, whose text is never shown: see
recovery_common) are asked the decoy and found by email and birth date alone: the
user ID goes only to the verified address, which is the check that matters
(standards.md §2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from idp.notify import InvalidEmailAddress, check_email_address
from idp.policies.security_questions import MAX_ANSWER
from idp.records import AccountRecord, RequestMeta
from idp.store.durable import UnitOfWork
from idp.store.usernames import username_key

from .recovery_common import (
    RECOVERABLE,
    QuestionRef,
    RecoveryDeps,
    RecoveryFlowStore,
    Render,
    answer_is_right,
    audit_entry,
    count_failure,
    curated_on_file,
    gate_is_closed,
    ip_allowed,
    mail_allowed,
    pick_question,
    spend_decoy_verification,
)

KIND = "forgot_user_id"
EXPIRED = Render("expired", status=400, message_id="recovery_flow_expired")
TOO_MANY = Render("too_many_requests", status=429, message_id="recovery_too_many_requests")


class Step(StrEnum):
    EMAIL = "email"
    BIRTH_DATE = "birth_date"
    QUESTION = "question"
    SENT = "sent"


def parse_birth_date(raw: str, *, today: date) -> date | None:
    """YYYY-MM-DD (what a date input sends) or MM/DD/YYYY (what US patients type)."""
    text = raw.strip()
    try:
        if "/" in text:
            month, day, year = (int(p) for p in text.split("/"))
            value = date(year, month, day)
        else:
            value = date.fromisoformat(text)
    except ValueError:
        return None
    return value if date(1900, 1, 1) <= value <= today else None


def email_gate_key(email: str) -> str:
    # Hashed: lockout keys must not put email addresses in Redis.
    return "forgot-id:" + hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]


class ForgotUserIdFlow:
    def __init__(self, deps: RecoveryDeps) -> None:
        self._deps = deps
        self._flows = RecoveryFlowStore(deps.ephemeral)

    def begin(self) -> Render:
        return Render(Step.EMAIL)

    def submit(self, flow_id: str | None, form: Mapping[str, str], *, meta: RequestMeta) -> Render:
        """One step: the first (no flow id) takes the email; later ones what the flow expects."""
        if not ip_allowed(self._deps, meta):
            return TOO_MANY
        if not flow_id:
            return self._email(form.get("email", ""))
        loaded = self._flows.load(flow_id, KIND)
        if loaded is None:
            return EXPIRED
        step, data = loaded
        if step == Step.BIRTH_DATE:
            return self._birth_date(flow_id, data, form.get("dob", ""), meta)
        if step == Step.QUESTION:
            return self._answer(flow_id, data, form.get("answer", ""), meta)
        return EXPIRED

    # --- steps -----------------------------------------------------------------------------

    def _email(self, raw: str) -> Render:
        try:
            email = check_email_address(raw)
        except InvalidEmailAddress:
            return Render(Step.EMAIL, status=400, message_id="recovery_email_invalid")
        # No lookup here: nothing about this step may depend on the address.
        flow_id = self._flows.start(KIND, Step.BIRTH_DATE, {"email": email})
        return Render(Step.BIRTH_DATE, flow_id=flow_id)

    def _birth_date(
        self, flow_id: str, data: dict[str, Any], raw: str, meta: RequestMeta
    ) -> Render:
        dob = parse_birth_date(raw, today=self._deps.clock().date())
        if dob is None:
            return Render(
                Step.BIRTH_DATE, status=400, message_id="recovery_dob_invalid", flow_id=flow_id
            )
        data = {**data, "dob": dob.isoformat()}
        if not self._deps.questions_on:
            if self._flows.finish(flow_id, KIND) is None:
                return EXPIRED
            return self._conclude(data, None, meta)
        parts = ("forgot-id", data["email"].casefold(), data["dob"])
        # One query, the same whether or not email and birth date match (timing,
        # invariant 4); the questions of the oldest match with any, else the decoy.
        with self._deps.db.transaction() as uow:
            stored = uow.security_answers.for_first_match(
                data["email"], dob, statuses=sorted(RECOVERABLE)
            )
        asked = pick_question(stored, self._deps.secret_key, *parts)
        self._flows.advance(flow_id, KIND, Step.QUESTION, {**data, "question": asked.as_dict()})
        return Render(Step.QUESTION, flow_id=flow_id, question=asked.text)

    def _answer(self, flow_id: str, data: dict[str, Any], raw: str, meta: RequestMeta) -> Render:
        answer = raw.strip()
        if not answer or len(answer) > 2 * MAX_ANSWER:
            asked = QuestionRef.from_dict(data["question"])
            return Render(
                Step.QUESTION,
                status=400,
                message_id="recovery_answer_missing",
                flow_id=flow_id,
                question=asked.text,
            )
        finished = self._flows.finish(flow_id, KIND)
        if finished is None:
            return EXPIRED
        return self._conclude(finished, answer, meta)

    # --- the end ---------------------------------------------------------------------------

    def _conclude(self, data: dict[str, Any], answer: str | None, meta: RequestMeta) -> Render:
        deps = self._deps
        email = data["email"]
        if gate_is_closed(deps, email_gate_key(email)):
            if answer is not None:
                spend_decoy_verification(deps.hashing, answer)
            return self._mailbox_only(email, meta)
        now = deps.clock()
        with deps.db.transaction() as uow:
            everyone, candidates = self._candidates(uow, email, date.fromisoformat(data["dob"]))
            matched = self._verify(uow, candidates, data, answer)
            outcome = "no_match"
            if matched:
                outcome = self._send(uow, matched, email, meta, now)
                for account in matched:
                    uow.audit.record(
                        audit_entry("forgot_user_id", "success", account, meta, reason=outcome),
                        now=now,
                    )
            else:
                failed = candidates or everyone
                reason = "answer_mismatch" if candidates else "no_match"
                for account in failed:
                    count_failure(
                        deps,
                        uow,
                        username_key(account.username),
                        account,
                        meta=meta,
                        now=now,
                        source=KIND,
                    )
                    uow.audit.record(
                        audit_entry("forgot_user_id", "failure", account, meta, reason=reason),
                        now=now,
                    )
                if not failed:
                    uow.audit.record(
                        audit_entry("forgot_user_id", "failure", None, meta, reason=reason),
                        now=now,
                    )
        if outcome != "sent":
            # Render the message to no one: sending none must not answer faster (timing).
            deps.notifier.rehearse_email(
                template="forgot_user_id",
                context={"usernames": [email], "login_url": deps.url("/login")},
            )
        return Render(Step.SENT, message_id="recovery_id_sent")

    def _mailbox_only(self, email: str, meta: RequestMeta) -> Render:
        """The gate is closed: mail the email's user IDs to its verified address, unasked.

        Refusing here would let anyone who knows a patient's email close the patient's
        way back in with five wrong birth dates (invariant 12, as forgot password falls
        back to its link flow). The knowledge check only guards against mailing a user
        ID its mailbox's owner did not ask for; the mail quota per address still limits
        that, and the page is the same "if the details match" page as ever.
        """
        deps = self._deps
        now = deps.clock()
        with deps.db.transaction() as uow:
            everyone = sorted(
                (a for a in uow.accounts.by_email(email) if a.status in RECOVERABLE),
                key=lambda a: a.id,
            )
            outcome = self._send(uow, everyone, email, meta, now) if everyone else "no_match"
            uow.audit.record(
                audit_entry(
                    "forgot_user_id",
                    "success" if outcome == "sent" else "failure",
                    everyone[0] if everyone else None,
                    meta,
                    reason=f"gate_closed_{outcome}",
                ),
                now=now,
            )
        if outcome != "sent":
            deps.notifier.rehearse_email(
                template="forgot_user_id",
                context={"usernames": [email], "login_url": deps.url("/login")},
            )
        return Render(Step.SENT, message_id="recovery_id_sent")

    @staticmethod
    def _candidates(
        uow: UnitOfWork, email: str, dob: date
    ) -> tuple[list[AccountRecord], list[AccountRecord]]:
        """(every recoverable account of the email, those born on ``dob``), oldest first."""
        everyone = sorted(
            (a for a in uow.accounts.by_email(email) if a.status in RECOVERABLE),
            key=lambda a: a.id,
        )
        return everyone, [a for a in everyone if a.person is not None and a.person.dob == dob]

    def _verify(
        self,
        uow: UnitOfWork,
        candidates: list[AccountRecord],
        data: Mapping[str, Any],
        answer: str | None,
    ) -> list[AccountRecord]:
        if answer is None:  # questions turned off: email and birth date are the whole check
            return candidates
        asked = QuestionRef.from_dict(data["question"])
        matched: list[AccountRecord] = []
        verified_any = False
        for account in candidates:
            stored = curated_on_file(uow.security_answers.for_account(account.id))
            if not stored:
                matched.append(account)
                continue
            right = answer_is_right(stored, asked, answer, self._deps.hashing)
            verified_any = verified_any or right is not None
            if right:
                matched.append(account)
        if not verified_any:
            spend_decoy_verification(self._deps.hashing, answer)
        return matched

    def _send(
        self,
        uow: UnitOfWork,
        matched: list[AccountRecord],
        email: str,
        meta: RequestMeta,
        now: datetime,
    ) -> str:
        """Queue one message per verified address listing its user IDs; returns a reason code."""
        addresses: dict[str, tuple[str, list[str]]] = {}
        for account in matched:
            if account.email and account.email_verified:
                entry = addresses.setdefault(account.email.casefold(), (account.email, []))
                entry[1].append(account.username)
        if not addresses:
            return "no_verified_email"
        if not mail_allowed(self._deps, kind=KIND, address=email, meta=meta):
            return "throttled"
        for address, usernames in addresses.values():
            self._deps.notifier.email(
                uow,
                to=address,
                template="forgot_user_id",
                context={"usernames": usernames, "login_url": self._deps.url("/login")},
                now=now,
            )
        return "sent"
