"""Identity matching: is the person who typed these demographics one we already know?

The portal FAQ (``portal-faqs/003``) promises two answers. *Exact*: first and last
name, gender, date of birth, zip and email all match an existing account. *Close*:
the details "closely match", and the patient may verify by phone. Everything else
is *none*. This module decides which, as a pure function of two records
(STYLE.md "Settings and policies"); the flow fetches candidates (by
:func:`blocking_keys`), calls :func:`compare`, and must answer the registrant the
same way whatever the outcome (standards.md rows 17, 21: no data washing).

Matching is resolution, not proofing (standards.md row 16): a *close* result only
allows a confirmation code to a phone **already on the practice's record**; a
*none* leads to office verification or an activation code (row 36), never a dead
end. So the rules below lean towards *none* wherever a wrong *close* would link a
chart to the wrong person (twins, parent and child, siblings, spouses).

Normalisation (row 37): NFKC, then ``unidecode`` to ASCII (José → jose, Łukasz →
lukasz, Strauß → strauss), case-fold, drop apostrophes and periods (O'Brien →
obrien), split on any other punctuation; strip titles (Mr, Dr, ...), generational
suffixes (Jr, Sr, II–V, kept apart for the suffix check) and middle initials ("Mary
K." → mary + initial k); names compare run together ("Garcia Lopez" =
"Garcia-Lopez", "De La Cruz" = "Delacruz"). ZIP → five digits (ZIP+4 cut, a lost
leading zero restored). Phone → E.164 (Google's libphonenumber, as
``idp.notify.phone``; reimplemented here without raising, since a policy must not
import the notify package, which pulls in the SQL outbox). Email → trimmed and
case-folded. Gender → ``F``, ``M``, ``X`` (other, non-binary) or unknown.

Each field comparison yields reason codes; each code has a weight in points. The
weights follow the HL7 Identity Matching IG example (standards.md row 38: email
and phone 4 each but 5 together, first+last name 3, DOB 2; address 4, of which a
bare ZIP is a small part; sex "TBD", so gender is weak). ``score`` is the points
earned, clamped to ``[0, max_points]`` and divided by ``max_points`` (11.5). The
score weighs evidence; ``kind`` is the decision: a guard below can make a
high-scoring pair *none* (twins share almost everything).

The decision, in order:

1. **Exact** (the FAQ rule): first name, last name, gender (a known one), DOB, ZIP5
   and email all present and equal after normalisation, with the same suffix and no
   conflicting middle initial.
2. **Decisive conflicts → none**: gender F vs M; suffixes of different generations
   (Jr/Sr); a DOB that is neither equal, nor one adjacent-digit transposition within
   a field, nor a day/month swap (one digit off can be a day — twins born either side
   of midnight — or a decade); first names that differ, are spelled alike without
   being a typing slip, or are only an initial; last names that differ (see 5).
3. **Twins → none**: same DOB and surname, first names not equal. A nickname, name
   part or slip passes only if no email or phone present on both sides disagrees.
4. **Parent and child → none**: a DOB whose *year* digits are transposed (1958/1985)
   needs both email and phone equal, and no suffix on either side.
5. **Married name**: a different surname is close only with the first name equal or
   a nickname, the same DOB, and both email and phone equal.
6. **Corroboration**: ZIP (equal or one digit off), email or phone must agree; names
   and DOB alone are 5 HL7 points of the 9 needed for even L0.
7. **Differences** (nickname, name part, typo, swapped names, changed surname, DOB
   variant, ZIP typo, middle initial): at most 1 without an agreeing email or phone,
   at most 3 with one.
8. **Close** when all of that passes and points ≥ 5.0 (score ≥ 0.43).

Weights, the threshold and the difference budget live in :class:`MatchingRules`
(defaults in :data:`DEFAULT_RULES`); the shapes (what a slip is, which DOB variants
count) are constants below, each documented where defined.

Limits, accepted knowingly (``tests/matching/cases.py`` ``KNOWN_MISSES``):

- Twins given names that the nickname list relates (Mary/Marilyn, John/Ian) or that
  differ by a keyboard slip without being in the list (Kristen/Kirsten), who share a
  parent's email or phone, come out *close*. Demographics cannot tell them apart;
  the phone code then goes to that parent.
- Caution costs recall: any first-name change that is not a slip or a nickname
  (Jon/John, Liz/Lisa, a random wrong letter), one wrong DOB digit, a move with no
  email or phone, or a new surname without both email and phone gives *none*, and
  the registrant is sent to office verification or an activation code.
- Swapped names are recognised only when each name is equal or one edit off, not
  combined with a hyphenated surname ("Rodriguez-Torres Jonathan").
- Nicknames are English (carltonnorthern list); ZIP handling is US-first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import jellyfish
import phonenumbers
from nicknames import NickNamer
from rapidfuzz.distance import DamerauLevenshtein
from unidecode import unidecode


class MatchKind(StrEnum):
    EXACT = "exact"
    CLOSE = "close"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Demographics:
    """A person's details as typed by them or sent by a practice system."""

    first_name: str
    last_name: str
    dob: date
    zip: str
    gender: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class NormalisedDemographics:
    first: str  # given name(s) run together: "maryann"; a lone initial when that is all
    first_parts: tuple[str, ...]
    first_initial_only: bool  # "J." alone: identifies no one
    middle_initials: str  # "k" from "Mary K."
    last: str  # surname parts run together, suffix removed: "garcialopez"
    last_parts: tuple[str, ...]
    suffix: str | None  # "jr", "sr", "ii", "iii", "iv", "v"
    dob: date
    zip: str | None
    gender: str | None  # "F", "M", "X"; None when missing or unknown
    email: str | None
    phone: str | None  # E.164


