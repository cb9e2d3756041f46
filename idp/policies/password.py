"""Which new passwords are acceptable: the presets chosen by ``IDP_PASSWORD_POLICY``.

``nist-800-63b`` (default) follows NIST SP 800-63B-4 §3.1.1.2 (standards.md rows 1–7):
at least 15 characters when the password is the only factor and at least 8 once
a second factor is enrolled; at least 64 allowed (we allow 128); any Unicode,
NFKC-normalised, counted in code points; no composition rules; refused when it
is a common or breached password or contains a context word.

``portal-classic`` is the portal FAQ's rule, kept exactly: at least 6 characters,
at least one digit or one upper-case letter, none of ``# % & *``. The blocklist
still applies. It does not meet NIST (composition rules are a SHALL NOT), which
start-up reports.

Every refusal returns all its reasons at once, as stable codes; the UI turns
them into messages with :func:`describe`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from idp.i18n import N_, translate


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    name: str
    # Minimum length in code points when the password is the only factor.
    min_length: int
    # Minimum once a second factor (TOTP, passkey) is enrolled; None: same as min_length.
    min_length_with_mfa: int | None
    max_length: int
    require_digit_or_upper: bool
    forbidden_characters: frozenset[str]
    # Whether this preset meets NIST SP 800-63B-4 (start-up warns when it does not).
    nist_conformant: bool

    def minimum(self, *, has_second_factor: bool) -> int:
        if has_second_factor and self.min_length_with_mfa is not None:
            return self.min_length_with_mfa
        return self.min_length


PASSWORD_PRESETS: dict[str, PasswordPolicy] = {
    "nist-800-63b": PasswordPolicy(
        name="nist-800-63b",
        min_length=15,
        min_length_with_mfa=8,
        max_length=128,
        require_digit_or_upper=False,
        forbidden_characters=frozenset(),
        nist_conformant=True,
    ),
    "portal-classic": PasswordPolicy(
        name="portal-classic",
        min_length=6,
        min_length_with_mfa=None,
        max_length=128,
        require_digit_or_upper=True,
        forbidden_characters=frozenset("#%&*"),
        nist_conformant=False,
    ),
}

# Stable reason codes.
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
NEEDS_DIGIT_OR_UPPER = "needs_digit_or_upper"
FORBIDDEN_CHARACTER = "forbidden_character"
COMMON_PASSWORD = "common_password"
CONTAINS_CONTEXT_WORD = "contains_context_word"

REASONS = frozenset(
    {
        TOO_SHORT,
        TOO_LONG,
        NEEDS_DIGIT_OR_UPPER,
        FORBIDDEN_CHARACTER,
        COMMON_PASSWORD,
        CONTAINS_CONTEXT_WORD,
    }
)

# Context words shorter than this are ignored: "Al" or "Li" would refuse half of all passwords.
MIN_CONTEXT_TOKEN = 4


@dataclass(frozen=True, slots=True)
class PasswordVerdict:
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords from leaked corpora, as shipped by zxcvbn.

    zxcvbn's list is compiled from real breaches (Dropbox, Xato's 10M corpus),
    which is what NIST's "commonly used, expected, or compromised" asks for.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def context_tokens(words: Iterable[str | None]) -> frozenset[str]:
    """Split user ID, names, email local part and service names into comparable tokens."""
    tokens: set[str] = set()
    for word in words:
        if not word:
            continue
        text = normalise(word).casefold()
        if "@" in text:
            text = text.split("@", 1)[0]
        whole = re.sub(r"[\W_]+", "", text)
        if len(whole) >= MIN_CONTEXT_TOKEN:
            tokens.add(whole)
        for part in re.split(r"[\W_]+", text):
            if len(part) >= MIN_CONTEXT_TOKEN:
                tokens.add(part)
    return frozenset(tokens)


def evaluate_password(
    password: str,
    *,
    policy: PasswordPolicy,
    context_words: Iterable[str | None] = (),
    has_second_factor: bool = False,
) -> PasswordVerdict:
    """All the reasons a new password is refused (none: accepted)."""
    candidate = normalise(password)
    reasons: list[str] = []
    length = len(candidate)
    if length < policy.minimum(has_second_factor=has_second_factor):
        reasons.append(TOO_SHORT)
    if length > policy.max_length:
        reasons.append(TOO_LONG)
    if policy.require_digit_or_upper and not any(c.isdigit() or c.isupper() for c in candidate):
        reasons.append(NEEDS_DIGIT_OR_UPPER)
    if policy.forbidden_characters & set(candidate):
        reasons.append(FORBIDDEN_CHARACTER)
    folded = candidate.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        reasons.append(COMMON_PASSWORD)
    squashed = re.sub(r"[\W_]+", "", folded)
    if any(token in folded or token in squashed for token in context_tokens(context_words)):
        reasons.append(CONTAINS_CONTEXT_WORD)
    return PasswordVerdict(tuple(reasons))


REASON_TEXTS: dict[str, str] = {
    TOO_SHORT: N_("Use at least {minimum} characters."),
    TOO_LONG: N_("Use at most {maximum} characters."),
    NEEDS_DIGIT_OR_UPPER: N_("Include at least one number or one upper-case letter."),
    FORBIDDEN_CHARACTER: N_("Do not use these characters: {forbidden}"),
    COMMON_PASSWORD: N_("This password is too common; attackers try it first."),
    CONTAINS_CONTEXT_WORD: N_("Do not use your name, user ID, email or the portal's name."),
}


def describe(reason: str, policy: PasswordPolicy, *, has_second_factor: bool = False) -> str:
    """A readable message for a reason code under this policy."""
    minimum = policy.minimum(has_second_factor=has_second_factor)
    forbidden = " ".join(sorted(policy.forbidden_characters))
    text = REASON_TEXTS.get(reason)
    if text is None:
        return reason
    # In the reader's language (the page's or the message's), then filled in.
    return translate(text).format(minimum=minimum, maximum=policy.max_length, forbidden=forbidden)
