"""Password presets as tables: the FAQ's rule exactly, and NIST SP 800-63B-4 by default."""

from __future__ import annotations

import pytest

from idp.policies.password import (
    COMMON_PASSWORD,
    CONTAINS_CONTEXT_WORD,
    FORBIDDEN_CHARACTER,
    NEEDS_DIGIT_OR_UPPER,
    PASSWORD_PRESETS,
    TOO_LONG,
    TOO_SHORT,
    describe,
    evaluate_password,
)

NIST = PASSWORD_PRESETS["nist-800-63b"]
CLASSIC = PASSWORD_PRESETS["portal-classic"]
CONTEXT = (
    "jsmith88",
    "Jane",
    "Smith-Jones",
    "jane.smith@example.org",
    "Patient Sign-in",
    "Northside Pediatrics",
)


@pytest.mark.parametrize(
    ("password", "reasons"),
    [
        # FAQ: "at least 6 characters, at least one number OR an upper case letter,
        # and should not contain any special characters (#%&*)".
        ("wrenf1nch", ()),
        ("Wrenfinch", ()),
        ("wrenfinch", (NEEDS_DIGIT_OR_UPPER,)),
        ("bluejay", (NEEDS_DIGIT_OR_UPPER, COMMON_PASSWORD)),
        ("Bl4y", (TOO_SHORT,)),
        ("blu", (TOO_SHORT, NEEDS_DIGIT_OR_UPPER)),
        ("Blue#jay", (FORBIDDEN_CHARACTER,)),
        ("Blue%jay", (FORBIDDEN_CHARACTER,)),
        ("Blue&jay", (FORBIDDEN_CHARACTER,)),
        ("Blue*jay", (FORBIDDEN_CHARACTER,)),
        ("Blue!jay", ()),  # only # % & * are named by the FAQ
        ("123456", (COMMON_PASSWORD,)),
        ("Password1", (COMMON_PASSWORD,)),
        ("Ünïcode9", ()),
        ("jsmith88!", (CONTAINS_CONTEXT_WORD,)),
        ("x" * 129 + "1", (TOO_LONG,)),
    ],
)
def test_portal_classic(password: str, reasons: tuple[str, ...]) -> None:
    assert evaluate_password(password, policy=CLASSIC, context_words=CONTEXT).reasons == reasons


@pytest.mark.parametrize(
    ("password", "mfa", "reasons"),
    [
        ("correct horse battery staple", False, ()),
        ("all lowercase no digits here", False, ()),  # no composition rules
        ("Bluejay4", False, (TOO_SHORT,)),
        ("Bluejay4", True, ()),  # 8 is enough with a second factor
        ("Blue#jay%&*stars", False, ()),  # every character allowed
        ("short", True, (TOO_SHORT,)),
        ("x" * 128, False, ()),
        ("x" * 129, False, (TOO_LONG,)),
        ("1234qwerasdfzxcv", False, (COMMON_PASSWORD,)),
        ("QwErTy123456789", False, (COMMON_PASSWORD,)),  # case does not matter
        ("1234567890123456", False, ()),  # not on the list: allowed, length does the work
        ("my name is jane and i like it", False, (CONTAINS_CONTEXT_WORD,)),
        ("northside pediatrics rocks!", False, (CONTAINS_CONTEXT_WORD,)),
        ("smithjones family password", False, (CONTAINS_CONTEXT_WORD,)),
        ("patient portal passphrase", False, (CONTAINS_CONTEXT_WORD,)),
        # Unicode: counted in code points after NFKC, so 15 CJK characters suffice.
        ("我的密码是非常长的一句话真的很长", False, ()),
        ("пароль-для-портала", False, ()),
        ("🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐", False, ()),
        ("🔐🔐🔐🔐🔐🔐🔐", False, (TOO_SHORT,)),
        ("ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ", False, ()),  # full width, NFKC
    ],
)
def test_nist_default(password: str, mfa: bool, reasons: tuple[str, ...]) -> None:
    verdict = evaluate_password(password, policy=NIST, context_words=CONTEXT, has_second_factor=mfa)
    assert verdict.reasons == reasons


def test_all_reasons_are_reported_at_once() -> None:
    verdict = evaluate_password("jane#", policy=CLASSIC, context_words=CONTEXT)
    assert set(verdict.reasons) == {
        TOO_SHORT,
        NEEDS_DIGIT_OR_UPPER,
        FORBIDDEN_CHARACTER,
        CONTAINS_CONTEXT_WORD,
    }


def test_every_reason_has_a_message_naming_the_rule() -> None:
    assert describe(TOO_SHORT, NIST) == "Use at least 15 characters."
    assert describe(TOO_SHORT, NIST, has_second_factor=True) == "Use at least 8 characters."
    assert describe(TOO_SHORT, CLASSIC) == "Use at least 6 characters."
    assert "# % & *" in describe(FORBIDDEN_CHARACTER, CLASSIC)


def test_presets_declare_conformance() -> None:
    assert NIST.nist_conformant and not CLASSIC.nist_conformant
