"""The second-factor methods of one deployment, built once in ``create_app``.

One object so that the account page (enrolment) and the sign-in side (the
second-factor step, step-up, passkey sign-in) use the very same instances: one
secret box, one relying-party identity, one ephemeral store for used steps and
challenges. A method built twice with different settings would make passkeys that
sign-in cannot verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.store.interfaces import EphemeralStore
from idp.store.secret_box import SecretBox

from .base import CredentialMethod
from .recovery_codes import RecoveryCodeMethod
from .totp import TotpMethod
from .webauthn import WebAuthnMethod


@dataclass(frozen=True, slots=True)
class SecondFactorMethods:
    totp: TotpMethod
    webauthn: WebAuthnMethod
    recovery_codes: RecoveryCodeMethod

    @classmethod
    def build(
        cls, *, secret_key: str, issuer: str, service_name: str, ephemeral: EphemeralStore
    ) -> SecondFactorMethods:
        """TOTP secrets are sealed with a key derived from ``IDP_SECRET_KEY`` (secret_box)."""
        return cls(
            totp=TotpMethod(
                box=SecretBox.from_secret_key(secret_key),
                ephemeral=ephemeral,
                issuer_name=service_name,
            ),
            webauthn=WebAuthnMethod(issuer=issuer, service_name=service_name, ephemeral=ephemeral),
            recovery_codes=RecoveryCodeMethod(),
        )

    def all(self) -> tuple[CredentialMethod, ...]:
        """In the order a second-factor page offers them: app, passkey, recovery code."""
        return (self.totp, self.webauthn, self.recovery_codes)