@dataclass(frozen=True, slots=True)
class MatchResult:
    kind: MatchKind
    score: float  # 0..1, points earned / max_points
    reasons: tuple[str, ...]


# Points per reason code (HL7 IDI IG example weights rescaled, standards.md row 38).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        # First + last = 3 in the IG; a weaker name form earns less.
        "first_name_exact": 1.5,
        "first_name_nickname": 1.2,
        "first_name_part": 1.2,  # "Mary Ann" vs "Mary"
        "first_name_typo": 1.0,  # a typing slip: transposed, neighbouring key, doubled
        "first_name_similar": 0.5,  # spelled alike but a different name (Jaden/Jayden)
        "first_name_initial_only": 0.3,
        "first_name_conflict": -1.5,
        "last_name_exact": 1.5,
        "last_name_hyphen_part": 1.2,
        "last_name_typo": 1.0,
        "last_name_phonetic": 0.9,
        "last_name_changed": -1.0,  # accepted on the married-name path, still costs
        "last_name_conflict": -1.0,
        "names_swapped": 2.5,  # first and last typed in each other's field
        # DOB = 2 in the IG.
        "dob_exact": 2.0,
        "dob_transposed_digits": 1.2,
        "dob_day_month_swapped": 1.2,
        "dob_year_transposed": -0.4,  # on top of transposed_digits: 1958/1985 is 27 years
        "dob_conflict": -2.0,
        # A bare ZIP is a small part of the IG's address (4).
        "zip_exact": 1.0,
        "zip_typo": 0.6,
        # Email and phone 4 each, capped at 5 together (contact_cap).
        "email_exact": 4.0,
        "phone_exact": 4.0,
        # Sex is "TBD" in the IG: a little for agreeing; disagreeing is a guard.
        "gender_exact": 0.5,
        "gender_conflict": -1.0,
        "suffix_conflict": -1.0,
        "middle_initial_conflict": -0.3,
    }
)


