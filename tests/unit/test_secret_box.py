"""Sealing TOTP secrets at rest: AES-GCM under a key derived from the secret key."""

from __future__ import annotations

import pytest

from idp.store.secret_box import SECRET_KEY_ID, SecretBox, SecretBoxError, derive_key

KEY = "k" * 40


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    box = SecretBox.from_secret_key(KEY)
    a = box.seal(b"JBSWY3DPEHPK3PXP", context=b"totp:1")
    b = box.seal(b"JBSWY3DPEHPK3PXP", context=b"totp:1")
    assert a != b
    assert a[0] == SECRET_KEY_ID and b"JBSWY3DPEHPK3PXP" not in a
    assert box.open(a, context=b"totp:1") == box.open(b, context=b"totp:1") == b"JBSWY3DPEHPK3PXP"


def test_another_secret_key_cannot_open_it() -> None:
    sealed = SecretBox.from_secret_key(KEY).seal(b"secret", context=b"totp:1")
    with pytest.raises(SecretBoxError):
        SecretBox.from_secret_key("z" * 40).open(sealed, context=b"totp:1")


def test_another_context_cannot_open_it() -> None:
    box = SecretBox.from_secret_key(KEY)
    with pytest.raises(SecretBoxError):
        box.open(box.seal(b"secret", context=b"totp:1"), context=b"totp:2")


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_any_altered_byte_is_refused(position: int) -> None:
    box = SecretBox.from_secret_key(KEY)
    sealed = bytearray(box.seal(b"secret", context=b"totp:1"))
    sealed[position] ^= 0x01
    with pytest.raises(SecretBoxError):
        box.open(bytes(sealed), context=b"totp:1")


@pytest.mark.parametrize("sealed", [b"", b"\x01", b"\x01" + b"\x00" * 27])
def test_truncated_values_are_refused(sealed: bytes) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox.from_secret_key(KEY).open(sealed, context=b"totp:1")


def test_a_second_key_can_be_added_and_old_values_still_open() -> None:
    """The key-id byte: a key file could become key 2 without re-sealing every row."""
    old = SecretBox.from_secret_key(KEY).seal(b"old", context=b"c")
    both = SecretBox({SECRET_KEY_ID: derive_key(KEY), 2: b"\x07" * 32}, current=2)
    new = both.seal(b"new", context=b"c")
    assert new[0] == 2
    assert both.open(old, context=b"c") == b"old" and both.open(new, context=b"c") == b"new"
    with pytest.raises(SecretBoxError):
        SecretBox.from_secret_key(KEY).open(new, context=b"c")


def test_secret_never_appears_in_the_error() -> None:
    box = SecretBox.from_secret_key(KEY)
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", context=b"a")
    with pytest.raises(SecretBoxError) as info:
        box.open(sealed, context=b"b")
    assert "JBSWY3DPEHPK3PXP" not in str(info.value) and KEY not in str(info.value)
