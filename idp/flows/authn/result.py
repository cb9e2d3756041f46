"""AuthenticationResult: the only thing the web layer may turn into an SSO session.

Sealed: the constructor refuses to run without a token private to this package,
and the only code handing it out is :func:`_issue`, imported by
:mod:`idp.flows.authn.flow` alone (``tests/unit/test_layering.py`` checks both).
So a journey that forgets a factor cannot "sign the patient in" by building a
result itself: it has to go through the authentication flow, which passes every
factor the account has (DESIGN.md invariant 11).

``amr`` holds RFC 8176 values (``pwd``, ``otp``, ``mfa``, ...); ``acr`` is set only
when a second factor was used (:data:`ACR_MFA`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from idp.policies.assurance import ACR_MFA, ACR_VALUES_SUPPORTED

__all__ = ["ACR_MFA", "ACR_VALUES_SUPPORTED", "AuthenticationResult"]

_SEAL = object()


@dataclass(frozen=True, slots=True)
class AuthenticationResult:
    account_id: int
    subject: str
    acting_for: str | None
    amr: tuple[str, ...]
    acr: str | None
    auth_time: int
    _seal: object = field(default=None, repr=False, compare=False)
    # The practice whose "whose record" question ``acting_for`` answers (issue 10 item 5):
    # ``acting_for`` is None for the account's own record, else "person:<id>".
    portal_id: int | None = None

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise TypeError("an AuthenticationResult comes only from the authentication flow")

    @property
    def multi_factor(self) -> bool:
        return "mfa" in self.amr


def _issue(
    *,
    account_id: int,
    subject: str,
    amr: tuple[str, ...],
    acr: str | None,
    auth_time: int,
    acting_for: str | None = None,
    portal_id: int | None = None,
) -> AuthenticationResult:
    return AuthenticationResult(
        account_id=account_id,
        subject=subject,
        acting_for=acting_for,
        amr=amr,
        acr=acr,
        auth_time=auth_time,
        _seal=_SEAL,
        portal_id=portal_id,
    )
