"""Two-step verification on the account page (issue 9 items 4-6 and 9).

Every change to the factors follows the account page's one path (see
:mod:`idp.flows.account_settings`), so each step can only refuse, never half-do::

    fields checked (shape, size, control characters) ──▶ INVALID (400, nothing written)
        │
        ▼
    pending ceremony of this account and session ──gone, foreign──▶ INVALID (400)
        │
        ▼
    current password (step-up, ASVS 7.5.1; ``lockout.reauthenticate``)
        │                   ──wrong──▶ WRONG_PASSWORD / LOCKED (401, counted, audited)
        ▼
    the new factor proves itself (a code from the app, a WebAuthn response)
        │                   ──wrong, replayed, foreign──▶ INVALID (400, nothing kept)
        ▼
    change + recovery codes when it is the first factor + notice email + audit event,
    all in ONE transaction (invariant 9) ──▶ DONE

Pending state lives in the ephemeral store, never in a hidden field: an
authenticator app's secret, sealed (AES-GCM, :mod:`idp.store.secret_box`) even there,
and a passkey ceremony's challenge (kept by :class:`WebAuthnMethod` under the flow id).
Both are bound to the account; the app's secret also to the SSO session that saw it.

Recovery codes are issued with the first factor and shown once (the page that
confirms the enrolment); the last factor removed takes them along, so an account is
never left with "two-step verification" that consists of recovery codes alone.
Renaming a passkey changes no security property: CSRF-protected and audited, but no
password and no email.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.records import AccountRecord
from idp.store.credentials import CredentialKind, CredentialSummary
from idp.store.interfaces import EphemeralStore
from idp.store.secret_box import SecretBoxError

from .account_settings import AccountSettings as _Page
from .account_settings import Actor, Links, Outcome, check_fields
from .credentials import has_second_factor
from .methods.base import AccountFacts, Failed, FailureReason
from .methods.second_factors import SecondFactorMethods
from .methods.totp import TotpEnrolment

if TYPE_CHECKING:  # the concrete transaction type, for annotations only
    from idp.store.durable import Database, UnitOfWork

MAX_PASSWORD = 1024
MAX_CODE = 64
MAX_FLOW_ID = 64
MAX_LABEL = 64
MAX_RESPONSE = 64 * 1024
# How long a started enrolment waits for its code (seconds).
PENDING_TTL = 600
SECOND_FACTORS = frozenset({CredentialKind.TOTP, CredentialKind.WEBAUTHN})

# Why a factor change was refused, per method failure (message IDs).
_FAILURES = {
    FailureReason.MALFORMED: "account_mfa_code_malformed",
    FailureReason.WRONG_CODE: "account_mfa_wrong_code",
    FailureReason.REPLAYED: "account_mfa_code_used",
    FailureReason.CHALLENGE_MISSING: "account_mfa_expired",
    FailureReason.INVALID_RESPONSE: "account_mfa_passkey_refused",
    FailureReason.ALREADY_REGISTERED: "account_mfa_passkey_known",
}


@dataclass(frozen=True, slots=True)
class Change:
    """The result of one change; ``recovery_codes`` are shown once, then forgotten."""

    outcome: Outcome
    message_id: str | None = None
    recovery_codes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass(frozen=True, slots=True)
class TwoStepOverview:
    factors: tuple[CredentialSummary, ...]
    recovery_codes_left: int

    @property
    def enabled(self) -> bool:
        return bool(self.factors)

    @property
    def has_app(self) -> bool:
        return any(f.kind is CredentialKind.TOTP for f in self.factors)


@dataclass(frozen=True, slots=True)
class PendingApp:
    """An authenticator app being added: the page shows ``enrolment`` and posts ``flow_id``."""

    flow_id: str
    enrolment: TotpEnrolment


@dataclass(frozen=True, slots=True)
class PasskeyCeremony:
    """A passkey being added: the options go to ``navigator.credentials.create``."""

    flow_id: str
    options_json: str

    @property
    def options(self) -> dict[str, Any]:
        """The options as data, for a template to embed with its HTML-safe ``tojson``."""
        return dict(json.loads(self.options_json))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def clean_label(raw: str) -> str | None:
    """A factor's name as typed, whitespace collapsed; None when it cannot be one."""
    label = " ".join(raw.split())
    if not label or len(raw) > MAX_LABEL * 2 or len(label) > MAX_LABEL:
        return None
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in raw):
        return None
    return label


