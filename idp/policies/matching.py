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

Each field comparison yields one *level* (reason code): first name exact, nickname,
name part, keyboard slip, one other edit, two edits with most of the name intact
(Jaro-Winkler >= 0.88: Stephanie/Ktephanibe), two edits otherwise or sounding alike
(transliterations: Natalia/Natalya, Aleksandr/Alexander), initial only, swapped with
the surname, different; surname exact, part of a compound, one edit, two edits with
most of it intact, two edits otherwise, phonetic, swapped, different (one edit and two
are levels of their own, as in Splink: two edits are far commoner between strangers,
so they weigh less, and least in a short name, where two edits leave half of it);
DOB equal, one digit of month or day, one digit of the year, adjacent digits
transposed, day and month swapped, different; ZIP equal, one digit off, same 3-digit
prefix, different; email, phone and gender equal or different. A field missing on
either side has no level.

The score is a Fellegi-Sunter model (Fellegi and Sunter 1969), learned, not tuned:
each level weighs ``log2(m/u)`` bits, ``m`` and ``u`` being how often one person's two
records and two different people's records show it, estimated by expectation-
maximisation on unlabelled pairs (FEBRL 1-3 and seeded synthetic pairs) and shipped as
data in ``matching_model.json`` (:mod:`idp.policies.matching_model`; regenerate with
``python -m bench.train_matcher``). Exact first and last names are adjusted for how
common the name is (term frequency from the US census: Smith earns less than
Wojciechowski). ``score`` maps the total onto 0..1, 0.5 at the close threshold.

The decision, in order:

1. **Exact** (the FAQ rule): first name, last name, gender (a known one), DOB, ZIP5
   and email all present and equal after normalisation, with the same suffix and no
   conflicting middle initial.
2. **Decisive conflicts -> none**: gender F vs M; suffixes of different generations
   (Jr/Sr); a DOB further off than the levels above; different first names (siblings,
   spouses, twins); an initial alone; no name at all; a different surname, except:
3. **Married name**: a different surname is close when the first name (or a nickname)
   and the DOB agree and so does an email or phone.
4. **Guards** (what the probabilistic linkers lack; they turn close into none):
   *twins*: same DOB and surname, first names spelled alike that are two names (both
   known to the model -- census, FEBRL, gender-guesser's British, Irish and US names --
   at comparable frequency, different first letters unless one only lost its first
   letter, alike only in sound, a gendered ending that changes the sex like
   Daniel/Daniela) but not one name under two romanisations (Tatiana/Tatyana,
   Ahmed/Ahmad, :mod:`idp.policies.transliteration`) nor one keyboard slip, first
   letter kept, between two rare names (Kai/Kia, Michaela/Micaela: both rarer than 1
   in 10,000), or
   names borne by different sexes (Erin/Aaron) unless a gender recorded alike on both
   records says otherwise (Paul filed as "Polly"; and then a name of the other sex is
   a mistyping, not a second child's name: Omar/"Oma" on two records saying M), or a
   near name with an email or
   phone that disagrees and none that agrees (DOBs equal or a day apart: twins born
   either side of midnight); *siblings*: two names as above with DOBs at least 240
   days apart (closer than that, bar twins, one mother's children are not: a DOB a
   month digit off is one DOB mistyped) and fewer than 15 years (further apart is the
   parent and child shape, judged by that guard); *parent and child*: a DOB one digit or
   transposition away and 15 to 54 years apart (1958/1985; 1929/1992 is older than
   parents get) without an agreeing email or phone, with a disagreeing one, or with a
   suffix; but when neither record has an email or phone at all, a mistyped year is
   far likelier than a parent and child of one name born on the same day of the year,
   and a wrong close goes to staff review (no phone on the record to send a code to);
   *short names*: names of at most
   three letters two edits apart, not both names (Wei keyed as "Iw"; Amy/Ava stay two
   names), without an agreeing email or phone.
5. **Close** when no rule above says none and the weights reach the model's
   threshold (16.6 bits: the Bayes decision point for strangers, a pair drawn from a
   million persons being one person at posterior odds of 1:10 or better, because a
   missed match costs a duplicate chart and a wrong close between strangers costs a
   review -- the code goes to the phone on the record, which a stranger does not hold,
   else staff review; ``bench/train_matcher.py`` sets it; households, where the code
   may reach a twin or a parent, are the guards' business, not the threshold's), or,
   below it, when every field is within issue 13's typo level (names within two edits
   or a nickname, the DOB within a digit, any ZIP) and an email or phone agrees and
   none disagrees (``contact_confirms_typos``: with the weights above, only a pair
   whose other evidence is negative, such as X against F, needs it). The code then
   goes to the phone on record, which the registrant's agreeing contact already
   reaches; the score of such a close is below 0.5.

