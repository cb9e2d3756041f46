"""What the self sign-up modules share: pages, outcomes, services and the audit.

Sign-up is split by concept (:mod:`idp.flows.registration` steps 1-2 and the branch
decision, :mod:`idp.flows.signup_phone` the phone step, :mod:`idp.flows.signup_links`
pending registrations, the verification link and resend); they meet here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.policies.demographics import Refusal
from idp.records import AuditEntry, RequestMeta
from idp.settings import AccountSettings
from idp.store.durable import Database, UnitOfWork
from idp.store.interfaces import EphemeralStore
from idp.store.throttle import Throttle

from .lockout import CredentialLockout
from .methods.password import PasswordHashing

# How long a step's record lives (step 1 → step 2, the phone step, "choose another ID").
FLOW_TTL = 30 * 60
# Every sign-up throttle counts in fixed windows of an hour.
THROTTLE_WINDOW = 3600
FLOW_ID_RE = re.compile(r"[A-Za-z0-9_-]{43}")
USERNAME_RE = re.compile(r"[A-Za-z0-9._@-]{3,64}")

__all__ = [
    "FLOW_ID_RE",
    "FLOW_TTL",
    "THROTTLE_WINDOW",
    "USERNAME_RE",
    "Refusal",
    "SignupContext",
    "SignupOutcome",
    "SignupState",
]


class SignupState(StrEnum):
    """Which page to show (the outcome never says which branch the flow took)."""

    DEMOGRAPHICS = "demographics"
    CREDENTIALS = "credentials"
    CHECK_EMAIL = "check_email"
    PHONE_CODE = "phone_code"
    PHONE_DONE = "phone_done"
    EXISTING_ACCOUNT = "existing_account"
    EXPIRED = "expired"
    # The emailed link.
    VERIFIED = "verified"
    LINK_INVALID = "link_invalid"
    # The link was opened, but the user ID was taken meanwhile: choose another.
    CHOOSE_USER_ID = "choose_user_id"


@dataclass(frozen=True, slots=True)
class SignupOutcome:
    """Which page to show: ``state``, the flow id to carry on, reasons, email, phone."""

    state: SignupState
    flow_id: str | None = None
    refusals: tuple[Refusal, ...] = ()
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class SignupContext:
    """The services every sign-up step uses, built once per request by the flow."""

    db: Database
    store: EphemeralStore
    hashing: PasswordHashing
    throttle: Throttle
    notifier: Notifier
    clock: Clock
    accounts: AccountSettings
    issuer: str  # without a trailing slash
    # The deployment secret (blocking keys); None only for embedding code and tests.
    secret: str | None
    # Sign-up's own HMAC key (codes, identity throttle), derived from the secret.
    key: bytes
    lockout: CredentialLockout | None
    region: str

    def audit(
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
            now=self.clock(),
        )
