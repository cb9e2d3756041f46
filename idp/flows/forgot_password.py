"""Forgot password (issue 4, items 4 and 5; portal FAQ "I forgot my password").

Two ways in, chosen by ``settings.accounts.reset_flow``:

* ``"questions"`` (the FAQ): user ID → security question and a new password →
  email with a "confirm my password" link → the confirmation puts it into effect.
* ``"link"`` (other portals, and the only way when questions are turned off):
  user ID → email with a reset link → a new password chosen on the linked page.

Both end in the same small state machine, one per emailed link::

    REQUESTED ──POST on the link──▶ LINK_OPENED ──▶ SECOND_FACTOR ──▶ PASSWORD_IN_EFFECT
     (old password                        │        (only when the        ▲
      still works)                        │         account has one)     │
                                          └──── no second factor ────────┘

REQUESTED: the link is emailed; nothing about the account has changed, the old
password keeps working. LINK_OPENED: the link was used (a POST with a CSRF token:
a GET never uses it, since mail scanners fetch links). SECOND_FACTOR: recovery must
not remove or bypass a second factor (NIST SP 800-63B-4 §4.2.2.2; ASVS 6.4.3,
standards.md row 12), so an account with one stops here until it is presented.
The step holds the new password (hashed) for :data:`FLOW_TTL` and puts it into effect
only when an authenticator-app code or a recovery code checks out
(:meth:`ForgotPasswordFlow.second_factor`, through the authentication flow's one
reserve -> verify -> count path, so guesses here count toward the same lockout).
PASSWORD_IN_EFFECT: the new password is stored, the account's sessions and refresh
tokens end, its lockout counters clear, a hard lock ends, and the verified address
gets a notice (standards.md rows 10, 13).

The public pages answer alike whether or not the user ID exists and whether or not
the answer was right (invariant 4; standards.md row 21): the reply is always "if it
matches, we have emailed you". Wrong answers count toward the lockout of the user ID
typed, known or not, as wrong passwords do (invariant 6).

An account with no curated security question on file (made by ``idp users add
--password``, while questions were off, or with custom questions only, which are
never shown: see recovery_common) has nothing the requester could answer. In the
questions flow it is asked the decoy like an unknown user ID, its answer counts as
wrong like any other, and its owner is emailed the link flow's "choose a new password"
link: the password typed on the form is dropped, because the requester has not proved
control of the mailbox (issue 8, item 5: it was an account takeover).

Every self-service link records when, from which address and with which browser it
was asked for; the "confirm my password" page shows it, with a "This wasn't me"
button that cancels the reset, tells the owner by email and is audited.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from idp.policies.security_questions import MAX_ANSWER
from idp.records import AccountRecord, RequestMeta
from idp.store.sql.repositories import UnitOfWork, username_key

from .base import StateMachine
from .credentials import account_context, has_second_factor
from .recovery_common import (
    FLOW_TTL,
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
    link_token_hash,
    link_token_ok,
    mail_allowed,
    new_link_token,
    pick_question,
    requested_from,
    spend_decoy_verification,
)

KIND = "forgot_password"
# The outbox task that issues an emailed link after the response (idp.notify.tasks).
LINK_REQUEST_TASK = "reset_link_request"
# The action-token purpose of every reset link (self-service and staff alike), so a new
# request kills the previous link whichever way it was made.
PURPOSE = "reset_password"
MAX_USERNAME = 64
MAX_PASSWORD = 1024

EXPIRED = Render("expired", status=400, message_id="recovery_flow_expired")
CANCELLED = Render("cancelled", message_id="recovery_reset_cancelled")
TOO_MANY = Render("too_many_requests", status=429, message_id="recovery_too_many_requests")
INVALID_LINK = Render("invalid_link", status=400, message_id="recovery_link_invalid")


class ResetState(StrEnum):
    REQUESTED = "requested"
    LINK_OPENED = "link_opened"
    SECOND_FACTOR = "second_factor"
    PASSWORD_IN_EFFECT = "password_in_effect"


# The allowed transitions (the diagram above); anything else is a bug.
TRANSITIONS: Mapping[ResetState, frozenset[ResetState]] = {
    ResetState.REQUESTED: frozenset({ResetState.LINK_OPENED}),
    ResetState.LINK_OPENED: frozenset({ResetState.SECOND_FACTOR, ResetState.PASSWORD_IN_EFFECT}),
    ResetState.SECOND_FACTOR: frozenset({ResetState.PASSWORD_IN_EFFECT}),
    ResetState.PASSWORD_IN_EFFECT: frozenset(),
}


RESET_MACHINE = StateMachine(TRANSITIONS)
# The held reset's id (token_urlsafe(24)) as the second-factor page carries it back.
_PENDING = re.compile(r"[A-Za-z0-9_-]{32}")


def second_factor_required(factors: Collection[str]) -> bool:
    """Whether a reset must pass a second factor before taking effect.

    Any enrolled factor (authenticator app, passkey, recovery codes): an emailed link
    alone must not remove or bypass one (standards.md row 12).
    """
    return bool(factors)


def after_link_opened(factors: Collection[str]) -> ResetState:
    """The state that follows LINK_OPENED for an account with these second factors."""
    following = (
        ResetState.SECOND_FACTOR
        if second_factor_required(factors)
        else ResetState.PASSWORD_IN_EFFECT
    )
    RESET_MACHINE.check(ResetState.LINK_OPENED, following)
    return following


class AnswerVerdict(StrEnum):
    """What the questions form's answer proved about the account."""

    RIGHT = "right"
    WRONG = "wrong"
    # The account holds no question a stranger may be shown (none, or custom only).
    NOTHING_TO_ASK = "nothing_to_ask"