Limits, accepted knowingly (``tests/matching/cases.py`` ``KNOWN_MISSES`` and
``tests/matching/test_hard_cases.py``):

- Twins whose names the nickname list relates (Mary/Marilyn, John/Jon) and who share a
  parent's email or phone come out *close*; so do twins whose alike names are in no
  name list. The phone code then goes to that parent.
- One name spelled two ways that are both names of comparable frequency, with the same
  DOB and surname, reads as twins unless it is one keyboard slip between two rare names:
  Jaden/Jayden, Andrew/Andre, Eliza/Elia: *none*, and the registrant goes to office
  verification. So does a typo that lands on a name of the other sex (Logan/Loan,
  Luke/Lue). Twins given two rare names of one sex a keyboard slip apart (Kai and Kia,
  Rosana and Rosanna; about 800 such census pairs) read as one person: *close*,
  and the code goes to the phone on record, often the parent's. Not so a final h
  (Hannah/Hanna) or the short vowels of an Arabic or Persian name (Ahmed/Ahmad,
  Mohamed/Mohammad: the script leaves them out), which are one name; the price is that
  twins Hamed and Hamad would read as one.
- A one-digit DOB typo that moves the year by 15 to 54 years needs an agreeing email
  or phone (parent and child look the same), unless neither record has an email or
  phone: a parent and child of one name, born on the same day of the year, with no
  contact details on either record (or sharing a phone) come out *close*, and go to
  staff review (issue 13's trade; every DOB typo category reaches 1.000).
- Three-letter names allow one edit (Amy/Mac is *none*); two only when one of them is
  no known name and an email or phone agrees (Wei/"Iw"): with two, Wei Zhang and Li
  Wang would earn close-level weights.
- Same names and DOB in another ZIP are *close* (22.6 bits for John Smith: another
  John Smith born that day is about 1 in 200 among a million persons, a move far
  likelier), and go to the phone on record or staff review. A typo-level pair with no
  email or phone in common whose typos add up (two edits per name, a DOB digit, a
  move: 10 to 16 bits) stays below the threshold: *none*, and office verification.
  With the twins and sibling guards above (a typo landing on another name of the
  family's birthday) this keeps typo-level recall at 0.99 on 2,000 of issue 13's
  generated tuning pairs, 0.98 on 200 (FEBRL's reach 0.99).
- Alike names a generation apart (15 years or more) with a DOB a digit off and an
  agreeing email or phone are *close*: no siblings are born that far apart, and the
  parent and child guard lets an agreeing contact through (a mother Kristen and a
  daughter Kirsten born on her birthday and sharing her email would read as one).
- Nicknames are English (carltonnorthern list); name frequencies are the 1990 US
  census; ZIP handling is US-first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import jellyfish
import phonenumbers
from nicknames import NickNamer
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from unidecode import unidecode

from .matching_model import DEFAULT_MODEL, MatchModel
from .transliteration import same_transliteration, same_vowel_romanisation


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
    # 0..1 from the weights, 0.5 at the close threshold (a close confirmed by an email
    # or phone with every field a typo away may score below it)
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """The learned weights and the close threshold (in bits of evidence).

    ``close_threshold`` overrides the model's for a deployment or a test; the model's
    own threshold was chosen by ``bench/train_matcher.py`` on tuning pairs only.
    """

    model: MatchModel = DEFAULT_MODEL
    close_threshold: float | None = None

    @property
    def threshold(self) -> float:
        if self.close_threshold is None:
            return self.model.close_threshold
        return self.close_threshold


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
    # Edits that still count as "spelled alike": 1 up to three letters, 2 beyond (HL7
    # IDI: a "certain" name match is at most 1-2 characters different). The DOB and
    # household guards, not the spelling, keep siblings and twins apart.
    return 1 if max(len(a), len(b)) <= 3 else 2


def _short_two_edits(a: str, b: str, known: Callable[[str], bool]) -> bool:
    """Two edits between names of at most three letters, one of them no known name:
    Wei keyed as "Iw", Lee as "Jle". Two real names (Amy/Ava, Wei/Li, Lee/Li) stay
    different names. Such a pair is close only with an agreeing email or phone
    (:data:`SHORT_NAME_UNCONFIRMED`): two edits leave a single letter of a short name.
    """
    if max(len(a), len(b)) > 3 or DamerauLevenshtein.distance(a, b) != 2:
        return False
    return not (known(a) and known(b))


def _known_given_name(name: str) -> bool:
    """A given name the model knows (census, FEBRL, gender-guesser, Arabic/Persian)."""
    model = DEFAULT_MODEL
    return (
        name in model.tf_adjustment["first_name"]
        or name in model.female_share
        or name in model.unwritten_vowel_names
    )


def _known_surname(name: str) -> bool:
    """A surname the model's frequency table knows (the census's commonest)."""
    return name in DEFAULT_MODEL.tf_adjustment["last_name"]


def _short_names_two_edits(a: NormalisedDemographics, b: NormalisedDemographics) -> bool:
    """Either name is alike only by :func:`_short_two_edits` (not a nickname, one
    romanisation of the other, or alike in sound: Hsu/Xu, Li/Lee are one name)."""

    def only_short(x: str, y: str, known: Callable[[str], bool]) -> bool:
        return (
            _short_two_edits(x, y, known)
            and not _nicknames(x, y)
            and not same_transliteration(x, y)
            and jellyfish.metaphone(x) != jellyfish.metaphone(y)
        )

    return only_short(a.first, b.first, _known_given_name) or only_short(
        a.last, b.last, _known_surname
    )


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
    firsts = (a.first_parts[:1], b.first_parts[:1])
    if _nicknames(a.first, b.first) or (all(firsts) and _nicknames(firsts[0][0], firsts[1][0])):
        return "first_name_nickname"
    if (
        _spelled_alike(a.first, b.first)
        or same_transliteration(a.first, b.first)
        or _short_two_edits(a.first, b.first, _known_given_name)
    ):
        if _is_slip(a.first, b.first):
            return "first_name_typo"
        edits = DamerauLevenshtein.distance(a.first, b.first)
        if edits == 1:
            return "first_name_one_edit"  # Marina/Maria: one edit, not a keyboard's
        if edits == 2 and JaroWinkler.similarity(a.first, b.first) >= ALIKE_JARO_WINKLER:
            return "first_name_two_edits_alike"  # Stephanie/Ktephanibe: most of it intact
        return "first_name_similar"
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
        if d == 1:
            return "last_name_typo"
        if JaroWinkler.similarity(a.last, b.last) >= ALIKE_JARO_WINKLER:
            return "last_name_two_edits_alike"  # Rivera/Rierea: most of it intact
        return "last_name_two_edits"
    if d <= 3 and jellyfish.metaphone(a.last) == jellyfish.metaphone(b.last):
        return "last_name_phonetic"
    if same_transliteration(a.last, b.last):
        return "last_name_phonetic"  # Kowalczyk / Kovalchik: one name, two romanisations
    if _short_two_edits(a.last, b.last, _known_surname):
        return "last_name_two_edits"  # Lee keyed as "Jle": needs an agreeing email or phone
    return "last_name_conflict"


def _swapped(a: NormalisedDemographics, b: NormalisedDemographics) -> bool:
    def near(x: str, y: str) -> bool:
        return bool(x and y) and DamerauLevenshtein.distance(x, y) <= _allowance(x, y) - 1

    return near(a.first, b.last) and near(a.last, b.first)


# --- dates, ZIP ----------------------------------------------------------------------------


def _dob(a: date, b: date) -> tuple[str, ...]:
    """The DOB level, plus ``dob_year_transposed`` when a transposition moved the year."""
    if a == b:
        return ("dob_exact",)
    if a.year == b.year and (a.month, a.day) == (b.day, b.month):
        return ("dob_day_month_swapped",)
    sa = f"{a.year:04d}{a.month:02d}{a.day:02d}"
    sb = f"{b.year:04d}{b.month:02d}{b.day:02d}"
    diffs = [i for i in range(8) if sa[i] != sb[i]]
    if len(diffs) == 1:
        # A digit of the year (a decade, 1985/1995) or of the month or day (12/13).
        return ("dob_year_digit",) if diffs[0] < 4 else ("dob_one_digit",)
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        if sa[i] == sb[i + 1] and sa[i + 1] == sb[i]:
            if i < 4:  # 1958/1985: 27 years apart, the shape of parent and child
                return ("dob_transposed_digits", "dob_year_transposed")
            return ("dob_transposed_digits",)
    return ("dob_conflict",)


def _zip(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return None
    if a == b:
        return "zip_exact"
    if len(a) == len(b) and DamerauLevenshtein.distance(a, b) == 1:
        return "zip_typo"
    if a[:3] == b[:3]:
        return "zip_prefix"  # the same sectional centre: a move across town
    return "zip_differs"


def _field(name: str, a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return None
    return f"{name}_exact" if a == b else f"{name}_differs"


# --- comparison levels ---------------------------------------------------------------------

# The level codes of each field of the Fellegi-Sunter model, in the model file's order. A
# field missing on either side has no level (weight 0): absence is never evidence against.
FIELD_LEVELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "first_name": (
            "first_name_exact", "first_name_nickname", "first_name_part", "first_name_typo",
            "first_name_one_edit", "first_name_two_edits_alike", "first_name_similar",
            "first_name_initial_only", "names_swapped", "first_name_conflict",
        ),
        "last_name": (
            "last_name_exact", "last_name_hyphen_part", "last_name_typo",
            "last_name_two_edits_alike", "last_name_two_edits", "last_name_phonetic",
            "names_swapped", "last_name_conflict",
        ),
        "dob": (
            "dob_exact", "dob_one_digit", "dob_transposed_digits", "dob_day_month_swapped",
            "dob_year_digit", "dob_conflict",
        ),
        "zip": ("zip_exact", "zip_typo", "zip_prefix", "zip_differs"),
        "email": ("email_exact", "email_differs"),
        "phone": ("phone_exact", "phone_differs"),
        "gender": ("gender_exact", "gender_differs"),
    }
)  # fmt: skip


def comparison_levels(a: NormalisedDemographics, b: NormalisedDemographics) -> dict[str, str]:
    """One level per field present on both sides (the model's comparison vector)."""
    levels: dict[str, str] = {}
    first, last = _first_names(a, b), _last_names(a, b)
    if first != "first_name_exact" and last != "last_name_exact" and _swapped(a, b):
        first = last = "names_swapped"
    if first != "first_name_missing":
        levels["first_name"] = first
    if last != "last_name_missing":
        levels["last_name"] = last
    levels["dob"] = _dob(a.dob, b.dob)[0]
    for name, level in (
        ("zip", _zip(a.zip, b.zip)),
        ("email", _field("email", a.email, b.email)),
        ("phone", _field("phone", a.phone, b.phone)),
        ("gender", _field("gender", a.gender, b.gender)),
    ):
        if level:
            levels[name] = level
    return levels


# --- the decision --------------------------------------------------------------------------

# Field disagreements that make any pair none, whatever the weights say: another person.
# Different first names are siblings, spouses or twins; an initial alone identifies no one.
DECISIVE = frozenset(
    {
        "gender_conflict", "suffix_conflict", "dob_conflict", "first_name_conflict",
        "first_name_initial_only", "last_name_conflict", "names_missing",
    }
)  # fmt: skip
_SAME_FAMILY = frozenset(
    {
        "last_name_exact",
        "last_name_hyphen_part",
        "last_name_typo",
        "last_name_two_edits_alike",
        "last_name_two_edits",
        "last_name_phonetic",
    }
)
_EXACT_SIX = frozenset(
    {"first_name_exact", "last_name_exact", "gender_exact", "dob_exact", "zip_exact", "email_exact"}
)
_CONTACT = ("email_exact", "phone_exact")
# Issue 13's typo level, field by field: names within two edits or a nickname, the DOB
# within a digit (or two swapped), any ZIP.
_TYPO_FIRST = frozenset(
    {
        "first_name_exact", "first_name_nickname", "first_name_typo", "first_name_one_edit",
        "first_name_two_edits_alike", "first_name_similar",
    }
)  # fmt: skip
_TYPO_LAST = frozenset(
    {"last_name_exact", "last_name_typo", "last_name_two_edits_alike", "last_name_two_edits"}
)
_TYPO_DOB = frozenset({"dob_exact", "dob_one_digit", "dob_year_digit", "dob_transposed_digits"})
CONTACT_CONFIRMS = "contact_confirms_typos"

# Guard codes: why a pair the weights would call close is still none.
POSSIBLE_TWIN = "possible_twin"
POSSIBLE_SIBLING = "possible_sibling"
POSSIBLE_PARENT_CHILD = "possible_parent_child"
# Names of at most three letters two edits apart ("Wei"/"Iw"): one letter is left of
# the name, so only an agreeing email or phone says it is this person.
SHORT_NAME_UNCONFIRMED = "short_name_unconfirmed"
GUARDS = frozenset({POSSIBLE_TWIN, POSSIBLE_SIBLING, POSSIBLE_PARENT_CHILD, SHORT_NAME_UNCONFIRMED})
# Two names whose census shares of women differ by this much belong to different sexes.
OPPOSITE_SEXES = 0.8
# Two known given names at most this many bits (8 times) apart in frequency are two names.
COMPARABLE_BITS = 3.0
# A DOB variant this many years or more apart, same names: parent and child (Jr/Sr).
GENERATION_YEARS = 15
# ... but fewer than this many: a parent 55 or older at a child's birth is rare, far
# rarer than a year typed with two digits swapped (1929/1992 are 63 years apart).
OLDEST_PARENT_YEARS = 55
# A given name this many bits or more above the exact-agreement weight (term frequency)
# is rare: at least 32 times rarer than the chance that two strangers share a first
# name, about 1 in 10,000 people in the census. A keyboard slip between two rare names
# (Kai/Kia, Michaela/Micaela) is likelier a typo than twins given those two names;
# Kristen/Kirsten (1 in 1,800 and 1 in 11,000) stay twins.
RARE_NAME_BITS = 5.0
# Two births of one mother are at least this many days apart, unless twins (Irish
# twins, the closest siblings, are about ten months apart): two DOBs between
# TWIN_DAYS and this many days apart are one DOB mistyped, not siblings.
SIBLING_MIN_DAYS = 240
# Two names two edits apart whose Jaro-Winkler similarity reaches this keep most of their
# letters in place (a longer name, its start intact): a level of its own, weighed by EM.
ALIKE_JARO_WINKLER = 0.88
# Twins born either side of midnight carry DOBs a day apart.
TWIN_DAYS = 1


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
    levels = comparison_levels(a, b)
    reasons = _reasons(a, b, levels)
    have = set(reasons)
    exact = _EXACT_SIX <= have and not have & {
        "suffix_missing",
        "suffix_conflict",
        "middle_initial_conflict",
    }
    if not exact:
        reasons += _guards(a, b, reasons, rules.model)
    bits = match_weight(a, b, levels, rules.model)
    # 0.5 at the close threshold; each bit above or below halves the distance to 1 or 0.
    score = round(1.0 / (1.0 + 2.0 ** (rules.threshold - bits)), 4)
    if exact:
        return MatchResult(MatchKind.EXACT, score, tuple(reasons))
    if any(r in DECISIVE or r in GUARDS for r in reasons):
        return MatchResult(MatchKind.NONE, score, tuple(reasons))
    if bits < rules.threshold:
        if _contact_confirms_typos(have):
            return MatchResult(MatchKind.CLOSE, score, (*reasons, CONTACT_CONFIRMS))
        return MatchResult(MatchKind.NONE, score, (*reasons, "below_threshold"))
    return MatchResult(MatchKind.CLOSE, score, tuple(reasons))


def _contact_confirms_typos(have: set[str]) -> bool:
    """Every field a typo away (issue 13's typo level) and an email or phone agrees, none
    disagrees: close though the weights fall short (two edits in each name, a DOB digit
    and a move weigh little). The guards have already spoken; the code goes to the phone
    on the record, which the registrant typed too."""
    return (
        bool(have & set(_CONTACT))
        and not have & {"email_differs", "phone_differs"}
        and bool(have & _TYPO_FIRST)
        and bool(have & _TYPO_LAST)
        and bool(have & _TYPO_DOB)
    )


def match_weight(
    a: NormalisedDemographics,
    b: NormalisedDemographics,
    levels: Mapping[str, str],
    model: MatchModel,
) -> float:
    """Total evidence in bits: the sum of the level weights, exact names adjusted for
    how common the name is (Fellegi and Sunter 1969; term frequency as in Splink)."""
    bits = 0.0
    for name, level in levels.items():
        bits += model.weight(name, level)
    if levels.get("first_name") == "first_name_exact":
        bits += model.tf("first_name", a.first)
    if levels.get("last_name") == "last_name_exact":
        bits += model.tf("last_name", a.last)
    return bits


def _reasons(
    a: NormalisedDemographics, b: NormalisedDemographics, levels: Mapping[str, str]
) -> list[str]:
    """The levels as reason codes, in a fixed order (so the result is symmetric), plus
    what the levels do not carry: suffixes, middle initials, F vs M, missing names."""
    reasons: list[str] = []
    if levels.get("first_name") == "names_swapped":
        reasons.append("names_swapped")
    else:
        reasons.append(levels.get("first_name", "first_name_missing"))
        reasons.append(levels.get("last_name", "last_name_missing"))
    if not (a.first or a.last) or not (b.first or b.last):
        reasons.append("names_missing")  # nothing left of either name: identifies no one
    if a.suffix and b.suffix and GENERATION[a.suffix] != GENERATION[b.suffix]:
        reasons.append("suffix_conflict")  # Jr vs Sr: parent and child
    elif bool(a.suffix) != bool(b.suffix):
        reasons.append("suffix_missing")
    ma, mb = a.middle_initials[:1], b.middle_initials[:1]
    if ma and mb and ma != mb:
        reasons.append("middle_initial_conflict")
    reasons += _dob(a.dob, b.dob)
    for name in ("zip", "email", "phone"):
        if name in levels:
            reasons.append(levels[name])
    if "gender" in levels:
        gender = levels["gender"]
        if gender == "gender_differs" and {a.gender, b.gender} == {"F", "M"}:
            gender = "gender_conflict"  # X vs F or M only differs: not decisive
        reasons.append(gender)
    return reasons


def _guards(
    a: NormalisedDemographics, b: NormalisedDemographics, reasons: list[str], model: MatchModel
) -> list[str]:
    """Guard codes for this pair (none: it may be close). May rename a reason in place.

    These are what the probabilistic linkers lack: a household shares surname, ZIP,
    often a parent's inbox and phone, so its members score like one person.
    """
    have = set(reasons)
    agree = any(r in have for r in _CONTACT)
    disagree = bool(have & {"email_differs", "phone_differs"})
    out: list[str] = []
    near_first = have & {
        "first_name_typo",
        "first_name_one_edit",
        "first_name_two_edits_alike",
        "first_name_similar",
        "first_name_nickname",
        "first_name_part",
    }
    if near_first and have & _SAME_FAMILY:
        # Twins share surname, DOB and ZIP, siblings all but the DOB. Two given names of
        # different sexes (Daniel/Daniela, Erin/Aaron), or two different names that are
        # both names (Jaden/Jayden, Kristen/Kirsten), are how parents tell them apart.
        # Otherwise a near name with the same DOB passes unless an email or phone on
        # both sides disagrees (adult twins have their own) and none agrees.
        # The census says which sex a name is usually given to; a gender recorded alike
        # on both records says which this person is (Paul filed as "Polly", Matthew as
        # "Mattie": census women's names, here a man's nickname). Boy/girl twins with
        # their genders recorded are apart already (gender_conflict). One name under two
        # romanisations (Tatiana/Tatyana) is one name, not two a parent chose.
        spelled = have & {
            "first_name_typo",
            "first_name_one_edit",
            "first_name_two_edits_alike",
            "first_name_similar",
        }
        sexes_unknown = "gender_exact" not in have
        apart = (sexes_unknown and _opposite_sexes(a.first, b.first, model)) or bool(
            spelled
            and not same_transliteration(a.first, b.first)
            and not same_vowel_romanisation(a.first, b.first, model.unwritten_vowel_names)
            and not _against_recorded_sex(a, b, model)
            and _two_names(a.first, b.first, model)
        )
        days = abs((a.dob - b.dob).days)
        if days <= TWIN_DAYS and (apart or (disagree and not agree)):
            out.append(POSSIBLE_TWIN)
        elif days >= SIBLING_MIN_DAYS and apart and abs(a.dob.year - b.dob.year) < GENERATION_YEARS:
            # A generation or more apart (Mei 1936, "Mi" 1906) is no sibling: the parent
            # and child guard below judges that shape.
            out.append(POSSIBLE_SIBLING)
    if have & {"dob_year_digit", "dob_transposed_digits"} and _generation_apart(a, b):
        # Same names, a DOB that is a digit away but 15+ years apart (1958/1985, 1950/1980):
        # John Sr and John Jr, unless an email or phone agrees, none disagrees and
        # neither has a suffix -- or neither record has an email or phone at all. Then a
        # DOB typo is far likelier than a parent and child of one name born on the same
        # day of the year (1 in 365), and a wrong close is caught: with no phone on the
        # record there is no code to send, so staff review it.
        uncontactable = not (a.email or a.phone or b.email or b.phone)
        if disagree or a.suffix or b.suffix or not (agree or uncontactable):
            out.append(POSSIBLE_PARENT_CHILD)
    if not agree and _short_names_two_edits(a, b) and not have & DECISIVE:
        out.append(SHORT_NAME_UNCONFIRMED)
    if (
        "last_name_conflict" in have
        and have & {"first_name_exact", "first_name_nickname"}
        and "dob_exact" in have
        and agree
    ):
        # Married (or transliterated beyond recognition) surname: close when first name,
        # DOB and an email or phone agree (a new name often comes with a new address);
        # the phone code then goes to the number on record, else staff review.
        reasons[reasons.index("last_name_conflict")] = "last_name_changed"
    return out


def _against_recorded_sex(
    a: NormalisedDemographics, b: NormalisedDemographics, model: MatchModel
) -> bool:
    """Both records give one sex, and one of the two names is borne by the other (census
    shares): Omar keyed as "Oma", Ryan as "Wan", on two records that both say M.

    Parents of twins or siblings of one sex give them names of that sex, so the name of
    the other sex is a mistyping, not a second child's name. (Boy/girl twins with their
    sexes recorded differ already: ``gender_conflict``.)"""
    if a.gender != b.gender or a.gender not in ("F", "M"):
        return False
    recorded = 1.0 if a.gender == "F" else 0.0
    shares = (model.female_share.get(a.first), model.female_share.get(b.first))
    return any(s is not None and abs(s - recorded) >= OPPOSITE_SEXES for s in shares)


def _generation_apart(a: NormalisedDemographics, b: NormalisedDemographics) -> bool:
    """Years apart as parent and child are (15 to 54), not as a grandparent or a typo."""
    return GENERATION_YEARS <= abs(a.dob.year - b.dob.year) < OLDEST_PARENT_YEARS


def _two_names(x: str, y: str, model: MatchModel) -> bool:
    """Two different given names, not one name mistyped: both in the names the model
    knows (its term-frequency table: US census and FEBRL; its name-sex table: census and
    gender-guesser's British, Irish and US names, Caden and Camden; names given in
    Arabic- or Persian-speaking countries, Hasan and Husain) and of comparable
    frequency or different first letters, or one the other plus a gendered ending
    (Daniel/Daniela, Carl/Carla). A name without a frequency counts as rare."""
    if x == y:
        return False
    table = model.tf_adjustment["first_name"]
    known = model.female_share
    arabic = model.unwritten_vowel_names  # Hasan/Husain, Hamid/Hamad: twins' names too

    def named(n: str) -> bool:
        return n in table or n in known or n in arabic

    if not named(x) or not named(y):
        return False  # Rosi/Rosie, Rebecc/Rebecca: a letter lost, not a second name
    short, long_ = sorted((x, y), key=len)
    if len(long_) == len(short) + 1 and long_.startswith(short) and long_[-1] in "aeo":
        # A gendered ending makes two names when it changes the sex (Daniel/Daniela),
        # or when the census cannot say; Helen/Helena, both women's, may be one name
        # with a letter added: the frequencies below decide.
        sx, sy = known.get(x), known.get(y)
        if sx is None or sy is None or abs(sx - sy) >= OPPOSITE_SEXES:
            return True
    if x[0] == y[0] and _is_slip(x, y) and _rare_name(x, model) and _rare_name(y, model):
        # Kai keyed as Kia, Michaela as Micaela: a keyboard's slip (swapped, neighbouring,
        # doubled or dropped letters) between two names this rare is likelier than twins
        # given both. Not a common name and its neighbour (Kristen/Kirsten), not a newer
        # name of unknown frequency (Keiran/Kieran), not names of different sexes (the
        # sexes rule), not another first letter (rhyming twins, Gena/Tena), and not an
        # edit no keyboard makes (Eliza/Elia, Jaden/Jayden): names parents choose.
        return False
    # Micheal, Mathew, Ashely are in the census too, but ten or more times rarer than
    # the name they misspell; Kristen and Kirsten are names of comparable frequency. A
    # slip of the first letter is rare: Ava/Eva, Liam/Leah are two names; a first letter
    # lost (Laura/aura, Ryan/yan) is a slip, the rest of the name intact.
    # Alike only in sound (Michael/Mitchell, three edits apart) is two names too.
    rare = model.tf_unknown["first_name"]
    first_letter_lost = long_[1:] == short
    return (
        abs(table.get(x, rare) - table.get(y, rare)) <= COMPARABLE_BITS
        or (x[0] != y[0] and not first_letter_lost)
        or DamerauLevenshtein.distance(x, y) > _allowance(x, y)
    )


def _rare_name(name: str, model: MatchModel) -> bool:
    """A given name the frequency table knows to be rare (:data:`RARE_NAME_BITS`)."""
    bits = model.tf_adjustment["first_name"].get(name)
    return bits is not None and bits >= RARE_NAME_BITS


def _opposite_sexes(x: str, y: str, model: MatchModel) -> bool:
    """Given names borne mostly by different sexes (census shares: Erin/Aaron)."""
    fx, fy = model.female_share.get(x), model.female_share.get(y)
    if fx is None or fy is None:
        return False
    return abs(fx - fy) >= OPPOSITE_SEXES


# --- blocking ------------------------------------------------------------------------------


def blocking_keys(d: Demographics | NormalisedDemographics) -> frozenset[str]:
    """At most nine keys; a pair :func:`compare` calls exact or close nearly always
    shares one (the bench counts the exceptions).

    Why: a close or exact pair has an agreeing email or phone (keys ``e:`` and ``p:``),
    or else enough weight from names, DOB and ZIP. With ZIP and DOB equal it shares
    ``dz:``; with the names' sounds equal and one of DOB (``dn:``) or ZIP (``zn:``)
    equal it shares that key; with the DOB equal and one name's sound equal (a typo in
    the other name and a move) it shares ``df:`` or ``dl:``. Names go in as a sorted pair
    of metaphone keys, so swapped first and last names share them too. Typos change a
    sound far more often than a first letter: with both initials kept (a sorted pair,
    so swapped names too) it shares ``di:`` with the DOB equal and ``zi:`` with the ZIP
    equal. Left out, on purpose: a DOB typo *and* a move *and* a changed name sound with
    no email or phone in common, which a lookup by key cannot find without scanning a
    ZIP or a birth year; and a record missing one name whose other name changed sound
    (a key on one initial would bring in a thirteenth of everyone born that day).

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
    if n.first:
        keys.add(f"df:{dob}|{jellyfish.metaphone(n.first)}")
    if n.last:
        keys.add(f"dl:{dob}|{jellyfish.metaphone(n.last)}")
    if n.first and n.last:
        names = "|".join(sorted((jellyfish.metaphone(n.first), jellyfish.metaphone(n.last))))
        keys.add(f"dn:{dob}|{names}")
        initials = "".join(sorted((n.first[0], n.last[0])))
        keys.add(f"di:{dob}|{initials}")
        if n.zip:
            keys.add(f"zn:{n.zip}|{names}")
            keys.add(f"zi:{n.zip}|{initials}")
    return frozenset(keys)