@dataclass(frozen=True, slots=True)
class MatchingRules:
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    # Email + phone together earn at most this (the IG's cap of 5).
    contact_cap: float = 5.0
    # Least points for close: names (3) + DOB (2) is not enough without ZIP or contact.
    close_min_points: float = 5.0
    # Differences (nickname, typo, DOB variant, ...) allowed with no agreeing email/phone.
    max_differences_without_contact: int = 1
    # ... and with an agreeing email or phone.
    max_differences_with_contact: int = 3

    @property
    def max_points(self) -> float:
        w = self.weights
        return (
            w["first_name_exact"]
            + w["last_name_exact"]
            + w["dob_exact"]
            + w["zip_exact"]
            + self.contact_cap
            + w["gender_exact"]
        )


DEFAULT_RULES = MatchingRules()

# --- normalisation -----------------------------------------------------------------------

TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr"})
SUFFIXES = {
    "jr": "jr", "jnr": "jr", "junior": "jr", "sr": "sr", "snr": "sr", "senior": "sr",
    "ii": "ii", "2nd": "ii", "iii": "iii", "3rd": "iii", "iv": "iv", "4th": "iv",
    "v": "v", "5th": "v",
}  # fmt: skip
# Jr and II name the same generation; Sr the one before.
GENERATION = {"sr": 1, "jr": 2, "ii": 2, "iii": 3, "iv": 4, "v": 5}
# Surname particles: shared "de" or "van" does not make two surnames related.
PARTICLES = frozenset(
    {"de", "del", "della", "la", "le", "las", "los", "da", "das", "do", "dos", "di", "du"}
    | {"van", "von", "der", "den", "ter", "y", "e", "bin", "ibn", "al", "el", "st"}
)
GENDERS = {
    **dict.fromkeys(("f", "female", "woman", "w", "girl", "fem"), "F"),
    **dict.fromkeys(("m", "male", "man", "boy", "masc"), "M"),
    **dict.fromkeys(("x", "other", "o", "nonbinary", "nb", "intersex", "another"), "X"),
}
# Anything else ("U", "unknown", "declined", "") is unknown: never equal, never a conflict.
MAX_PHONE_INPUT = 64


def _words(text: str) -> list[str]:
    ascii_text = unidecode(unicodedata.normalize("NFKC", text)).casefold()
    return re.findall(r"[a-z0-9]+", re.sub(r"['`.]", "", ascii_text))


def _split_suffix(words: list[str], *, allow_v: bool) -> tuple[list[str], str | None]:
    suffix = None
    while len(words) > 1 and words[-1] in SUFFIXES and (allow_v or words[-1] != "v"):
        suffix = suffix or SUFFIXES[words[-1]]
        words = words[:-1]
    return words, suffix


def normalise_gender(raw: str | None) -> str | None:
    return GENDERS.get(re.sub(r"[^a-z]", "", (raw or "").casefold()))


def normalise_zip(raw: str | None) -> str | None:
    """Five digits for a US ZIP or ZIP+4; other postal codes upper-cased without spaces."""
    text = re.sub(r"[\s-]", "", unidecode(unicodedata.normalize("NFKC", raw or ""))).upper()
    if text.isdigit():
        if len(text) in (5, 9):
            return text[:5]
        if len(text) in (3, 4, 7, 8):  # a spreadsheet dropped leading zeros (New England, NJ)
            return text.zfill(5 if len(text) <= 4 else 9)[:5]
        return None
    return text if text.isalnum() and 3 <= len(text) <= 10 else None


