"""The one authentication flow: every way in ends here (issue 9, invariant 11).

::

    IDENTIFY ──> FIRST_FACTOR ──> DONE
                      │  ├──────> SETUP ──────────> DONE
                      │  │          └────────┐
                      └──┴──> SECOND_FACTOR ─┴──> DONE

    SIGNED_IN ──> CHOOSE_RECORD ──> DONE
         └──────────────────────────> DONE   (one choice or none: no question)

- IDENTIFY + FIRST_FACTOR: the user ID and password, on one form, through
  :class:`idp.flows.login.LoginFlow` (the one reserve -> verify -> rehash -> count
  path). Other entries start at FIRST_FACTOR with the first factor already proved
  by their own journey: credentials just chosen at invitation activation.
- IDENTIFY + FIRST_FACTOR by passkey: a discoverable credential names its account
  and proves the first factor at once (:mod:`idp.flows.authn.passkey`). With user
  verification it is multi-factor and the flow is DONE; without, the password is
  asked for in SECOND_FACTOR (:mod:`idp.policies.passkeys`).
- SETUP: required actions before anything else, today the office-made account's
  first sign-in (choose a password and security questions).
- SECOND_FACTOR: when the account has any second factor (authenticator app,
  passkey, recovery codes), the flow parks in the :class:`FlowStore` and waits for
  one of them; every method's failure counts toward the lockout like a password.
- SIGNED_IN + CHOOSE_RECORD ("whose record", issue 10 item 5): at a practice where
  the account may act for others, the question is asked after the factors, from the SSO
  session those factors started (SIGNED_IN: its sign-in passed every factor), so it can
  be asked again (``prompt=select_account``) without a password. The choices are the
  account's own record (an active link) and every patient a live grant allows *now*
  (:class:`RecordChoices`, the proxy policy at this moment); a posted ``patient`` that is
  not among them changes nothing. With one choice or none it is not asked.
- DONE: :func:`~idp.flows.authn.result._issue` seals an
  :class:`~idp.flows.authn.result.AuthenticationResult`; nothing else may.

Login, first sign-in, invitation activation (existing or new account) call this
flow; sign-up and recovery completion end on "sign in now", which is this flow.
A caller that needs to continue its own journey afterwards (invitation
activation links the practice only once the patient is fully signed in) passes a
``continuation``; it comes back untouched in :class:`Authenticated`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from idp.clock import Clock
from idp.policies.passkeys import passkey_and_password_amr, passkey_sign_in_amr
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, AuditEntry, RecordChoice, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from ..base import Done, Outcome, Redirect, Render, StateMachine
from ..first_signin import FirstSigninFlow
from ..hooks import AuditHook, Hook, NotifyHook, ResetLockoutHook, SuccessContext, run_hooks
from ..lockout import CredentialLockout
from ..login import LoginFlow, LoginReason
from ..methods.base import AccountFacts, CredentialMethod, Failed, NotMine, Verified
from ..methods.webauthn import CHALLENGE_TTL
from .passkey import PasskeySignIn
from .result import ACR_MFA, AuthenticationResult, _issue

KIND = "authn"
TTL = 10 * 60  # a parked sign-in (second factor, setup) lasts ten minutes
PASSKEY_TTL = CHALLENGE_TTL  # a passkey ceremony's flow lives as long as its challenge
PASSKEY_METHOD = "webauthn"


class AuthnState(StrEnum):
    IDENTIFY = "identify"
    FIRST_FACTOR = "first_factor"
    SETUP = "setup"
    SECOND_FACTOR = "second_factor"
    SIGNED_IN = "signed_in"
    CHOOSE_RECORD = "choose_record"
    DONE = "done"


MACHINE = StateMachine(
    {
        AuthnState.IDENTIFY: frozenset({AuthnState.FIRST_FACTOR}),
        AuthnState.FIRST_FACTOR: frozenset(
            {AuthnState.SETUP, AuthnState.SECOND_FACTOR, AuthnState.DONE}
        ),
        AuthnState.SETUP: frozenset({AuthnState.SECOND_FACTOR, AuthnState.DONE}),
        AuthnState.SECOND_FACTOR: frozenset({AuthnState.DONE}),
        AuthnState.SIGNED_IN: frozenset({AuthnState.CHOOSE_RECORD, AuthnState.DONE}),
        AuthnState.CHOOSE_RECORD: frozenset({AuthnState.DONE}),
        AuthnState.DONE: frozenset(),
    }
)

# Views the web layer renders for the parked states, and where the browser goes for them
# (the flow id is bound to the browser that started it, so it may travel in the URL).
SETUP_VIEW = "setup"
SECOND_FACTOR_VIEW = "second_factor"
SETUP_PATH = "/login/setup"
SECOND_FACTOR_PATH = "/login/second-factor"
MFA_ENROLMENT_REQUIRED = "mfa_enrolment_required"
CHOOSE_RECORD_VIEW = "choose_record"
CHOOSE_RECORD_PATH = "/login/choose"
CHOOSE_RECORD_EXPIRED = "choose_record_expired"
# Marks a DONE that answers "whose record" for a live session (no new session starts).
RECORD_CHOICE = "record_choice"
# The second step of a passkey sign-in without user verification: the password.
PASSWORD_FACTOR = "password"
PASSKEY_REFUSED = "passkey_not_accepted"

_LOGIN_REFUSALS: Mapping[LoginReason, tuple[str, int]] = {
    LoginReason.INVALID_CREDENTIALS: ("invalid_credentials", 401),
    LoginReason.LOCKED: ("account_locked", 401),
    LoginReason.THROTTLED: ("too_many_attempts", 429),
    LoginReason.EMAIL_NOT_VERIFIED: ("email_not_verified", 403),
    LoginReason.TEMPORARY_PASSWORD_EXPIRED: ("temporary_password_expired", 403),
}


@dataclass(frozen=True, slots=True)
class Authenticated:
    """DONE: the sealed result, plus what the caller asked to carry through."""

    result: AuthenticationResult
    interaction_id: str | None = None
    continuation: Mapping[str, Any] = field(default_factory=dict)
    device_cookie: str | None = None
    persistent: bool = False


@dataclass(frozen=True, slots=True)
class FactorCheck:
    """What one second-factor submission came to (for sign-in, recovery, step-up)."""

    verified: Verified | None = None
    account: AccountRecord | None = None
    auth_time: int = 0
    locked: bool = False
    expired: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """Where a sign-in started and what it must satisfy, from the web layer."""

    binding: str
    interaction_id: str | None = None
    # The relying party (client, portal) or the request (acr_values) asks for MFA.
    require_mfa: bool = False
    persistent: bool = False
    continuation: Mapping[str, Any] = field(default_factory=dict)


class RecordChoices(Protocol):
    """Whose record an account may open at a practice at a moment
    (:meth:`idp.flows.proxy_grants.ProxyGrantFlow.record_choices`)."""

    def record_choices(
        self, account_id: int, portal_id: int, at: datetime | None = None
    ) -> list[RecordChoice]: ...


@dataclass(frozen=True, slots=True)
class SignedIn:
    """SIGNED_IN: a live SSO session, whose sign-in passed every factor the account has."""

    account_id: int
    subject: str
    amr: tuple[str, ...]
    acr: str | None
    auth_time: int


class AuthnFlow:
    def __init__(
        self,
        *,
        db: Transactions,
        flows: Any,  # idp.flows.store.FlowStore
        login: LoginFlow,
        first_signin: FirstSigninFlow,
        lockout: CredentialLockout,
        methods: Sequence[CredentialMethod],
        clock: Clock,
        notify: Any = None,  # Notifier.email
        records: RecordChoices | None = None,
        passkey_signin: PasskeySignIn | None = None,
    ) -> None:
        self._passkey_signin = passkey_signin
        self._db = db
        self._records = records
        self._flows = flows
        self._login = login
        self._first_signin = first_signin
        self._lockout = lockout
        self._methods = tuple(methods)
        # Passkeys also need options (a challenge) on the page that asks for them.
        self._passkeys: Any = next((m for m in self._methods if m.id == "webauthn"), None)
        self._clock = clock
        self._hooks: tuple[Hook, ...] = (
            AuditHook(),
            *(
                [
                    NotifyHook(
                        notify,
                        template="recovery_code_used",
                        when=lambda ctx: ctx.details.get("method") == "recovery_code",
                        context=lambda ctx: {
                            "left": ctx.details.get("recovery_codes_left", 0),
                            "used_at": ctx.now.strftime("%Y-%m-%d %H:%M UTC"),
                        },
                    )
                ]
                if notify is not None
                else []
            ),
            ResetLockoutHook(),
        )

    # --- IDENTIFY + FIRST_FACTOR: user ID and password ---------------------------------------

    def password(
        self,
        entry: Entry,
        *,
        username: str,
        password: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
    ) -> Outcome:
        MACHINE.check(AuthnState.IDENTIFY, AuthnState.FIRST_FACTOR)
        login = self._login.submit(
            username=username,
            password=password,
            meta=meta,
            device_cookie=device_cookie,
            # The staff question of _mfa_required, answered in the sign-in's transaction.
            check_staff=not entry.require_mfa and entry.interaction_id is not None,
        )
        account = login.account
        if login.reason is LoginReason.SETUP_REQUIRED and account is not None:
            record = self._park(entry, account, AuthnState.SETUP, device_cookie=None)
            if record is None:
                return Render("setup_expired", 400, ("setup_expired",))
            return Redirect(f"{SETUP_PATH}?flow={record.id}")
        if login.reason is LoginReason.SECOND_FACTOR_REQUIRED and account is not None:
            return self._to_second_factor(entry, account, login.device_cookie)
        if login.reason is not LoginReason.SIGNED_IN or account is None:
            message_id, status = _LOGIN_REFUSALS.get(login.reason, ("invalid_credentials", 401))
            return Render("login", status, (message_id,), {"reason": str(login.reason)})
        if self._mfa_required(entry, account, staff=login.staff):
            return self._enrolment_required(account, meta)
        MACHINE.check(AuthnState.FIRST_FACTOR, AuthnState.DONE)
        return self._done(entry, account, ("pwd",), device_cookie=login.device_cookie)

    def credentials_chosen(
        self, entry: Entry, account: AccountRecord, *, meta: RequestMeta
    ) -> Outcome:
        """FIRST_FACTOR proved by choosing the password just now (a new account)."""
        if self._factors(account.id):
            return self._to_second_factor(entry, account, None)
        if self._mfa_required(entry, account):
            return self._enrolment_required(account, meta)
        MACHINE.check(AuthnState.FIRST_FACTOR, AuthnState.DONE)
        return self._done(entry, account, ("pwd",))

    # --- IDENTIFY + FIRST_FACTOR by passkey (discoverable credential, no user ID typed) -----

    def passkey_options(self, entry: Entry) -> tuple[str, str] | None:
        """A new flow waiting for a passkey, and the request options bound to it.

        Each ceremony gets its own flow (and challenge), taken by the one submission
        that answers it; the flow lasts as long as the challenge.
        """
        if self._passkey_signin is None:
            return None
        record = self._flows.start(
            KIND,
            AuthnState.IDENTIFY,
            ttl=PASSKEY_TTL,
            binding=entry.binding,
            interaction_id=entry.interaction_id,
            context={
                "method": PASSKEY_METHOD,
                "require_mfa": entry.require_mfa,
                "persistent": entry.persistent,
                "continuation": dict(entry.continuation),
            },
        )
        return record.id, self._passkey_signin.options(flow_id=record.id)

    def passkey(
        self,
        flow_id: str,
        form: Mapping[str, str],
        *,
        binding: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
    ) -> Outcome:
        """A passkey's answer: DONE with user verification, else on to the password."""
        record = self._flows.finish(flow_id, KIND, {AuthnState.IDENTIFY}, binding=binding)
        if (
            record is None
            or self._passkey_signin is None
            or record.context.get("method") != PASSKEY_METHOD
        ):
            return Render("login", 400, ("second_factor_expired",))
        check = self._passkey_signin.verify(
            form, flow_id=record.id, meta=meta, device_cookie=device_cookie
        )
        if check.verified is None or check.account is None:
            return Render("login", 401, ("account_locked" if check.locked else PASSKEY_REFUSED,))
        MACHINE.check(AuthnState.IDENTIFY, AuthnState.FIRST_FACTOR)
        entry = _entry_of(record)
        amr = passkey_sign_in_amr(check.verified.amr, user_verified=check.verified.user_verified)
        if amr is None:
            parked = self._park(
                entry,
                check.account,
                AuthnState.SECOND_FACTOR,
                device_cookie=check.device_cookie,
                factors=[PASSWORD_FACTOR],
                first_factor_amr=list(check.verified.amr),
            )
            if parked is None:
                return Render("second_factor_expired", 400, ("second_factor_expired",))
            return Redirect(f"{SECOND_FACTOR_PATH}?flow={parked.id}")
        MACHINE.check(AuthnState.FIRST_FACTOR, AuthnState.DONE)
        return self._sealed(record, check.account, amr, check.auth_time, check.device_cookie)

    def passkey_password(
        self,
        flow_id: str,
        password: str,
        *,
        binding: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
    ) -> Outcome:
        """The password after a passkey without user verification: then two factors."""
        record = self._flows.load(flow_id, KIND, {AuthnState.SECOND_FACTOR}, binding=binding)
        if record is None or self._passkey_signin is None or not _after_passkey(record):
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        if not password:
            return Render(SECOND_FACTOR_VIEW, 400, ("invalid_password",), _password_page())

        def take() -> bool:
            states = {AuthnState.SECOND_FACTOR}
            return self._flows.finish(record.id, KIND, states, binding=binding) is not None

        check = self._passkey_signin.password(
            int(record.context["account_id"]),
            password,
            meta=meta,
            then=take,
            # This browser's own cookie, not the one the passkey earned (not set yet): a
            # passkey alone must not open a fresh counter for guessing the password.
            device_cookie=device_cookie,
        )
        if check.account is None:
            if check.locked:
                return Render(SECOND_FACTOR_VIEW, 401, ("account_locked",), _password_page())
            if self._flows.load(record.id, KIND, {AuthnState.SECOND_FACTOR}, binding=binding):
                return Render(SECOND_FACTOR_VIEW, 401, ("invalid_password",), _password_page())
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        MACHINE.check(AuthnState.SECOND_FACTOR, AuthnState.DONE)
        amr = passkey_and_password_amr(tuple(record.context["first_factor_amr"]))
        return self._sealed(
            record, check.account, amr, check.auth_time, record.context.get("device_cookie")
        )

    def _sealed(
        self,
        record: Any,
        account: AccountRecord,
        amr: tuple[str, ...],
        auth_time: int,
        device_cookie: str | None,
    ) -> Done[Authenticated]:
        """DONE after a passkey: two factors proved, so the result carries the MFA acr."""
        return Done(
            Authenticated(
                _issue(
                    account_id=account.id,
                    subject=account.subject,
                    amr=amr,
                    acr=ACR_MFA,
                    auth_time=auth_time,
                ),
                interaction_id=record.interaction_id,
                continuation=dict(record.context.get("continuation") or {}),
                device_cookie=device_cookie,
                persistent=bool(record.context.get("persistent")),
            )
        )

    # --- SETUP: the office-made account's first sign-in --------------------------------------

    def setup_pending(self, flow_id: str, *, binding: str) -> bool:
        return self._flows.load(flow_id, KIND, {AuthnState.SETUP}, binding=binding) is not None

    def setup(
        self,
        flow_id: str,
        *,
        binding: str,
        password: str,
        choices: Sequence[QuestionChoice],
        accept_terms: bool,
        meta: RequestMeta,
    ) -> Outcome:
        record = self._flows.load(flow_id, KIND, {AuthnState.SETUP}, binding=binding)
        if record is None:
            return Render("setup_expired", 400, ("setup_expired",))
        result = self._first_signin.complete(
            account_id=int(record.context["account_id"]),
            password=password,
            choices=choices,
            accept_terms=accept_terms,
            meta=meta,
        )
        if not result.ok or result.account is None:
            return Render(SETUP_VIEW, 400, result.reasons)
        account = result.account
        entry = _entry_of(record)
        if self._factors(account.id):
            moved = self._flows.advance(record, AuthnState.SECOND_FACTOR, MACHINE)
            if moved is None:
                return Render("setup_expired", 400, ("setup_expired",))
            return Redirect(f"{SECOND_FACTOR_PATH}?flow={moved.id}")
        if self._flows.finish(record.id, KIND, {AuthnState.SETUP}, binding=binding) is None:
            return Render("setup_expired", 400, ("setup_expired",))
        if self._mfa_required(entry, account):
            return self._enrolment_required(account, meta)
        MACHINE.check(AuthnState.SETUP, AuthnState.DONE)
        return self._done(entry, account, ("pwd",))

    # --- SECOND_FACTOR ------------------------------------------------------------------------

    def second_factor_page(self, flow_id: str, *, binding: str) -> Render:
        record = self._flows.load(flow_id, KIND, {AuthnState.SECOND_FACTOR}, binding=binding)
        if record is None:
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        if _after_passkey(record):
            return Render(SECOND_FACTOR_VIEW, 200, (), _password_page())
        factors = list(record.context.get("factors", []))
        return Render(SECOND_FACTOR_VIEW, 200, (), self._page_fields(record.id, record, factors))

    def _page_fields(self, flow_id: str, record: Any, factors: list[str]) -> dict[str, Any]:
        """What the page offers: the code form, and a passkey's request options."""
        fields: dict[str, Any] = {"factors": factors}
        if "webauthn" in factors and self._passkeys is not None:
            with self._db.transaction() as uow:
                fields["webauthn_options"] = self._passkeys.authentication_options(
                    account_id=int(record.context["account_id"]), flow_id=flow_id, tx=uow
                )
        return fields

    def second_factor(
        self,
        flow_id: str,
        form: Mapping[str, str],
        *,
        binding: str,
        meta: RequestMeta,
        device_cookie: str | None = None,
    ) -> Outcome:
        """Check one code; every failure counts toward the user ID's lockout (invariant 6)."""
        record = self._flows.load(flow_id, KIND, {AuthnState.SECOND_FACTOR}, binding=binding)
        if record is None:
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        if _after_passkey(record):
            # A passkey was the first factor: only the password completes it, a code
            # would add a second possession factor and the ID token would claim "pwd".
            return Render(SECOND_FACTOR_VIEW, 400, ("invalid_password",), _password_page())
        factors = list(record.context.get("factors", []))

        def finish(uow: Any, account: AccountRecord, verified: Verified, now: datetime) -> bool:
            # Single use: of two concurrent right codes, one finishes the sign-in.
            taken = self._flows.finish(record.id, KIND, {AuthnState.SECOND_FACTOR}, binding=binding)
            return taken is not None

        check = self.check_second_factor(
            int(record.context["account_id"]),
            form,
            flow_id=record.id,
            meta=meta,
            source="sign_in",
            device_cookie=device_cookie,
            then=finish,
        )
        if check.expired:
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        if check.verified is None or check.account is None:
            message_id = "account_locked" if check.locked else "second_factor_wrong_code"
            return Render(
                SECOND_FACTOR_VIEW,
                401,
                (message_id,),
                self._page_fields(record.id, record, factors),
            )
        MACHINE.check(AuthnState.SECOND_FACTOR, AuthnState.DONE)
        amr = tuple(dict.fromkeys(("pwd", *check.verified.amr, "mfa")))
        return Done(
            Authenticated(
                _issue(
                    account_id=check.account.id,
                    subject=check.account.subject,
                    amr=amr,
                    acr=ACR_MFA,
                    auth_time=check.auth_time,
                ),
                interaction_id=record.interaction_id,
                continuation=dict(record.context.get("continuation") or {}),
                device_cookie=record.context.get("device_cookie"),
                persistent=bool(record.context.get("persistent")),
            )
        )

    def check_second_factor(
        self,
        account_id: int,
        form: Mapping[str, str],
        *,
        flow_id: str,
        meta: RequestMeta,
        source: str,
        then: Callable[[Any, AccountRecord, Verified, datetime], bool],
        device_cookie: str | None = None,
    ) -> FactorCheck:
        """reserve -> verify -> count, for any second factor, in one transaction.

        Sign-in, password recovery and step-up share it, so a code guessed in one place
        counts in all (the user ID's counter, or this browser's device counter). On
        success ``then(tx, account, verified, now)`` makes the caller's change in the
        same transaction and answers whether it still could (False: the flow was used
        up meanwhile); the success hooks follow (audit, notify, reset lockout).
        """
        with self._db.transaction() as uow:
            account = uow.accounts.by_id(account_id)
        if account is None or not account.is_active:
            return FactorCheck(expired=True)
        devices = self._lockout.devices
        device = devices.device_for(device_cookie, account.username) if devices else None
        reservation = self._lockout.reserve(username_key(account.username), device=device)
        try:
            if reservation.locked:
                return FactorCheck(locked=True)
            with self._db.transaction() as uow:
                now = self._clock()
                facts = AccountFacts(account.id, uow.credentials.kinds(account.id))
                verdict = self._verify(facts, form, uow, flow_id, now)
                if isinstance(verdict, Verified):
                    if not then(uow, account, verdict, now):
                        return FactorCheck(expired=True)
                    ctx = SuccessContext(
                        tx=uow,
                        account=account,
                        meta=meta,
                        now=now,
                        event="login" if source == "sign_in" else "second_factor_verified",
                        details={
                            "reason": "signed_in" if source == "sign_in" else source,
                            "method": verdict.method,
                            "recovery_codes_left": uow.credentials.recovery_codes_left(account.id),
                        },
                        settle=[lambda: self._lockout.succeeded(reservation)],
                    )
                    run_hooks(self._hooks, ctx)
                    return FactorCheck(
                        verified=verdict, account=account, auth_time=int(now.timestamp())
                    )
                reason = verdict.reason.value if isinstance(verdict, Failed) else "malformed"
                locked = self._lockout.failed(
                    uow, reservation, account, meta=meta, now=now, source=source
                )
                uow.audit.record(
                    AuditEntry(
                        type="login" if source == "sign_in" else "second_factor_verified",
                        outcome="failure",
                        actor=account.subject,
                        subject=account.subject,
                        ip=meta.ip,
                        user_agent=meta.user_agent,
                        details={"reason": f"second_factor_{reason}", "via": source},
                    ),
                    now=now,
                )
            return FactorCheck(locked=locked)
        finally:
            self._lockout.release(reservation)

    # --- SIGNED_IN -> CHOOSE_RECORD: whose record, at this practice ---------------------------

    def choose_record(self, entry: Entry, *, session: SignedIn, portal_id: int) -> Outcome:
        """Ask whose record the session opens at the practice, unless there is nothing to ask.

        One choice (or none) ends at once; several park the flow in CHOOSE_RECORD and
        send the browser to the picker.
        """
        choices = self._choices(session.account_id, portal_id)
        if len(choices) <= 1:
            MACHINE.check(AuthnState.SIGNED_IN, AuthnState.DONE)
            return self._record_done(entry, session, portal_id, choices[0] if choices else None)
        record = self._flows.start(
            KIND,
            AuthnState.SIGNED_IN,
            ttl=TTL,
            binding=entry.binding,
            interaction_id=entry.interaction_id,
            context={
                "account_id": session.account_id,
                "subject": session.subject,
                "amr": list(session.amr),
                "acr": session.acr,
                "auth_time": session.auth_time,
                "portal_id": portal_id,
            },
        )
        moved = self._flows.advance(record, AuthnState.CHOOSE_RECORD, MACHINE)
        if moved is None:
            return Render(CHOOSE_RECORD_EXPIRED, 400, (CHOOSE_RECORD_EXPIRED,))
        return Redirect(f"{CHOOSE_RECORD_PATH}?flow={moved.id}")

    def record_page(self, flow_id: str, *, binding: str) -> Render:
        record = self._flows.load(flow_id, KIND, {AuthnState.CHOOSE_RECORD}, binding=binding)
        if record is None:
            return Render(CHOOSE_RECORD_EXPIRED, 400, (CHOOSE_RECORD_EXPIRED,))
        choices = self._choices(int(record.context["account_id"]), int(record.context["portal_id"]))
        return Render(CHOOSE_RECORD_VIEW, 200, (), {"choices": choices})

    def record_chosen(
        self, flow_id: str, patient: str, *, binding: str, meta: RequestMeta
    ) -> Outcome:
        """The picker's answer: one of the choices as they stand now, else 400 and no change.

        The list is computed again (a grant may have ended since the page was shown), so
        a forged or stale ``patient`` can never open a record the policy does not allow.
        """
        record = self._flows.load(flow_id, KIND, {AuthnState.CHOOSE_RECORD}, binding=binding)
        if record is None:
            return Render(CHOOSE_RECORD_EXPIRED, 400, (CHOOSE_RECORD_EXPIRED,))
        account_id = int(record.context["account_id"])
        portal_id = int(record.context["portal_id"])
        choices = self._choices(account_id, portal_id)
        pick = next((c for c in choices if c.patient_id == patient), None)
        if pick is None:
            return Render(CHOOSE_RECORD_VIEW, 400, ("record_choice_invalid",), {"choices": choices})
        # Single use: of two concurrent answers, one finishes the flow.
        if self._flows.finish(record.id, KIND, {AuthnState.CHOOSE_RECORD}, binding=binding) is None:
            return Render(CHOOSE_RECORD_EXPIRED, 400, (CHOOSE_RECORD_EXPIRED,))
        MACHINE.check(AuthnState.CHOOSE_RECORD, AuthnState.DONE)
        session = SignedIn(
            account_id=account_id,
            subject=str(record.context["subject"]),
            amr=tuple(record.context.get("amr") or ("pwd",)),
            acr=record.context.get("acr"),
            auth_time=int(record.context["auth_time"]),
        )
        with self._db.transaction() as uow:
            # Issue 10 item 9: the choice names the representative (actor) and the patient.
            uow.audit.record(
                AuditEntry(
                    type="record_chosen",
                    outcome="success",
                    actor=session.subject,
                    subject=pick.audit_subject or session.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    details={
                        "portal_id": portal_id,
                        "acting_for": "self" if pick.is_self else "other",
                        **({"relationship": pick.relationship} if pick.relationship else {}),
                        **({"level": pick.level} if pick.level else {}),
                    },
                ),
                now=self._clock(),
            )
        return self._record_done(_entry_of(record), session, portal_id, pick)

    def _choices(self, account_id: int, portal_id: int) -> list[RecordChoice]:
        if self._records is None:
            return []
        return self._records.record_choices(account_id, portal_id, self._clock())

    def _record_done(
        self, entry: Entry, session: SignedIn, portal_id: int, pick: RecordChoice | None
    ) -> Done[Authenticated]:
        acting_for = None if pick is None or pick.is_self else f"person:{pick.person_id}"
        return Done(
            Authenticated(
                _issue(
                    account_id=session.account_id,
                    subject=session.subject,
                    amr=session.amr,
                    acr=session.acr,
                    auth_time=session.auth_time,
                    acting_for=acting_for,
                    portal_id=portal_id,
                ),
                interaction_id=entry.interaction_id,
                continuation={"kind": RECORD_CHOICE},
            )
        )

    # --- internals ---------------------------------------------------------------------------

    def _verify(
        self, facts: AccountFacts, form: Mapping[str, str], uow: Any, flow_id: str, now: datetime
    ) -> Verified | Failed | NotMine:
        for method in self._methods:
            if not method.enrolled(facts):
                continue
            verdict = method.verify(facts, form, tx=uow, flow_id=flow_id, now=now)
            if not isinstance(verdict, NotMine):
                return verdict
        return NotMine()

    def _mfa_required(
        self, entry: Entry, account: AccountRecord, *, staff: bool | None = None
    ) -> bool:
        """The relying party asks for MFA, or the account is staff (issue 9 item 7).

        A staff account without a factor still gets the provider's own pages (no
        interaction) on its password, so that it can enrol one; every portal, and the
        staff console (``idp.web.staff_session``), wants the second factor.
        """
        if entry.require_mfa:
            return True
        if entry.interaction_id is None:
            return False
        if staff is not None:  # already read in the caller's transaction
            return staff
        with self._db.transaction() as uow:
            return bool(uow.staff.is_staff(account.id))

    def _factors(self, account_id: int) -> frozenset[str]:
        with self._db.transaction() as uow:
            return frozenset(str(kind) for kind in uow.credentials.kinds(account_id))

    def _park(
        self,
        entry: Entry,
        account: AccountRecord,
        state: AuthnState,
        *,
        device_cookie: str | None,
        factors: list[str] | None = None,
        first_factor_amr: list[str] | None = None,
    ) -> Any:
        record = self._flows.start(
            KIND,
            AuthnState.FIRST_FACTOR,
            ttl=TTL,
            binding=entry.binding,
            interaction_id=entry.interaction_id,
            context={
                "account_id": account.id,
                "username": account.username,
                "username_key": username_key(account.username),
                "device_cookie": device_cookie,
                "factors": factors if factors is not None else sorted(self._factors(account.id)),
                "first_factor_amr": first_factor_amr,
                "require_mfa": entry.require_mfa,
                "persistent": entry.persistent,
                "continuation": dict(entry.continuation),
            },
        )
        return self._flows.advance(record, state, MACHINE)

    def _to_second_factor(
        self, entry: Entry, account: AccountRecord, device_cookie: str | None
    ) -> Outcome:
        record = self._park(entry, account, AuthnState.SECOND_FACTOR, device_cookie=device_cookie)
        if record is None:
            return Render("second_factor_expired", 400, ("second_factor_expired",))
        return Redirect(f"{SECOND_FACTOR_PATH}?flow={record.id}")

    def _enrolment_required(self, account: AccountRecord, meta: RequestMeta) -> Render:
        """The portal asks for MFA and the account has no second factor: no code for it."""
        with self._db.transaction() as uow:
            uow.audit.record(
                AuditEntry(
                    type="login_refused",
                    outcome="failure",
                    actor=account.subject,
                    subject=account.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    details={"reason": MFA_ENROLMENT_REQUIRED},
                ),
                now=self._clock(),
            )
        return Render(MFA_ENROLMENT_REQUIRED, 403, (MFA_ENROLMENT_REQUIRED,))

    def _done(
        self,
        entry: Entry,
        account: AccountRecord,
        amr: tuple[str, ...],
        *,
        device_cookie: str | None = None,
    ) -> Done[Authenticated]:
        return Done(
            Authenticated(
                _issue(
                    account_id=account.id,
                    subject=account.subject,
                    amr=amr,
                    acr=None,
                    auth_time=int(self._clock().timestamp()),
                ),
                interaction_id=entry.interaction_id,
                continuation=dict(entry.continuation),
                device_cookie=device_cookie,
                persistent=entry.persistent,
            )
        )


def _after_passkey(record: Any) -> bool:
    """The parked sign-in began with a passkey without user verification."""
    return bool(record.context.get("first_factor_amr"))


def _password_page() -> dict[str, Any]:
    return {"factors": [PASSWORD_FACTOR]}


def _entry_of(record: Any) -> Entry:
    return Entry(
        binding=record.binding,
        interaction_id=record.interaction_id,
        require_mfa=bool(record.context.get("require_mfa")),
        persistent=bool(record.context.get("persistent")),
        continuation=dict(record.context.get("continuation") or {}),
    )
