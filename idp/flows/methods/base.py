"""One small protocol for every way of proving who you are (issue 9, flow-kernel.md).

Why a protocol: today each journey verifies its credential in its own code path, so
adding a second factor would mean changing every path, and a path forgotten is an
MFA bypass. Instead each method (password, security answers, authenticator app,
passkey, recovery code, ...) answers the same three questions:

- ``id`` and ``amr``: its name in forms and audit events, and the RFC 8176
  Authentication Method Reference values a success contributes to the ID token;
- ``enrolled(account)``: does this account have it at all;
- ``verify(account, form, ...)``: ``Verified``, ``Failed(reason)``, or ``NotMine``.

``NotMine`` is the idea Ory Kratos calls ``ErrStrategyNotResponsible``: the
authentication flow offers one submission to every method in turn and each method
declines what was not meant for it (the form's ``method`` field names another
method), so the flow needs no ``if method == ...`` ladder and a new method is one
more entry in a list.

A method never counts failures itself. Every ``Failed`` goes to the caller, which
counts it toward the lockout atomically (DESIGN.md invariant 6) and audits it with
the reason code; a method that swallowed a failure would open a guessing oracle.
Methods take the time as an argument (``now``), so tests pin the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from idp.store.credentials import CredentialKind, CredentialStore

# The form field that says which method a submission is for.
METHOD_FIELD = "method"


class FailureReason(StrEnum):
    """Why a submission failed: stable codes for audit events and message IDs."""

    MALFORMED = "malformed"  # not even the shape of a code or response
    WRONG_CODE = "wrong_code"
    REPLAYED = "replayed"  # a code or time step already used
    NOT_ENROLLED = "not_enrolled"
    CHALLENGE_MISSING = "challenge_missing"  # expired, used already, or never issued
    INVALID_RESPONSE = "invalid_response"  # a WebAuthn response that does not verify
    UNKNOWN_CREDENTIAL = "unknown_credential"  # not one of this account's passkeys
    CLONE_SUSPECTED = "clone_suspected"  # signature counter did not increase
    ALREADY_REGISTERED = "already_registered"


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What a method may know about the account being signed in, fetched by the flow."""

    account_id: int
    factors: frozenset[CredentialKind]


@dataclass(frozen=True, slots=True)
class Verified:
    method: str
    account_id: int
    # RFC 8176 values this success adds to the ID token's ``amr``.
    amr: tuple[str, ...]
    # The credential row used, for "last used" and the audit event; None for a password.
    credential: int | None = None
    # The authenticator verified the user (PIN, biometric): a passkey alone is then
    # multi-factor (NIST SP 800-63B-4 §3.1.7), which the sign-in flow may count as such.
    user_verified: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    method: str
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class NotMine:
    """The submission names another method; this one neither accepts nor refuses it."""


NOT_MINE = NotMine()

Verification = Verified | Failed | NotMine


class MethodTx(Protocol):
    """The part of a durable transaction (``UnitOfWork``) that the methods use."""

    @property
    def credentials(self) -> CredentialStore: ...


class CredentialMethod(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def amr(self) -> tuple[str, ...]:
        """Every RFC 8176 value a success of this method may contribute."""

    def enrolled(self, account: AccountFacts) -> bool: ...

    def verify(
        self,
        account: AccountFacts,
        form: Mapping[str, str],
        *,
        tx: MethodTx,
        flow_id: str,
        now: datetime,
    ) -> Verification:
        """Check one submission; ``flow_id`` binds server-side challenges to the flow."""


def submitted_for(method_id: str, form: Mapping[str, str]) -> bool:
    """True when the form names ``method_id`` in its ``method`` field."""
    return form.get(METHOD_FIELD) == method_id
