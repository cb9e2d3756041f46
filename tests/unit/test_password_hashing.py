"""argon2id at or above OWASP's minimum, re-hash when parameters rise, NFKC, decoy work."""

from __future__ import annotations

import os
import threading
import time

from argon2 import extract_parameters

from idp.flows.methods.password import PROFILES, PasswordHashing, hash_slots


def test_default_profiles_meet_owasp_minimum() -> None:
    # OWASP: argon2id m=19 MiB, t=2, p=1 at least (or an equivalent trade-off).
    for name in ("owasp", "rfc9106-low"):
        params = PROFILES[name]
        assert params.type.name == "ID"
        assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2


def test_hash_is_argon2id_and_verifies() -> None:
    hashing = PasswordHashing("owasp")
    stored = hashing.hash("Tr0ub4dor&3 is not a good password")
    assert stored.startswith("$argon2id$")
    assert hashing.verify(stored, "Tr0ub4dor&3 is not a good password").ok
    assert not hashing.verify(stored, "Tr0ub4dor&3 is not a good passworD").ok


def test_weaker_hash_is_rehashed_on_successful_verify() -> None:
    old = PasswordHashing("test").hash("a patient's passphrase")
    check = PasswordHashing("owasp").verify(old, "a patient's passphrase")
    assert check.ok and check.rehash is not None
    assert extract_parameters(check.rehash).memory_cost == 19 * 1024
    assert not PasswordHashing("owasp").verify(old, "wrong").rehash


def test_unicode_passwords_are_nfkc_normalised() -> None:
    hashing = PasswordHashing("test")
    stored = hashing.hash("ｐａｓｓｗｏｒｄ ｃａｆé")  # full-width forms
    assert hashing.verify(stored, "password café").ok
    assert hashing.verify(stored, "password cafe\u0301").ok  # combining accent


def test_garbage_hash_fails_without_raising() -> None:
    assert not PasswordHashing("test").verify("not-a-hash", "x").ok


def test_decoy_never_succeeds() -> None:
    hashing = PasswordHashing("test")
    assert not hashing.verify_decoy("decoy password that nobody has").ok


class _CountingHasher:
    """Wraps the real hasher and records how many of its calls overlap."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.02)  # long enough for every thread to pile up here
            return self._inner.verify(stored, password)  # type: ignore[attr-defined,no-any-return]
        finally:
            with self._lock:
                self.running -= 1


def test_concurrent_hashes_are_bounded_by_the_slots() -> None:
    """A login storm queues for a slot instead of holding every hash's memory at once."""
    hashing = PasswordHashing("test", slots=2)
    stored = hashing.hash("a patient's passphrase")
    counter = _CountingHasher(hashing._hasher)
    hashing._hasher = counter  # type: ignore[assignment]
    calls = [
        lambda: hashing.verify(stored, "a patient's passphrase"),
        lambda: hashing.verify(stored, "wrong"),
        lambda: hashing.verify_decoy("anything"),
    ] * 4
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.most == 2


def test_one_slot_per_core_by_default() -> None:
    assert hash_slots() == len(os.sched_getaffinity(0))
