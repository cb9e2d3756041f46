"""Rules for passkeys (WebAuthn) that need no I/O: the signature counter and ``amr``.

- **Counter** (WebAuthn Level 3 §6.1.1, §7.2 step 21): an authenticator that keeps a
  signature counter increases it at every assertion. If a response carries a
  counter that is not greater than the one stored, two copies of the credential
  probably exist (a cloned authenticator). Many passkeys, synced ones above all,
  always report 0; with both counts 0 there is nothing to compare, and a replayed
  response is refused by the single-use challenge instead.
- **amr** (RFC 8176 §2): ``hwk`` when the key cannot leave its device, ``swk`` when
  the authenticator reports it backed up (a synced passkey lives in software
  across devices), plus ``user``: WebAuthn always requires a user-presence test.
"""

from __future__ import annotations


def counter_is_plausible(stored: int, received: int) -> bool:
    """False when the counter did not increase although one of the two is non-zero."""
    if stored == 0 and received == 0:
        return True
    return received > stored


def passkey_amr(*, backed_up: bool) -> tuple[str, ...]:
    return ("swk" if backed_up else "hwk", "user")


def passkey_sign_in_amr(amr: tuple[str, ...], *, user_verified: bool) -> tuple[str, ...] | None:
    """``amr`` of a sign-in that started with a passkey alone, or None when it needs more.

    With user verification (the authenticator checked a PIN or biometric, WebAuthn UV
    flag) the passkey is a multi-factor cryptographic authenticator (NIST SP
    800-63B-4 §3.1.7; something you have, unlocked by something you know or are):
    ``mfa`` is added and the sign-in is complete at AAL2. ``pin`` is not claimed: the
    UV flag does not say whether a PIN or a fingerprint unlocked it.
    Without user verification it is one factor (possession): None, and the sign-in
    asks for the password as the other factor (see :func:`passkey_and_password_amr`).
    """
    if not user_verified:
        return None
    return (*amr, "mfa")


def passkey_and_password_amr(amr: tuple[str, ...]) -> tuple[str, ...]:
    """A passkey without user verification completed by the password: two factors."""
    return tuple(dict.fromkeys(("pwd", *amr, "mfa")))
