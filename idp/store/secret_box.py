"""Encryption at rest for secrets we must be able to read back (TOTP shared secrets).

Hashing, our rule for secrets at rest (invariant 5), cannot serve here: RFC 6238
needs the shared secret itself to compute the expected code. So the secret is
encrypted, and a copy of the database alone does not give an attacker codes.

Choices, and why:

- **AES-256-GCM** (``cryptography``'s ``AESGCM``) rather than Fernet: it is an AEAD
  with *associated data*, so a sealed secret is bound to its context (the account
  it belongs to) and a row copied onto another account does not open there. Fernet
  (AES-128-CBC + HMAC) has no associated data and carries a timestamp we do not need.
  Nonces are 96 random bits; NIST SP 800-38D allows 2^32 messages per key that way,
  far beyond one secret per enrolment.
- **The key is derived by HKDF-SHA256 from ``IDP_SECRET_KEY``** (RFC 5869), with an
  ``info`` label of its own, so the cookie-signing key and this key never coincide and
  a deployment needs no second secret to start with. The cost: replacing
  ``IDP_SECRET_KEY`` makes sealed secrets unreadable (patients re-enrol).
- **Every sealed value starts with a key-id byte** (1 = "HKDF from the secret key").
  A separate key file can later become key 2: new secrets are sealed with the
  current key while older rows still open with theirs, so the change needs no
  flag day.

Layout: ``key_id (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
The plaintext is never logged, and errors never include it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_KEY_ID = 1
_HKDF_INFO = b"patient-idp secret-box v1"
_NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed value cannot be opened: another key, another context, or altered bytes."""


def derive_key(secret_key: str) -> bytes:
    """The 256-bit AES key of key id 1, derived from ``IDP_SECRET_KEY``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )


class SecretBox:
    def __init__(self, keys: Mapping[int, bytes], *, current: int) -> None:
        if current not in keys:
            raise ValueError("the current key id has no key")
        if not all(0 < key_id < 256 and len(key) == 32 for key_id, key in keys.items()):
            raise ValueError("key ids are 1..255 and keys are 32 bytes")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    @classmethod
    def from_secret_key(cls, secret_key: str) -> SecretBox:
        return cls({SECRET_KEY_ID: derive_key(secret_key)}, current=SECRET_KEY_ID)

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt under the current key, bound to ``context`` (e.g. ``b"totp:42"``)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, context)
        return bytes([self._current]) + nonce + sealed

    def open(self, sealed: bytes, *, context: bytes) -> bytes:
        """Decrypt with the key its first byte names; SecretBoxError on any mismatch."""
        if len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SecretBoxError("sealed value too short")
        aead = self._keys.get(sealed[0])
        if aead is None:
            raise SecretBoxError(f"no key with id {sealed[0]}")
        try:
            return aead.decrypt(sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :], context)
        except InvalidTag:
            raise SecretBoxError("sealed value does not open with this key and context") from None