def normalise_phone(raw: str | None, *, region: str = "US") -> str | None:
    """E.164, or None when the text cannot be a whole number (then it proves nothing)."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_PHONE_INPUT:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # Local-only numbers (no area code) would match the same seven digits anywhere.
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible is not phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    # An extension is dropped: it is the same line for matching purposes.
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str | None) -> str | None:
    text = unicodedata.normalize("NFKC", raw or "").strip().casefold()
    return text if "@" in text else None


def normalise(d: Demographics) -> NormalisedDemographics:
    first_words = _words(d.first_name)
    while len(first_words) > 1 and first_words[0] in TITLES:
        first_words = first_words[1:]
    first_words, first_suffix = _split_suffix(first_words, allow_v=False)
    given = tuple(w for w in first_words if len(w) > 1)
    initials = [w for w in first_words if len(w) == 1]
    last_words, suffix = _split_suffix(_words(d.last_name), allow_v=True)
    return NormalisedDemographics(
        first="".join(given) or "".join(initials[:1]),
        first_parts=given,
        first_initial_only=not given and bool(initials),
        middle_initials="".join(initials) if given else "".join(initials[1:]),
        last="".join(last_words),
        last_parts=tuple(last_words),
        suffix=suffix or first_suffix,
        dob=d.dob,
        zip=normalise_zip(d.zip),
        gender=normalise_gender(d.gender),
        email=normalise_email(d.email),
        phone=normalise_phone(d.phone),
    )


# --- name similarity ---------------------------------------------------------------------

_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours(x: str, y: str) -> bool:
    """Adjacent keys on a QWERTY keyboard (same row, or the staggered row above/below)."""
    for r, row in enumerate(_KEY_ROWS):
        if x in row:
            i = row.index(x)
            near = {row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)}
            if r > 0:
                near |= {_KEY_ROWS[r - 1][j] for j in (i, i + 1) if j < len(_KEY_ROWS[r - 1])}
            if r < 2:
                near |= {_KEY_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_KEY_ROWS[r + 1])}
            return y in near
    return False


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=4096)
def _relatives(name: str) -> frozenset[str]:
    """Names the carltonnorthern dataset relates to ``name``, either way round."""
    nn = _nicknamer()
    return frozenset(nn.nicknames_of(name) | nn.canonicals_of(name))


def _nicknames(a: str, b: str) -> bool:
    return b in _relatives(a) or a in _relatives(b)


def _distinct_known_names(a: str, b: str) -> bool:
    """Both are names in the dataset and share no form: Tom/Tim, Ron/Don, Kim/Jim."""
    ra, rb = _relatives(a), _relatives(b)
    return bool(ra and rb) and not ((ra | {a}) & (rb | {b}))


def _allowance(a: str, b: str) -> int:
    # Edits that still count as "spelled alike": 1 up to five letters, 2 beyond (HL7
    # IDI: a "certain" name match is at most 1-2 characters different).
    return 1 if max(len(a), len(b)) <= 5 else 2


def _spelled_alike(a: str, b: str) -> bool:
    d = DamerauLevenshtein.distance(a, b)
    return d <= _allowance(a, b) or (d <= 3 and jellyfish.metaphone(a) == jellyfish.metaphone(b))


def _is_slip(a: str, b: str) -> bool:
    """A typing slip, the errors keyboards make rather than the names parents choose.

    One adjacent transposition (Jonh), one neighbouring-key substitution (Dsvid), one
    doubled or undoubled letter (Phillip/Philip), or one letter dropped inside a name of
    seven letters or more (Jennifr). Not at the end (Daniel/Daniela, Gabriel/Gabriela are
    boy/girl twins), and never between two different names the dataset knows (Tom/Tim).
    """
    short, long_ = sorted((a, b), key=lambda s: (len(s), s))
    slip = False
    if len(short) == len(long_):
        diffs = [i for i, (x, y) in enumerate(zip(short, long_, strict=True)) if x != y]
        if len(diffs) == 1:
            slip = _neighbours(short[diffs[0]], long_[diffs[0]])
        elif len(diffs) == 2 and diffs[1] == diffs[0] + 1:
            i = diffs[0]
            slip = short[i] == long_[i + 1] and short[i + 1] == long_[i]
    elif len(long_) == len(short) + 1:
        for i in range(len(long_)):
            if long_[:i] + long_[i + 1 :] == short:
                doubled = (i > 0 and long_[i - 1] == long_[i]) or (
                    i + 1 < len(long_) and long_[i + 1] == long_[i]
                )
                interior = 0 < i < len(long_) - 1
                slip = slip or doubled or (interior and len(long_) >= 7)
    return slip and not _distinct_known_names(a, b)


def _first_names(a: NormalisedDemographics, b: NormalisedDemographics) -> str:
    if not a.first or not b.first:
        return "first_name_missing"  # nothing left after normalisation ("." or "-")
    if a.first == b.first:
        return "first_name_exact"
    if a.first_initial_only or b.first_initial_only:
        return "first_name_initial_only" if a.first[:1] == b.first[:1] else "first_name_conflict"
    if _spelled_alike(a.first, b.first):
        return "first_name_typo" if _is_slip(a.first, b.first) else "first_name_similar"
    firsts = (a.first_parts[:1], b.first_parts[:1])
    if _nicknames(a.first, b.first) or (all(firsts) and _nicknames(firsts[0][0], firsts[1][0])):
        return "first_name_nickname"
    pa, pb = set(a.first_parts), set(b.first_parts)
    if pa and pb and (pa <= pb or pb <= pa):
        return "first_name_part"
    return "first_name_conflict"


def _last_names(a: NormalisedDemographics, b: NormalisedDemographics) -> str:
    if not a.last or not b.last:
        return "last_name_missing"
    if a.last == b.last:
        return "last_name_exact"
    sa, sb = set(a.last_parts) - PARTICLES, set(b.last_parts) - PARTICLES
    if sa and sb and (sa <= sb or sb <= sa):
        return "last_name_hyphen_part"  # Garcia / Garcia-Lopez / Lopez Garcia
    d = DamerauLevenshtein.distance(a.last, b.last)
    if d <= _allowance(a.last, b.last):
        return "last_name_typo"
    if d <= 3 and jellyfish.metaphone(a.last) == jellyfish.metaphone(b.last):
        return "last_name_phonetic"
    return "last_name_conflict"


def _swapped(a: NormalisedDemographics, b: NormalisedDemographics) -> bool:
    def near(x: str, y: str) -> bool:
        return bool(x and y) and DamerauLevenshtein.distance(x, y) <= _allowance(x, y) - 1

    return near(a.first, b.last) and near(a.last, b.first)


# --- dates, ZIP ----------------------------------------------------------------------------


def _dob(a: date, b: date) -> tuple[str, ...]:
    if a == b:
        return ("dob_exact",)
    if a.year == b.year and (a.month, a.day) == (b.day, b.month):
        return ("dob_day_month_swapped",)
    ya, yb = f"{a.year:04d}", f"{b.year:04d}"
    if (a.month, a.day) == (b.month, b.day):
        for i in (1, 2):  # 1895/1985, 1958/1985; never the millennium digit
            if ya[:i] + ya[i + 1] + ya[i] + ya[i + 2 :] == yb:
                return ("dob_transposed_digits", "dob_year_transposed")
    if a.year == b.year:
        if a.day == b.day and f"{a.month:02d}"[::-1] == f"{b.month:02d}":
            return ("dob_transposed_digits",)
        if a.month == b.month and f"{a.day:02d}"[::-1] == f"{b.day:02d}":
            return ("dob_transposed_digits",)
    return ("dob_conflict",)


def _zip(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return None
    if a == b:
        return "zip_exact"
    if len(a) == len(b) and DamerauLevenshtein.distance(a, b) == 1:
        return "zip_typo"
    return "zip_differs"


def _field(name: str, a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return None
    return f"{name}_exact" if a == b else f"{name}_differs"


# --- the decision --------------------------------------------------------------------------

# Reasons that count as one difference each toward the budget.
DIFFERENCES = frozenset(
    {
        "first_name_nickname", "first_name_part", "first_name_typo",
        "last_name_hyphen_part", "last_name_typo", "last_name_phonetic", "last_name_changed",
        "names_swapped", "dob_transposed_digits", "dob_day_month_swapped", "zip_typo",
        "middle_initial_conflict",
    }
)  # fmt: skip
# Field disagreements that make any pair none: another person, whatever else agrees.
# Spelled-alike first names (Jaden/Jayden, John/Jon, Mary/Marie) are how parents tell
# twins and siblings apart, and an initial alone identifies no one.
DECISIVE = frozenset(
    {
        "gender_conflict", "suffix_conflict", "dob_conflict", "first_name_conflict",
        "first_name_similar", "first_name_initial_only", "last_name_conflict",
        "first_name_missing", "last_name_missing",
    }
)  # fmt: skip
_SAME_FAMILY = frozenset(
    {"last_name_exact", "last_name_hyphen_part", "last_name_typo", "last_name_phonetic"}
)
_NEAR_FIRST = frozenset(
    {"first_name_similar", "first_name_typo", "first_name_nickname", "first_name_part"}
)
_CONTACT = ("email_exact", "phone_exact")


def compare(
    a: Demographics, b: Demographics, *, rules: MatchingRules = DEFAULT_RULES
) -> MatchResult:
    return compare_normalised(normalise(a), normalise(b), rules=rules)


def compare_normalised(
    a: NormalisedDemographics,
    b: NormalisedDemographics,
    *,
    rules: MatchingRules = DEFAULT_RULES,
) -> MatchResult:
    """Exact, close or none, with the score and the reasons (symmetric in a and b).

    For candidate search: normalise each stored record once and call this directly.
    """
    reasons = _field_reasons(a, b)
    have = set(reasons)
    exact = {
        "first_name_exact",
        "last_name_exact",
        "gender_exact",
        "dob_exact",
        "zip_exact",
        "email_exact",
    } <= have and not have & {"suffix_missing", "suffix_conflict", "middle_initial_conflict"}
    if not exact:
        reasons += _guards(a, b, reasons, rules=rules)
    w = rules.weights
    points = min(rules.contact_cap, sum(w[r] for r in reasons if r in _CONTACT))
    points += sum(w.get(r, 0.0) for r in reasons if r not in _CONTACT)
    score = round(min(max(points, 0.0), rules.max_points) / rules.max_points, 4)
    if exact:
        return MatchResult(MatchKind.EXACT, score, tuple(reasons))
    if _blocked(reasons):
        return MatchResult(MatchKind.NONE, score, tuple(reasons))
    if points < rules.close_min_points:
        return MatchResult(MatchKind.NONE, score, (*reasons, "below_threshold"))
    return MatchResult(MatchKind.CLOSE, score, tuple(reasons))


def _blocked(reasons: list[str]) -> bool:
    return any(r in DECISIVE or r in GUARDS for r in reasons)


def _field_reasons(a: NormalisedDemographics, b: NormalisedDemographics) -> list[str]:
    """One or two codes per field, in a fixed order (so the result is symmetric)."""
    reasons: list[str] = []
    first, last = _first_names(a, b), _last_names(a, b)
    if first != "first_name_exact" and last != "last_name_exact" and _swapped(a, b):
        reasons.append("names_swapped")
    else:
        reasons += [first, last]
    if a.suffix and b.suffix and GENERATION[a.suffix] != GENERATION[b.suffix]:
        reasons.append("suffix_conflict")  # Jr vs Sr: parent and child
    elif bool(a.suffix) != bool(b.suffix):
        reasons.append("suffix_missing")
    ma, mb = a.middle_initials[:1], b.middle_initials[:1]
    if ma and mb and ma != mb:
        reasons.append("middle_initial_conflict")
    reasons += _dob(a.dob, b.dob)
    gender = _field("gender", a.gender, b.gender)
    if gender == "gender_differs" and {a.gender, b.gender} == {"F", "M"}:
        gender = "gender_conflict"  # X vs F or M only differs: not decisive
    fields = (
        _zip(a.zip, b.zip),
        _field("email", a.email, b.email),
        _field("phone", a.phone, b.phone),
        gender,
    )
    return reasons + [r for r in fields if r]


# Guard codes: why a pair whose fields individually pass still is not close.
POSSIBLE_TWIN = "possible_twin"
POSSIBLE_PARENT_CHILD = "possible_parent_child"
NO_CORROBORATION = "no_corroboration"
TOO_MANY_DIFFERENCES = "too_many_differences"
GUARDS = frozenset({POSSIBLE_TWIN, POSSIBLE_PARENT_CHILD, NO_CORROBORATION, TOO_MANY_DIFFERENCES})


def _guards(
    a: NormalisedDemographics,
    b: NormalisedDemographics,
    reasons: list[str],
    *,
    rules: MatchingRules,
) -> list[str]:
    """Guard codes for this pair (none: it may be close). May rename a reason in place."""
    have = set(reasons)
    contact = any(r in have for r in _CONTACT)
    out: list[str] = []
    if "dob_exact" in have and have & _NEAR_FIRST and have & _SAME_FAMILY:
        # Twins share surname, DOB and ZIP, often a parent's inbox and phone. A nickname,
        # name part or slip passes only when no email or phone on both sides disagrees:
        # adult twins have their own. Spelled-alike names are decisive anyway.
        contradicted = not contact and bool(have & {"email_differs", "phone_differs"})
        if contradicted or "first_name_similar" in have:
            out.append(POSSIBLE_TWIN)
    if "dob_year_transposed" in have and (
        not {"email_exact", "phone_exact"} <= have or a.suffix or b.suffix
    ):
        # 1958/1985 with the same names is the shape of John Sr and John Jr.
        out.append(POSSIBLE_PARENT_CHILD)
    if (
        "last_name_conflict" in have
        and have & {"first_name_exact", "first_name_nickname"}
        and "dob_exact" in have
        and {"email_exact", "phone_exact"} <= have
    ):
        # Decision (married name): a changed surname is close when first name, DOB,
        # email and phone all agree; the phone code then goes to the number on record.
        reasons[reasons.index("last_name_conflict")] = "last_name_changed"
    if not have & {"zip_exact", "zip_typo"} and not contact:
        out.append(NO_CORROBORATION)
    differences = sum(1 for r in reasons if r in DIFFERENCES)
    if contact:
        budget = rules.max_differences_with_contact
    else:
        budget = rules.max_differences_without_contact
    if differences > budget:
        out.append(TOO_MANY_DIFFERENCES)
    return out


# --- blocking ------------------------------------------------------------------------------


def blocking_keys(d: Demographics | NormalisedDemographics) -> frozenset[str]:
    """At most five keys; any pair :func:`compare` calls exact or close shares one.

    Why that holds: a close or exact pair has an agreeing email or phone (keys ``e:``
    and ``p:``), or else at most one difference and an agreeing or one-off ZIP. Then
    either ZIP and DOB both agree (``dz:``), or the one difference is the DOB and the
    names agree exactly (``zn:`` ZIP + phonetic names), or it is the ZIP and names and
    DOB agree (``dn:`` DOB + phonetic names). Names go in as a sorted pair of metaphone
    keys, so swapped first and last names share them too.

    The keys hold personal data: store them as an HMAC under a deployment secret, not
    as typed here (the policy stays free of secrets).
    """
    n = normalise(d) if isinstance(d, Demographics) else d
    keys: set[str] = set()
    if n.email:
        keys.add(f"e:{n.email}")
    if n.phone:
        keys.add(f"p:{n.phone}")
    dob = n.dob.isoformat()
    if n.zip:
        keys.add(f"dz:{dob}|{n.zip}")
    if n.first and n.last:
        names = "|".join(sorted((jellyfish.metaphone(n.first), jellyfish.metaphone(n.last))))
        keys.add(f"dn:{dob}|{names}")
        if n.zip:
            keys.add(f"zn:{n.zip}|{names}")
    return frozenset(keys)
