"""Password hashing with argon2id (OWASP Password Storage Cheat Sheet; standards.md row 19).

Passwords are NFKC-normalised before hashing (NIST SP 800-63B-4 §3.1.1.2) so
that the same password typed on two keyboards verifies. A verification against
an unknown account still runs one full argon2 verify against a decoy hash, so
"no such user" costs as much as "wrong password" (security invariant 4).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import Parameters, PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
OWASP_MINIMUM = Parameters(
    type=Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,
    parallelism=1,
)

PROFILES = {
    "owasp": OWASP_MINIMUM,
    # RFC 9106's second recommendation (m=64 MiB, t=3, p=4): above OWASP's floor.
    "rfc9106-low": profiles.RFC_9106_LOW_MEMORY,
    # Tests only (settings refuse it outside IDP_ENV=test).
    "test": profiles.CHEAPEST,
}


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    # A new hash to store when the stored one used weaker parameters than today's.
    rehash: str | None = None


class PasswordHashing:
    """Hash and verify passwords with one argon2id parameter set."""

    def __init__(self, profile: str) -> None:
        self._hasher = PasswordHasher.from_parameters(PROFILES[profile])
        # Decoy for unknown accounts: same parameters, so the same work.
        self._decoy = self._hasher.hash("decoy password that nobody has")

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalise_password(password))

    def verify(self, stored_hash: str, password: str) -> PasswordCheck:
        candidate = normalise_password(password)
        try:
            self._hasher.verify(stored_hash, candidate)
        except (VerificationError, InvalidHashError):
            return PasswordCheck(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return PasswordCheck(ok=True, rehash=self._hasher.hash(candidate))
        return PasswordCheck(ok=True)

    def verify_decoy(self, password: str) -> PasswordCheck:
        """Spend one verification's work and fail: used when the user ID is unknown."""
        try:
            self._hasher.verify(self._decoy, normalise_password(password) + "\x00")
        except (VerificationError, InvalidHashError):
            pass
        return PasswordCheck(ok=False)
