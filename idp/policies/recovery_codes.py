"""The format of recovery codes, as pure functions.

A patient who loses the phone with their authenticator app signs in with one of ten
codes shown once at enrolment (issue 9). Each code:

- is 16 characters of Crockford's base32 alphabet (no I, L, O or U), 80 random bits:
  above the 64 bits NIST SP 800-63B-4 §3.1.2 asks of look-up secrets, so a stolen
  hash list cannot be searched; shown as four groups of four ("7KQ2-M9XD-4HTR-0BWC")
  because that is what people can copy onto paper without losing their place;
- is typed back in any case, with or without spaces and dashes; the letters that
  Crockford's alphabet leaves out are read as the digits they look like (I, L as 1;
  O as 0), so a misread code still works;
- is stored only as the SHA-256 of its normalised form (invariant 5: high-entropy
  codes are hashed with SHA-256, no salt needed).
"""

from __future__ import annotations

import hashlib
import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
GROUP = 4
COUNT = 10
MAX_INPUT_LENGTH = 64

_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]+")
_CODE = re.compile(rf"[{ALPHABET}]{{{LENGTH}}}", re.ASCII)


def format_recovery_code(code: str) -> str:
    """Group a normalised code for display: XXXX-XXXX-XXXX-XXXX."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise_recovery_code(raw: str) -> str | None:
    """The 16 characters of a code as stored, or None when it cannot be one."""
    if len(raw) > MAX_INPUT_LENGTH:
        return None
    code = _SEPARATORS.sub("", raw).upper().translate(_LOOKALIKES)
    return code if _CODE.fullmatch(code) else None


def recovery_code_hash(code: str) -> str:
    """SHA-256 (hex) of a normalised code: what the credentials table keeps."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()