class Step(StrEnum):
    """Pages of the flow (the web layer maps each to a template)."""

    USER_ID = "user_id"
    QUESTION = "question"
    SENT = "sent"
    CONFIRM = "confirm"
    CHOOSE_PASSWORD = "choose_password"
    SECOND_FACTOR = "second_factor"
    DONE = "done"


def reset_gate_key(username: str) -> str:
    """The questions form's own gate (see recovery_common): not the sign-in lock."""
    return "reset:" + username_key(username)


class ForgotPasswordFlow:
    def __init__(self, deps: RecoveryDeps) -> None:
        self._deps = deps
        self._flows = RecoveryFlowStore(deps.ephemeral)

    @property
    def mode(self) -> str:
        """ "questions" or "link"; without security questions only "link" exists."""
        if self._deps.accounts.reset_flow == "questions" and self._deps.questions_on:
            return "questions"
        return "link"

    def begin(self) -> Render:
        return Render(Step.USER_ID, extra={"mode": self.mode})

    def submit(self, flow_id: str | None, form: Mapping[str, str], *, meta: RequestMeta) -> Render:
        if not ip_allowed(self._deps, meta):
            return TOO_MANY
        if not flow_id:
            return self._user_id(form.get("username", ""), meta)
        loaded = self._flows.load(flow_id, KIND)
        if loaded is None or loaded[0] != Step.QUESTION:
            return EXPIRED
        return self._answer(flow_id, loaded[1], form, meta)

    # --- public steps ----------------------------------------------------------------------

    def _user_id(self, raw: str, meta: RequestMeta) -> Render:
        username = raw.strip()
        if not 0 < len(username) <= MAX_USERNAME or any(
            ord(c) < 32 or ord(c) == 127 for c in username
        ):
            return Render(
                Step.USER_ID,
                status=400,
                message_id="recovery_username_invalid",
                extra={"mode": self.mode},
            )
        if self.mode == "link":
            return self._request_link(username, meta)
        parts = ("forgot-password", username_key(username))
        # One query, the same for a known and an unknown user ID (timing, invariant 4);
        # no questions on file gives the decoy, exactly as no account does.
        with self._deps.db.transaction() as uow:
            stored = uow.security_answers.for_username(username_key(username))
        asked = pick_question(stored, self._deps.secret_key, *parts)
        flow_id = self._flows.start(
            KIND, Step.QUESTION, {"username": username, "question": asked.as_dict()}
        )
        return Render(Step.QUESTION, flow_id=flow_id, question=asked.text)

    def _answer(
        self, flow_id: str, data: dict[str, Any], form: Mapping[str, str], meta: RequestMeta
    ) -> Render:
        asked = QuestionRef.from_dict(data["question"])
        answer = form.get("answer", "").strip()
        password = form.get("password", "")[: MAX_PASSWORD + 1]
        confirm = form.get("password_confirm", "")[: MAX_PASSWORD + 1]

        def again(message_id: str, reasons: tuple[str, ...] = ()) -> Render:
            return Render(
                Step.QUESTION,
                status=400,
                message_id=message_id,
                flow_id=flow_id,
                question=asked.text,
                reasons=reasons,
            )

        if not answer or len(answer) > 2 * MAX_ANSWER:
            return again("recovery_answer_missing")
        if not password:
            return again("recovery_password_missing")
        if password != confirm:
            return again("recovery_password_mismatch")
        # Only what was typed as context here: the account's names and email would make
        # the refusal tell a stranger something about the account (invariant 4). They
        # are checked once the answer is known to be right, below.
        verdict = self._deps.credentials.check_password(password, context=[data["username"]])
        if not verdict.ok:
            return again("recovery_password_refused", verdict.reasons)
        if self._flows.finish(flow_id, KIND) is None:
            return EXPIRED
        return self._conclude(data["username"], asked, answer, password, meta)

    def _conclude(
        self, username: str, asked: QuestionRef, answer: str, password: str, meta: RequestMeta
    ) -> Render:
        deps = self._deps
        key = username_key(username)
        # Hashed for every request, matched or not: the same work either way.
        new_hash = deps.hashing.hash(password)
        if gate_is_closed(deps, reset_gate_key(username)):
            # Too many answers were tried for this user ID (by anyone): no answer is
            # checked and the password typed is not used, but the request goes on as the
            # link flow, so a stranger's guessing never closes the owner's way back in
            # through the mailbox (invariant 12). The mail throttle still applies.
            spend_decoy_verification(deps.hashing, answer)
            return self._request_link(username, meta, flow="questions_closed")
        now = deps.clock()
        with deps.db.transaction() as uow:
            account = uow.accounts.by_username(username)
            verdict = self._check_answer(uow, account, asked, answer)
            if account is not None and verdict is AnswerVerdict.NOTHING_TO_ASK:
                # Nothing to answer, so the answer proves nothing: counted as wrong (the
                # lockout must not tell this account from an unknown one), the typed
                # password is dropped, and only the mailbox can prove control.
                count_failure(deps, uow, key, account, meta=meta, now=now, source=KIND)
                sent = self._issue(
                    uow, account, {"mode": "choose", "no_questions": True}, meta, now
                )
                uow.audit.record(
                    audit_entry(
                        "password_reset_requested",
                        "success" if sent == "sent" else "failure",
                        account,
                        meta,
                        reason=sent,
                        flow="link",
                        asked="no_questions_on_file",
                    ),
                    now=now,
                )
            elif account is not None and verdict is AnswerVerdict.RIGHT:
                # The answer is right: now the account's own words may be checked too. A
                # refusal is never shown here (that would confirm the answer to a
                # stranger); the email offers a page to choose another password instead.
                full = deps.credentials.check_password(password, context=account_context(account))
                data: dict[str, Any] = (
                    {"mode": "confirm", "password_hash": new_hash}
                    if full.ok
                    else {"mode": "choose", "password_refused": True}
                )
                sent = self._issue(uow, account, data, meta, now)
                uow.audit.record(
                    audit_entry(
                        "password_reset_requested",
                        "success",
                        account,
                        meta,
                        reason=sent,
                        flow="questions",
                    ),
                    now=now,
                )
            else:
                sent = "not_sent"
                count_failure(deps, uow, key, account, meta=meta, now=now, source=KIND)
                uow.audit.record(
                    audit_entry(
                        "password_reset_requested",
                        "failure",
                        account,
                        meta,
                        reason="answer_mismatch" if account else "no_match",
                        flow="questions",
                    ),
                    now=now,
                )
        if sent != "sent":
            self._rehearse_email(username)
        return Render(Step.SENT, message_id="recovery_reset_sent")

    def _check_answer(
        self, uow: UnitOfWork, account: AccountRecord | None, asked: QuestionRef, answer: str
    ) -> AnswerVerdict:
        """Exactly one argon2 verification whatever the account (invariant 4)."""
        if account is None or account.status not in RECOVERABLE:
            spend_decoy_verification(self._deps.hashing, answer)
            return AnswerVerdict.WRONG
        stored = curated_on_file(uow.security_answers.for_account(account.id))
        if not stored:
            # Never "right": before issue 8 any answer passed here, and the requester's
            # own password was then one click from taking effect (account takeover).
            spend_decoy_verification(self._deps.hashing, answer)
            return AnswerVerdict.NOTHING_TO_ASK
        right = answer_is_right(stored, asked, answer, self._deps.hashing)
        if right is None:
            spend_decoy_verification(self._deps.hashing, answer)
        return AnswerVerdict.RIGHT if right else AnswerVerdict.WRONG

    def _request_link(self, username: str, meta: RequestMeta, *, flow: str = "link") -> Render:
        """Queue the link's issue for after the response; the same work for every user ID.

        Every request spends the mail quotas, looks the user ID up and queues one small
        task row, known or not; the link, its email and their writes happen in the
        outbox worker (:meth:`complete_link_request`). Before, a known user ID issued
        the link in the request and answered measurably slower (issue 8, item 7).
        """
        now = self._deps.clock()
        allowed = mail_allowed(self._deps, kind=KIND, address=username_key(username), meta=meta)
        with self._deps.db.transaction() as uow:
            account = uow.accounts.by_username(username)
            if account is None or account.status not in RECOVERABLE:
                outcome = "no_match"
            elif not allowed:
                outcome = "throttled"
            else:
                outcome = "queued"
            self._deps.notifier.task(
                uow,
                kind=LINK_REQUEST_TASK,
                payload={
                    "account_id": account.id if outcome == "queued" and account else None,
                    "requested": requested_from(meta, now),
                    "flow": flow,
                },
                now=now,
            )
            uow.audit.record(
                audit_entry(
                    "password_reset_requested",
                    "failure" if outcome in ("no_match", "throttled") else "success",
                    account,
                    meta,
                    reason=outcome,
                    flow=flow,
                ),
                now=now,
            )
        return Render(Step.SENT, message_id="recovery_reset_link_sent")

    def complete_link_request(self, payload: Mapping[str, Any]) -> None:
        """The outbox worker's half of :meth:`_request_link`: issue the link and email it.

        A request that found no account (or was throttled) queued a task with no
        account: nothing to do. The account is read again, so a change since the
        request (closed, email unverified) is honoured.
        """
        account_id = payload.get("account_id")
        if not isinstance(account_id, int):
            return
        now = self._deps.clock()
        requested = payload.get("requested")
        with self._deps.db.transaction() as uow:
            account = uow.accounts.by_id(account_id)
            if account is None or account.status not in RECOVERABLE:
                outcome = "no_match"
            elif not (account.email and account.email_verified):
                outcome = "no_verified_email"
            else:
                data = {
                    "mode": "choose",
                    "requested": requested if isinstance(requested, dict) else {},
                }
                token = self.issue_link(uow, account, data, now=now)
                self.email_link(uow, account, token, data, now=now)
                outcome = "sent"
            uow.audit.record(
                audit_entry(
                    "password_reset_link",
                    "success" if outcome == "sent" else "failure",
                    account,
                    RequestMeta(ip=None, user_agent=None),
                    reason=outcome,
                    flow=str(payload.get("flow", "link")),
                ),
                now=now,
            )

    def _rehearse_email(self, username: str) -> None:
        """Render a reset email to no one, so that sending none takes as long (timing)."""
        self._deps.notifier.rehearse_email(
            template="reset_link",
            context={
                "username": username,
                "valid_minutes": self._deps.accounts.reset_link_ttl // 60,
                "reset_url": self.link_url(new_link_token()[0], {}),
                "password_refused": False,
                "no_questions": False,
                "by_staff": False,
            },
        )

    def _issue(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        data: dict[str, Any],
        meta: RequestMeta,
        now: datetime,
    ) -> str:
        """Issue a link (killing the previous one) and email it; returns a reason code.

        A throttled request issues nothing, so it cannot kill the link already sent.
        """
        if not (account.email and account.email_verified):
            return "no_verified_email"
        if not mail_allowed(
            self._deps, kind=KIND, address=username_key(account.username), meta=meta
        ):
            return "throttled"
        # Shown on the link's page, so the owner can tell a request that was not theirs.
        data = {**data, "requested": requested_from(meta, now)}
        token = self.issue_link(uow, account, data, now=now)
        self.email_link(uow, account, token, data, now=now)
        return "sent"

    # --- links (shared with the support commands) ------------------------------------------

    def issue_link(
        self, uow: UnitOfWork, account: AccountRecord, data: dict[str, Any], *, now: datetime
    ) -> str:
        """A new single-use link for ``account``; any earlier reset link dies."""
        token, digest = new_link_token()
        uow.action_tokens.issue(
            token_hash=digest,
            purpose=PURPOSE,
            account_id=account.id,
            now=now,
            expires_at=now + timedelta(seconds=self._deps.accounts.reset_link_ttl),
            data=data,
        )
        return token

    def link_url(self, token: str, data: Mapping[str, Any]) -> str:
        path = "/reset/confirm" if data.get("mode") == "confirm" else "/reset/password"
        return self._deps.url(path, token=token)

    def email_link(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        token: str,
        data: Mapping[str, Any],
        *,
        now: datetime,
    ) -> None:
        assert account.email is not None
        confirm = data.get("mode") == "confirm"
        context: dict[str, Any] = {
            "username": account.username,
            "valid_minutes": self._deps.accounts.reset_link_ttl // 60,
        }
        if confirm:
            context["confirm_url"] = self.link_url(token, data)
        else:
            context.update(
                reset_url=self.link_url(token, data),
                password_refused=bool(data.get("password_refused")),
                no_questions=bool(data.get("no_questions")),
                by_staff=bool(data.get("issued_by")),
            )
        self._deps.notifier.email(
            uow,
            to=account.email,
            template="reset_confirm" if confirm else "reset_link",
            context=context,
            now=now,
        )

    def link_page(self, token: str | None) -> Render:
        """GET on a link: what it will do. Never uses it (mail scanners prefetch links)."""
        if not link_token_ok(token):
            return INVALID_LINK
        assert token is not None
        with self._deps.db.transaction() as uow:
            record = uow.action_tokens.peek(link_token_hash(token), PURPOSE, now=self._deps.clock())
        if record is None:
            return INVALID_LINK
        requested = record.data.get("requested")
        if record.data.get("mode") == "confirm":
            return Render(Step.CONFIRM, token=token, extra={"requested": requested})
        return Render(
            Step.CHOOSE_PASSWORD,
            token=token,
            extra={
                "password_refused": bool(record.data.get("password_refused")),
                "requested": requested,
            },
        )

    def cancel(self, token: str | None, *, meta: RequestMeta) -> Render:
        """POST "This wasn't me" on a "confirm my password" link: REQUESTED → cancelled.

        The link holder proved the mailbox, so the reset is ended (every reset link of
        the account dies, the chosen password with it), the owner is told by email, in
        case the mailbox is not theirs alone, and the event is audited.
        """
        if not link_token_ok(token):
            return INVALID_LINK
        assert token is not None
        digest = link_token_hash(token)
        now = self._deps.clock()
        with self._deps.db.transaction() as uow:
            peeked = uow.action_tokens.peek(digest, PURPOSE, now=now)
            if peeked is None or peeked.data.get("mode") != "confirm":
                return INVALID_LINK
            record = uow.action_tokens.consume(digest, PURPOSE, now=now)
            account = uow.accounts.by_id(record.account_id) if record else None
            if record is None or account is None:
                return INVALID_LINK
            uow.action_tokens.revoke(account.id, PURPOSE, now=now)
            requested = record.data.get("requested") or {}
            if account.email and account.email_verified:
                self._deps.notifier.email(
                    uow,
                    to=account.email,
                    template="reset_cancelled",
                    context={
                        "username": account.username,
                        "requested_at": requested.get("at"),
                        "requested_ip": requested.get("ip"),
                        "forgot_password_url": self._deps.url("/forgot-password"),
                    },
                    now=now,
                )
            uow.audit.record(
                audit_entry(
                    "password_reset_cancelled",
                    "success",
                    account,
                    meta,
                    actor=account.subject,
                    reason="not_requested_by_owner",
                    requested_ip=requested.get("ip"),
                ),
                now=now,
            )
        return CANCELLED

    def confirm(self, token: str | None, *, meta: RequestMeta) -> Render:
        """POST "confirm my password": REQUESTED → LINK_OPENED → …"""
        if not link_token_ok(token):
            return INVALID_LINK
        assert token is not None
        digest = link_token_hash(token)
        now = self._deps.clock()
        with self._deps.db.transaction() as uow:
            peeked = uow.action_tokens.peek(digest, PURPOSE, now=now)
            if peeked is None or peeked.data.get("mode") != "confirm":
                return INVALID_LINK
            record = uow.action_tokens.consume(digest, PURPOSE, now=now)
            account = uow.accounts.by_id(record.account_id) if record else None
            if record is None or account is None or account.status not in RECOVERABLE:
                return INVALID_LINK
            return self._link_opened(uow, account, str(record.data["password_hash"]), meta, now)

    def choose(
        self, token: str | None, password: str, password_confirm: str, *, meta: RequestMeta
    ) -> Render:
        """POST a new password on a reset link (link flow, staff link)."""
        if not link_token_ok(token):
            return INVALID_LINK
        assert token is not None
        digest = link_token_hash(token)
        now = self._deps.clock()
        with self._deps.db.transaction() as uow:
            peeked = uow.action_tokens.peek(digest, PURPOSE, now=now)
            if peeked is None or peeked.data.get("mode") == "confirm":
                return INVALID_LINK
            account = uow.accounts.by_id(peeked.account_id)
            if account is None or account.status not in RECOVERABLE:
                return INVALID_LINK

            def again(message_id: str, reasons: tuple[str, ...] = ()) -> Render:
                return Render(
                    Step.CHOOSE_PASSWORD,
                    status=400,
                    message_id=message_id,
                    token=token,
                    reasons=reasons,
                )

            password = password[: MAX_PASSWORD + 1]
            if not password:
                return again("recovery_password_missing")
            if password != password_confirm[: MAX_PASSWORD + 1]:
                return again("recovery_password_mismatch")
            # The link holder proved the mailbox: the account's own words are checked here,
            # and the minimum is NIST's 8 when a second factor guards the account too.
            verdict = self._deps.credentials.check_password(
                password,
                context=account_context(account),
                has_second_factor=has_second_factor(uow, account.id),
            )
            if not verdict.ok:
                return again("recovery_password_refused", verdict.reasons)
            if uow.action_tokens.consume(digest, PURPOSE, now=now) is None:
                return INVALID_LINK
            return self._link_opened(uow, account, self._deps.hashing.hash(password), meta, now)

    # --- LINK_OPENED → SECOND_FACTOR | PASSWORD_IN_EFFECT -------------------------------------

    def _link_opened(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        password_hash: str,
        meta: RequestMeta,
        now: datetime,
    ) -> Render:
        factors = sorted(str(kind) for kind in uow.credentials.kinds(account.id))
        state = after_link_opened(factors)
        if state is ResetState.SECOND_FACTOR:
            # Held for the second factor; nothing about the account changes yet.
            pending = secrets.token_urlsafe(24)
            self._deps.ephemeral.put(
                f"reset-second-factor:{link_token_hash(pending)}",
                json.dumps(
                    {"account_id": account.id, "password_hash": password_hash, "factors": factors}
                ),
                ttl=FLOW_TTL,
            )
            uow.audit.record(
                audit_entry(
                    "password_reset",
                    "pending",
                    account,
                    meta,
                    actor=account.subject,
                    reason="second_factor_required",
                ),
                now=now,
            )
            return Render(
                Step.SECOND_FACTOR,
                message_id="recovery_second_factor_required",
                extra={"state": state, "pending": pending, "factors": factors},
            )
        self.put_in_effect(uow, account, password_hash, meta=meta, now=now)
        return Render(Step.DONE, message_id="recovery_password_changed", extra={"state": state})

    # --- SECOND_FACTOR → PASSWORD_IN_EFFECT -------------------------------------------------

    def second_factor(self, pending: str, form: Mapping[str, str], *, meta: RequestMeta) -> Render:
        """The second factor for a held reset; the new password takes effect only after it."""
        if not pending or not _PENDING.fullmatch(pending):
            return INVALID_LINK
        key = f"reset-second-factor:{link_token_hash(pending)}"
        raw = self._deps.ephemeral.get(key)
        if raw is None:
            return EXPIRED
        held = json.loads(raw)

        def put_in_effect(uow: Any, account: AccountRecord, verified: Any, now: datetime) -> bool:
            # Single use: the held password is taken, so a second right code does nothing.
            if self._deps.ephemeral.take(key) is None:
                return False
            RESET_MACHINE.check(ResetState.SECOND_FACTOR, ResetState.PASSWORD_IN_EFFECT)
            self.put_in_effect(uow, account, str(held["password_hash"]), meta=meta, now=now)
            return True

        if self._deps.authn is None:
            return EXPIRED
        check = self._deps.authn.check_second_factor(
            int(held["account_id"]),
            form,
            flow_id=link_token_hash(pending),
            meta=meta,
            source="password_reset",
            then=put_in_effect,
        )
        if check.expired:
            return EXPIRED
        if check.verified is None:
            message_id = "recovery_locked" if check.locked else "second_factor_wrong_code"
            return Render(
                Step.SECOND_FACTOR,
                status=401,
                message_id=message_id,
                extra={"pending": pending, "factors": list(held.get("factors", []))},
            )
        return Render(
            Step.DONE,
            message_id="recovery_password_changed",
            extra={"state": ResetState.PASSWORD_IN_EFFECT},
        )

    def put_in_effect(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        password_hash: str,
        *,
        meta: RequestMeta,
        now: datetime,
    ) -> None:
        """PASSWORD_IN_EFFECT: the ordered hooks of a completed reset, in one transaction.

        Ephemeral state (sessions, access-token markers, counters) changes before the
        commit: if the commit then failed, sessions would have ended for nothing, which
        is the safe way round.
        """
        deps = self._deps
        uow.accounts.set_password(account.id, password_hash, now=now)
        if account.status == "locked":
            uow.accounts.set_status(account.id, "active", now=now)
        uow.action_tokens.revoke(account.id, PURPOSE, now=now)
        families = uow.refresh_tokens.revoke_for_account(account.id, now=now)
        for family in families:
            deps.access_tokens.revoke_grant(family)
        if deps.portal_sign_out is not None:
            deps.portal_sign_out.sessions_ending(uow, subject=account.subject, keys=None, now=now)
        deps.sessions.end_all_for(account.subject, now=now.timestamp())
        deps.attempts.unlock(username_key(account.username))
        deps.attempts.clear(reset_gate_key(account.username))
        if account.email and account.email_verified:
            deps.notifier.email(
                uow,
                to=account.email,
                template="password_reset_notice",
                context={
                    "username": account.username,
                    "changed_at": now.strftime("%Y-%m-%d %H:%M UTC"),
                    "forgot_password_url": deps.url("/forgot-password"),
                },
                now=now,
            )
        uow.audit.record(
            audit_entry(
                "password_reset",
                "success",
                account,
                meta,
                actor=account.subject,
                reason="password_in_effect",
                refresh_families=len(families),
                was_locked=account.status == "locked" or None,
            ),
            now=now,
        )