class TwoStepSettings:
    """The account page's "Two-step verification" section; one public method per action."""

    def __init__(
        self,
        *,
        db: Database,
        page: _Page,
        methods: SecondFactorMethods,
        ephemeral: EphemeralStore,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self._db = db
        # The account page's flow: its password step-up, notices and audit entries.
        self._page = page
        self._methods = methods
        self._ephemeral = ephemeral
        self._notifier = notifier
        self._clock = clock

    # --- reading ---------------------------------------------------------------------------

    def overview(self, actor: Actor) -> TwoStepOverview:
        with self._db.transaction() as uow:
            return TwoStepOverview(
                factors=tuple(uow.credentials.listing(actor.account_id)),
                recovery_codes_left=uow.credentials.recovery_codes_left(actor.account_id),
            )

    def has_second_factor(self, account_id: int) -> bool:
        """For the password rule: 8 characters suffice once a factor is enrolled (NIST)."""
        with self._db.transaction() as uow:
            return has_second_factor(uow, account_id)

    # --- authenticator app -----------------------------------------------------------------

    def start_app(self, actor: Actor, *, account_name: str) -> PendingApp:
        """A fresh secret, kept sealed under a new flow id until a code confirms it."""
        enrolment = self._methods.totp.start_enrolment(account_name=account_name)
        sealed = self._methods.totp.seal_pending(actor.account_id, enrolment.secret)
        flow_id = secrets.token_urlsafe(32)
        value = {
            "account": actor.account_id,
            "session": _digest(actor.session_key),
            "sealed": base64.b64encode(sealed).decode("ascii"),
        }
        self._ephemeral.put(self._pending_key(flow_id), json.dumps(value), ttl=PENDING_TTL)
        return PendingApp(flow_id, enrolment)

    def pending_app(self, actor: Actor, flow_id: str, *, account_name: str) -> PendingApp | None:
        """The same secret again (a wrong code re-renders the page with it)."""
        sealed = self._pending_secret(actor, flow_id)
        if sealed is None:
            return None
        try:
            enrolment = self._methods.totp.reopen_enrolment(
                actor.account_id, sealed, account_name=account_name
            )
        except SecretBoxError:
            return None
        return PendingApp(flow_id, enrolment)

    def confirm_app(
        self, actor: Actor, *, flow_id: str, code: str, password: str, links: Links
    ) -> Change:
        """Keep the app once the password and a code from it are right (±1 step, once)."""
        problem = check_fields([(flow_id, MAX_FLOW_ID), (code, MAX_CODE), (password, MAX_PASSWORD)])
        if problem:
            return Change(Outcome.INVALID, problem)
        sealed = self._pending_secret(actor, flow_id)
        if sealed is None:
            return Change(Outcome.INVALID, "account_mfa_expired")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Change(Outcome.UNAVAILABLE, "account_unavailable")
            refused = self._step_up(uow, account, password, actor, "add_authenticator_app")
            if refused is not None:
                return refused
            before = uow.credentials.kinds(account.id)
            now = self._clock()
            try:
                result = self._methods.totp.confirm_enrolment(
                    AccountFacts(account.id, before),
                    sealed_secret=sealed,
                    code=code,
                    tx=uow,
                    now=now,
                )
            except SecretBoxError:
                return Change(Outcome.INVALID, "account_mfa_expired")
            if isinstance(result, Failed):
                return Change(Outcome.INVALID, _FAILURES.get(result.reason, "account_mfa_refused"))
            codes = self._added(
                uow, account, actor, before, now, links, kind=CredentialKind.TOTP, label=None
            )
        self._ephemeral.delete(self._pending_key(flow_id))
        return Change(Outcome.DONE, "account_mfa_app_added", codes)

    # --- passkeys --------------------------------------------------------------------------

    def start_passkey(self, actor: Actor) -> PasskeyCeremony | None:
        """Options for ``navigator.credentials.create``; None if the account is gone."""
        flow_id = secrets.token_urlsafe(32)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return None
            options = self._methods.webauthn.registration_options(
                AccountFacts(account.id, uow.credentials.kinds(account.id)),
                user_name=account.username,
                display_name=_display_name(account),
                flow_id=flow_id,
                tx=uow,
                now=self._clock(),
            )
        return PasskeyCeremony(flow_id, options)

    def register_passkey(
        self,
        actor: Actor,
        *,
        flow_id: str,
        response: str,
        label: str,
        password: str,
        links: Links,
    ) -> Change:
        """Keep a passkey whose ``create()`` response answers this flow's challenge."""
        problem = check_fields([(flow_id, MAX_FLOW_ID), (password, MAX_PASSWORD)])
        if problem:
            return Change(Outcome.INVALID, problem)
        if not response:
            return Change(Outcome.INVALID, "account_mfa_passkey_missing")
        if len(response) > MAX_RESPONSE:
            return Change(Outcome.INVALID, "account_field_too_long")
        name = clean_label(label or "Passkey")
        if name is None:
            return Change(Outcome.INVALID, "account_mfa_label_invalid")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Change(Outcome.UNAVAILABLE, "account_unavailable")
            refused = self._step_up(uow, account, password, actor, "add_passkey")
            if refused is not None:
                return refused
            before = uow.credentials.kinds(account.id)
            now = self._clock()
            result = self._methods.webauthn.register(
                AccountFacts(account.id, before),
                response,
                label=name,
                flow_id=flow_id,
                tx=uow,
                now=now,
            )
            if isinstance(result, Failed):
                return Change(Outcome.INVALID, _FAILURES.get(result.reason, "account_mfa_refused"))
            codes = self._added(
                uow, account, actor, before, now, links, kind=CredentialKind.WEBAUTHN, label=name
            )
        return Change(Outcome.DONE, "account_mfa_passkey_added", codes)

    # --- managing --------------------------------------------------------------------------

    def rename(self, actor: Actor, *, credential: str, label: str) -> Change:
        name = clean_label(label)
        factor_id = _factor_id(credential)
        if name is None or factor_id is None:
            return Change(Outcome.INVALID, "account_mfa_label_invalid")
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Change(Outcome.UNAVAILABLE, "account_unavailable")
            if not uow.credentials.relabel(account.id, factor_id, name):
                return Change(Outcome.NOT_FOUND, "account_mfa_factor_not_found")
            uow.audit.record(
                self._page._entry(actor, "second_factor_renamed", {"credential": factor_id}),
                now=self._clock(),
            )
        return Change(Outcome.DONE, "account_mfa_renamed")

    def factor(self, actor: Actor, credential: str) -> CredentialSummary | None:
        """One of the account's factors, for the removal page."""
        factor_id = _factor_id(credential)
        if factor_id is None:
            return None
        return next((f for f in self.overview(actor).factors if f.id == factor_id), None)

    def remove(self, actor: Actor, *, credential: str, password: str, links: Links) -> Change:
        """Remove one factor; the last one takes the recovery codes with it."""
        factor_id = _factor_id(credential)
        if factor_id is None:
            return Change(Outcome.NOT_FOUND, "account_mfa_factor_not_found")
        problem = check_fields([(password, MAX_PASSWORD)])
        if problem:
            return Change(Outcome.INVALID, problem)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Change(Outcome.UNAVAILABLE, "account_unavailable")
            factors = {f.id: f for f in uow.credentials.listing(account.id)}
            # Another account's factor is "not found" before any password is checked.
            target = factors.get(factor_id)
            if target is None:
                return Change(Outcome.NOT_FOUND, "account_mfa_factor_not_found")
            refused = self._step_up(uow, account, password, actor, "remove_second_factor")
            if refused is not None:
                return refused
            now = self._clock()
            if not uow.credentials.remove(account.id, factor_id):
                return Change(Outcome.NOT_FOUND, "account_mfa_factor_not_found")
            last = len(factors) == 1
            if last:
                uow.credentials.replace_recovery_codes(account.id, [], now=now)
            self._page._notify(
                uow,
                account,
                "second_factor_changed",
                actor,
                now,
                change=f"{target.kind.value}_removed",
                label=target.label or "",
                now_off=last,
                sign_in_url=links.sign_in,
            )
            uow.audit.record(
                self._page._entry(
                    actor,
                    "second_factor_removed",
                    {"kind": target.kind.value, "credential": factor_id, "last": last},
                ),
                now=now,
            )
        return Change(Outcome.DONE, "account_mfa_off" if last else "account_mfa_removed")

    def regenerate_codes(self, actor: Actor, *, password: str, links: Links) -> Change:
        """A new set of ten; every earlier code stops working in the same transaction."""
        problem = check_fields([(password, MAX_PASSWORD)])
        if problem:
            return Change(Outcome.INVALID, problem)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Change(Outcome.UNAVAILABLE, "account_unavailable")
            if not uow.credentials.kinds(account.id) & SECOND_FACTORS:
                return Change(Outcome.INVALID, "account_mfa_codes_need_factor")
            refused = self._step_up(uow, account, password, actor, "regenerate_recovery_codes")
            if refused is not None:
                return refused
            now = self._clock()
            codes = self._methods.recovery_codes.issue(account.id, tx=uow, now=now)
            self._page._notify(
                uow,
                account,
                "second_factor_changed",
                actor,
                now,
                change="recovery_codes_regenerated",
                label="",
                now_off=False,
                sign_in_url=links.sign_in,
            )
            uow.audit.record(
                self._page._entry(actor, "recovery_codes_regenerated", {"count": len(codes)}),
                now=now,
            )
        return Change(Outcome.DONE, "account_mfa_codes_regenerated", codes)

    # --- shared steps ----------------------------------------------------------------------

    def _account(self, uow: UnitOfWork, actor: Actor) -> AccountRecord | None:
        return self._page._account(uow, actor)

    def _step_up(
        self, uow: UnitOfWork, account: AccountRecord, password: str, actor: Actor, action: str
    ) -> Change | None:
        """The account page's password step-up: same lockout count as sign-in."""
        refused = self._page._reauthenticate(uow, account, password, actor, action=action)
        if refused is None:
            return None
        return Change(refused.outcome, refused.message_id)

    def _added(
        self,
        uow: UnitOfWork,
        account: AccountRecord,
        actor: Actor,
        before: frozenset[CredentialKind],
        now: datetime,
        links: Links,
        *,
        kind: CredentialKind,
        label: str | None,
    ) -> tuple[str, ...]:
        """Notice, audit event, and recovery codes if the account had none left."""
        codes: Sequence[str] = ()
        if CredentialKind.RECOVERY_CODE not in before:
            codes = self._methods.recovery_codes.issue(account.id, tx=uow, now=now)
        self._page._notify(
            uow,
            account,
            "second_factor_changed",
            actor,
            now,
            change=f"{kind.value}_added",
            label=label or "",
            now_off=False,
            sign_in_url=links.sign_in,
        )
        details: dict[str, Any] = {"kind": kind.value, "first": not (before & SECOND_FACTORS)}
        if codes:
            details["recovery_codes_issued"] = len(codes)
        uow.audit.record(self._page._entry(actor, "second_factor_added", details), now=now)
        return tuple(codes)

    def _pending_key(self, flow_id: str) -> str:
        return f"mfa-enrol:totp:{_digest(flow_id)}"

    def _pending_secret(self, actor: Actor, flow_id: str) -> bytes | None:
        """The sealed secret of this account's and this session's pending enrolment."""
        if not flow_id or len(flow_id) > MAX_FLOW_ID:
            return None
        raw = self._ephemeral.get(self._pending_key(flow_id))
        if raw is None:
            return None
        kept = json.loads(raw)
        if kept["account"] != actor.account_id or kept["session"] != _digest(actor.session_key):
            return None
        return base64.b64decode(kept["sealed"])


def _factor_id(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


def _display_name(account: AccountRecord) -> str:
    person = account.person
    name = " ".join(p for p in (person.first_name, person.last_name) if p) if person else ""
    return name or account.username
