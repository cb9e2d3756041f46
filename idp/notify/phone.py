"""Phone numbers: parsed and normalised to E.164 with Google's libphonenumber data.

E.164 (``+16175550123``) is the one form stored and sent to SMS gateways, so the
same phone typed as ``(617) 555-0123`` or ``+1 617 555 0123`` is one number.
National numbers are read in ``region`` (default ``US``).
"""

from __future__ import annotations

from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

DEFAULT_REGION = "US"
# Far longer than any real number with punctuation; stops oversized input early.
MAX_INPUT = 64


class PhoneReason(StrEnum):
    EMPTY = "empty"
    TOO_LONG_INPUT = "too_long_input"
    NOT_A_NUMBER = "not_a_number"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_NUMBER = "invalid_number"
    HAS_EXTENSION = "has_extension"


class InvalidPhoneNumber(ValueError):
    """The input is not a valid phone number; ``reason`` is a stable code for the UI."""

    def __init__(self, reason: PhoneReason) -> None:
        super().__init__(f"not a valid phone number ({reason.value})")
        self.reason = reason


_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: PhoneReason.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: PhoneReason.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: PhoneReason.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: PhoneReason.TOO_SHORT,
    NumberParseException.TOO_LONG: PhoneReason.TOO_LONG,
}

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: PhoneReason.INVALID_COUNTRY_CODE,
    # Dialable locally only (no area code): not enough to reach a phone by SMS.
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: PhoneReason.TOO_SHORT,
    ValidationResult.TOO_SHORT: PhoneReason.TOO_SHORT,
    ValidationResult.TOO_LONG: PhoneReason.TOO_LONG,
    ValidationResult.INVALID_LENGTH: PhoneReason.INVALID_NUMBER,
}


def normalize_phone(raw: str, *, region: str = DEFAULT_REGION) -> str:
    """Return ``raw`` in E.164, or raise :class:`InvalidPhoneNumber` saying why."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber(PhoneReason.EMPTY)
    if len(text) > MAX_INPUT:
        raise InvalidPhoneNumber(PhoneReason.TOO_LONG_INPUT)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(
            _PARSE_REASONS.get(exc.error_type, PhoneReason.NOT_A_NUMBER)
        ) from None
    if number.extension:
        # E.164 has no extensions: dropping it would text a switchboard, not the patient.
        raise InvalidPhoneNumber(PhoneReason.HAS_EXTENSION)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible is not ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneNumber(_POSSIBLE_REASONS.get(possible, PhoneReason.INVALID_NUMBER))
    # Possible is only a length check; valid means the number plan assigns it.
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(PhoneReason.INVALID_NUMBER)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
