"""Pure rules of second factors: TOTP code shape and steps, recovery-code format."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from idp.policies.passkeys import (
    counter_is_plausible,
    passkey_amr,
    passkey_and_password_amr,
    passkey_sign_in_amr,
)
from idp.policies.recovery_codes import (
    format_recovery_code,
    normalise_recovery_code,
    recovery_code_hash,
)
from idp.policies.totp import USED_STEP_TTL, normalise_totp_code, step_is_fresh, time_step


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("123456", "123456"),
        ("012345", "012345"),
        ("123 456", "123456"),
        ("123-456", "123456"),
        ("\t123456\n", "123456"),
        ("", None),
        ("12345", None),
        ("1234567", None),
        ("12345a", None),
        ("١٢٣٤٥٦", None),
        ("1" * 65, None),
        ("+123456", None),
    ],
)
def test_totp_code_normalisation(raw: str, code: str | None) -> None:
    assert normalise_totp_code(raw) == code


def test_time_steps_are_30_seconds_from_the_epoch() -> None:
    assert time_step(datetime(1970, 1, 1, 0, 0, 59, tzinfo=UTC)) == 1
    assert time_step(datetime(1970, 1, 1, 0, 1, 0, tzinfo=UTC)) == 2


def test_only_later_steps_are_fresh() -> None:
    assert step_is_fresh(5, None) and step_is_fresh(6, 5)
    assert not step_is_fresh(5, 5) and not step_is_fresh(4, 5)


def test_used_step_marker_outlives_every_acceptable_step() -> None:
    # A step is acceptable for 3 steps (itself and one either side): 90 seconds.
    assert USED_STEP_TTL >= 3 * 30


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("7KQ2-M9XD-4HTR-0BWC", "7KQ2M9XD4HTR0BWC"),
        ("7kq2 m9xd 4htr 0bwc", "7KQ2M9XD4HTR0BWC"),
        ("7KQ2-M9XD-4HTR-OBWC", "7KQ2M9XD4HTR0BWC"),  # O read as zero
        ("IIII-LLLL-0000-1111", "1111111100001111"),
        ("7KQ2-M9XD-4HTR-0BWU", None),  # U is not in the alphabet
        ("7KQ2-M9XD-4HTR", None),
        ("7KQ2-M9XD-4HTR-0BWC-0", None),
        ("", None),
        ("7KQ2M9XD4HTR0BWC" * 5, None),
    ],
)
def test_recovery_code_normalisation(raw: str, code: str | None) -> None:
    assert normalise_recovery_code(raw) == code


def test_recovery_code_display_and_hash() -> None:
    assert format_recovery_code("7KQ2M9XD4HTR0BWC") == "7KQ2-M9XD-4HTR-0BWC"
    assert len(recovery_code_hash("7KQ2M9XD4HTR0BWC")) == 64


def test_second_factor_policies_import_no_io_layer() -> None:
    code = (
        "import sys, idp.policies.totp, idp.policies.recovery_codes, idp.policies.passkeys; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'redis')"
        " or m.startswith('idp.notify') or m.startswith('idp.store')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_credential_methods_do_not_import_the_sql_store() -> None:
    """Flows reach durable data through store protocols only (issue 9, layering)."""
    code = (
        "import sys, idp.flows.methods.base, idp.flows.methods.totp, "
        "idp.flows.methods.recovery_codes, idp.flows.methods.webauthn; "
        "bad = [m for m in sys.modules if m.startswith('idp.store.sql') or m == 'flask']; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("stored", "received", "plausible"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 4, False), (5, 0, False)],
)
def test_passkey_counter_must_increase_unless_both_are_zero(
    stored: int, received: int, plausible: bool
) -> None:
    assert counter_is_plausible(stored, received) is plausible


def test_passkey_amr_tells_device_bound_from_synced() -> None:
    assert passkey_amr(backed_up=False) == ("hwk", "user")
    assert passkey_amr(backed_up=True) == ("swk", "user")


def test_a_passkey_alone_is_multi_factor_only_with_user_verification() -> None:
    assert passkey_sign_in_amr(("hwk", "user"), user_verified=True) == ("hwk", "user", "mfa")
    assert passkey_sign_in_amr(("swk", "user"), user_verified=True) == ("swk", "user", "mfa")
    assert passkey_sign_in_amr(("hwk", "user"), user_verified=False) is None


def test_a_passkey_without_user_verification_and_the_password_are_two_factors() -> None:
    assert passkey_and_password_amr(("hwk", "user")) == ("pwd", "hwk", "user", "mfa")
    assert passkey_and_password_amr(("swk", "user")) == ("pwd", "swk", "user", "mfa")
