"""The rules of authenticator-app codes (RFC 6238), as pure functions.

- 6 digits, 30-second steps, HMAC-SHA1: the defaults every authenticator app
  implements (RFC 6238 §4, §5.2); anything else breaks some app.
- A code is accepted in the current step or one step either side (RFC 6238 §5.2
  recommends at most one step of allowed network delay), so ±30 s of clock drift
  between the phone and the server still signs in.
- A step once accepted is never accepted again for the account, nor any earlier
  step (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the same
  OTP after the successful validation"); an attacker who watched a code being
  typed cannot replay it within its 90-second life.
"""

from __future__ import annotations

import re
from datetime import datetime

DIGITS = 6
STEP_SECONDS = 30
# Steps accepted either side of the current one.
WINDOW = 1
# How long the ephemeral "step used" marker must live: longer than any step that can
# still be accepted (the window plus the current step), with one step to spare.
USED_STEP_TTL = (2 * WINDOW + 2) * STEP_SECONDS
# Longer input is refused before any work: nobody types 64 characters for 6 digits.
MAX_INPUT_LENGTH = 64

_CODE = re.compile(rf"[0-9]{{{DIGITS}}}", re.ASCII)
# What people and apps put between digit groups: spaces (any kind) and dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]+")


def normalise_totp_code(raw: str) -> str | None:
    """The six ASCII digits typed, or None when it is not a code at all.

    "123 456" and "123-456" (as apps display them) are accepted; letters, other
    lengths and non-ASCII digits ("١٢٣٤٥٦") are not.
    """
    if len(raw) > MAX_INPUT_LENGTH:
        return None
    code = _SEPARATORS.sub("", raw)
    return code if _CODE.fullmatch(code) else None


def time_step(now: datetime) -> int:
    """RFC 6238 T: whole steps since the Unix epoch."""
    return int(now.timestamp()) // STEP_SECONDS


def step_is_fresh(step: int, last_used_step: int | None) -> bool:
    """True when ``step`` is later than every step already accepted."""
    return last_used_step is None or step > last_used_step
