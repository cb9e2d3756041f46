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
