"""Password hashing with argon2id (OWASP Password Storage Cheat Sheet; standards.md row 19).

Passwords are NFKC-normalised before hashing (NIST SP 800-63B-4 §3.1.1.2) so
that the same password typed on two keyboards verifies. A verification against
an unknown account still runs one full argon2 verify against a decoy hash, so
"no such user" costs as much as "wrong password" (security invariant 4).
"""

from __future__ import annotations

import os
import threading
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


def hash_slots() -> int:
    """How many argon2 computations one process runs at once: one per core.

    Each holds ``memory_cost`` KiB (64 MiB by default) while it runs, and more at
    once than there are cores only queue inside the CPU while their memory is held.
    Capping them keeps a login storm's memory flat (issue 12: 8 concurrent sign-ins
    held 540 MB) and makes the waiting requests queue here instead.
    """
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    # A new hash to store when the stored one used weaker parameters than today's.
    rehash: str | None = None


class PasswordHashing:
    """Hash and verify passwords with one argon2id parameter set."""

    def __init__(self, profile: str, *, slots: int | None = None) -> None:
        self._hasher = PasswordHasher.from_parameters(PROFILES[profile])
        self.parameters = PROFILES[profile]
        # At most this many hashes at once in this process (see hash_slots); every
        # hash and verify, decoy included, waits for a slot the same way (invariant 4).
        self._slots = threading.BoundedSemaphore(slots or hash_slots())
        # Decoy for unknown accounts: same parameters, so the same work.
        self._decoy = self._hasher.hash("decoy password that nobody has")

    def hash(self, password: str) -> str:
        candidate = normalise_password(password)
        with self._slots:
            return self._hasher.hash(candidate)

    def verify(self, stored_hash: str, password: str) -> PasswordCheck:
        candidate = normalise_password(password)
        try:
            with self._slots:
                self._hasher.verify(stored_hash, candidate)
        except (VerificationError, InvalidHashError):
            return PasswordCheck(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return PasswordCheck(ok=True, rehash=self.hash(candidate))
        return PasswordCheck(ok=True)

    def verify_decoy(self, password: str) -> PasswordCheck:
        """Spend one verification's work and fail: used when the user ID is unknown."""
        candidate = normalise_password(password) + "\x00"
        try:
            with self._slots:
                self._hasher.verify(self._decoy, candidate)
        except (VerificationError, InvalidHashError):
            pass
        return PasswordCheck(ok=False)
