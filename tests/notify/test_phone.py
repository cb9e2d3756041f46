"""Phone numbers normalised to E.164, and the reasons a number is refused."""

from __future__ import annotations

import pytest

from idp.notify.phone import InvalidPhoneNumber, PhoneReason, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "(617) 555-0123",
        "617.555.0123",
        "617-555-0123",
        "+1 617 555 0123",
        "6175550123",
        "1 (617) 555-0123",
        "+1-617-555-0123",
        "  617 555 0123  ",
        "tel:+1-617-555-0123",
    ],
)
def test_us_formats_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+16175550123"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+49 30 901820", "US", "+4930901820"),
    ],
)
def test_international_numbers(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region=region) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", PhoneReason.EMPTY),
        ("   ", PhoneReason.EMPTY),
        ("not a phone", PhoneReason.NOT_A_NUMBER),
        ("call me maybe", PhoneReason.NOT_A_NUMBER),
        ("12", PhoneReason.TOO_SHORT),
        ("555-0123", PhoneReason.TOO_SHORT),
        ("617555012", PhoneReason.TOO_SHORT),
        ("+1 617 555 01234", PhoneReason.TOO_LONG),
        ("+1 123 456 7890", PhoneReason.INVALID_NUMBER),
        ("000-000-0000", PhoneReason.INVALID_NUMBER),
        ("+999 123456", PhoneReason.INVALID_COUNTRY_CODE),
        ("(617) 555-0123 ext. 42", PhoneReason.HAS_EXTENSION),
        ("6" * 65, PhoneReason.TOO_LONG_INPUT),
    ],
)
def test_rejected_with_a_reason(raw: str, reason: PhoneReason) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(raw)
    assert info.value.reason is reason
    assert isinstance(info.value, ValueError)
