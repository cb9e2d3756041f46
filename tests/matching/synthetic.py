"""Seeded synthetic pairs: random corruptions of generated people, as a second opinion.

The hand-labelled cases in ``cases.py`` were written by the same hands as the rules,
holdout included. These pairs are not: a generator makes people, then either a second
record of the *same* person with one or two random data-entry errors of every kind
(including ones the matcher refuses on purpose: any single-letter change to a first
name, one wrong DOB digit, an unrelated new surname), or a *different* person who
shares a household or a name (twins, siblings, parent and child, spouses, namesakes).

Truth here is identity, not the policy: a same-person pair answered *none* counts as
a miss even when the policy meant it (that is the cost of its caution, and the bench
prints it per kind of error). Deterministic for a given seed.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace
from datetime import date, timedelta

from nicknames import NickNamer

from idp.policies.matching import Demographics

FEMALE = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa "
    "Margaret Sandra Ashley Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie "
    "Rebecca Laura Sharon Cynthia Kathleen Amy Angela Anna Olivia Sophia Isabella Chloé "
    "Zoë Renée María Lucía Aisha Priya Mei Yuki Fatima Ngozi Siobhán"
).split()
MALE = (
    "James Robert John Michael William David Richard Joseph Thomas Charles Christopher "
    "Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian "
    "George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan "
    "José Luis Carlos Łukasz Ahmed Omar Wei Hiroshi Kwame Sean François Jürgen"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell "
    "Carter Roberts O'Brien McDonald Núñez Müller Kowalski Nakamura Okafor Haddad Patel "
    "Chen Kim Wiśniewski Dubois"
).split()
AREA_CODES = ("617", "415", "212", "312", "713", "206", "305", "404", "503", "612")


@dataclass(frozen=True, slots=True)
class SyntheticPair:
    same_person: bool
    kind: str  # the errors applied (same person) or the relationship (different people)
    a: Demographics
    b: Demographics


def _person(rng: random.Random, *, last: str | None = None, female: bool | None = None):
    female = rng.random() < 0.5 if female is None else female
    first = rng.choice(FEMALE if female else MALE)
    last = last or rng.choice(LAST)
    dob = date(1930, 1, 1) + timedelta(days=rng.randrange(365 * 90))
    slug = "".join(c for c in (first + last).lower() if c in string.ascii_lowercase)
    return Demographics(
        first_name=first,
        last_name=last,
        dob=dob,
        zip=f"{rng.randrange(1000, 99999):05d}",
        gender=("F" if female else "M") if rng.random() < 0.9 else None,
        email=f"{slug}{rng.randrange(100)}@example.com" if rng.random() < 0.8 else None,
        phone=(
            f"{rng.choice(AREA_CODES)}{rng.randrange(200, 999)}{rng.randrange(10000):04d}"
            if rng.random() < 0.6
            else None
        ),
    )


def _edit(rng: random.Random, word: str) -> str:
    """One random single-character edit: insert, delete, substitute or transpose."""
    i = rng.randrange(len(word))
    op = rng.choice(("insert", "delete", "substitute", "transpose"))
    letter = rng.choice(string.ascii_lowercase)
    if op == "insert":
        return word[:i] + letter + word[i:]
    if op == "delete" and len(word) > 2:
        return word[:i] + word[i + 1 :]
    if op == "transpose" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + letter + word[i + 1 :]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _corrupt(rng: random.Random, d: Demographics, op: str, nicknames: NickNamer) -> Demographics:
    if op == "first_typo":
        return replace(d, first_name=_edit(rng, d.first_name))
    if op == "first_nickname":
        forms = sorted(nicknames.nicknames_of(d.first_name.lower()))
        return replace(d, first_name=rng.choice(forms).title()) if forms else d
    if op == "last_typo":
        return replace(d, last_name=_edit(rng, d.last_name))
    if op == "last_hyphen":
        return replace(d, last_name=f"{d.last_name}-{rng.choice(LAST)}")
    if op == "last_changed":
        return replace(d, last_name=rng.choice(LAST))
    if op == "swap_names":
        return replace(d, first_name=d.last_name, last_name=d.first_name)
    if op in ("dob_transpose", "dob_day_month", "dob_digit"):
        y, m, dd = d.dob.year, d.dob.month, d.dob.day
        if op == "dob_transpose":
            which = rng.choice(("day", "month", "year"))
            if which == "day":
                new = _safe_date(y, m, int(f"{dd:02d}"[::-1]))
            elif which == "month":
                new = _safe_date(y, int(f"{m:02d}"[::-1]), dd)
            else:
                s = f"{y:04d}"
                new = _safe_date(int(s[:2] + s[3] + s[2]), m, dd)
        elif op == "dob_day_month":
            new = _safe_date(y, dd, m)
        else:
            text = d.dob.strftime("%Y%m%d")
            i = rng.randrange(8)
            new = None
            for digit in rng.sample("0123456789", 10):
                candidate = text[:i] + digit + text[i + 1 :]
                new = _safe_date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
                if new and new != d.dob:
                    break
        return replace(d, dob=new) if new else d
    if op == "zip_typo":
        i = rng.randrange(5)
        digit = rng.choice([c for c in "0123456789" if c != d.zip[i]])
        return replace(d, zip=d.zip[:i] + digit + d.zip[i + 1 :])
    if op == "moved":
        return replace(d, zip=f"{rng.randrange(1000, 99999):05d}")
    if op == "email_missing":
        return replace(d, email=None)
    if op == "email_changed":
        return replace(d, email=f"new{rng.randrange(1000)}@example.org")
    if op == "phone_missing":
        return replace(d, phone=None)
    if op == "gender_missing":
        return replace(d, gender=rng.choice((None, "U", "unknown")))
    raise ValueError(op)


SAME_PERSON_OPS = (
    "first_typo", "first_nickname", "last_typo", "last_hyphen", "last_changed", "swap_names",
    "dob_transpose", "dob_day_month", "dob_digit", "zip_typo", "moved", "email_missing",
    "email_changed", "phone_missing", "gender_missing",
)  # fmt: skip


def _restyle(rng: random.Random, d: Demographics) -> Demographics:
    """The same values typed differently: case, ZIP+4, phone punctuation, gender words."""
    gender = d.gender
    if gender and rng.random() < 0.5:
        gender = {"F": "female", "M": "Male"}.get(gender, gender)
    phone = d.phone
    if phone and rng.random() < 0.5:
        phone = f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
    return replace(
        d,
        first_name=d.first_name.upper() if rng.random() < 0.2 else d.first_name,
        last_name=d.last_name.lower() if rng.random() < 0.2 else d.last_name,
        zip=f"{d.zip}-{rng.randrange(10000):04d}" if rng.random() < 0.2 else d.zip,
        gender=gender,
        email=d.email.upper() if d.email and rng.random() < 0.2 else d.email,
        phone=phone,
    )


def _different(rng: random.Random, d: Demographics, kind: str) -> Demographics:
    other = _person(rng, last=d.last_name)
    while other.first_name == d.first_name:  # twins, siblings, spouses: another name
        other = _person(rng, last=d.last_name)
    shared = {
        "email": d.email if rng.random() < 0.5 else other.email,
        "phone": d.phone if rng.random() < 0.5 else other.phone,
    }
    if kind == "twin":
        return replace(other, dob=d.dob, zip=d.zip, **shared)
    if kind == "sibling":
        gap = timedelta(days=rng.randrange(300, 365 * 10))
        return replace(other, dob=d.dob + gap, zip=d.zip, **shared)
    if kind == "parent_child":
        years = rng.randrange(18, 45)
        dob = _safe_date(d.dob.year - years, d.dob.month, d.dob.day) or date(
            d.dob.year - years, 3, 1
        )
        if rng.random() < 0.5:
            dob = d.dob - timedelta(days=365 * years + rng.randrange(365))
        suffix = rng.choice(("", " Sr", " Jr"))
        return replace(
            d, last_name=d.last_name + suffix, dob=dob, email=other.email, phone=shared["phone"]
        )
    if kind == "spouse":
        dob = d.dob + timedelta(days=rng.randrange(-365 * 6, 365 * 6))
        return replace(other, dob=dob, zip=d.zip, **shared)
    if kind == "namesake":
        stranger = _person(rng)
        return replace(stranger, first_name=d.first_name, last_name=d.last_name)
    if kind == "stranger":
        return _person(rng)
    raise ValueError(kind)


DIFFERENT_KINDS = ("twin", "sibling", "parent_child", "spouse", "namesake", "stranger")


def generate(seed: int = 20240501, n: int = 600) -> tuple[SyntheticPair, ...]:
    """``n`` pairs, half the same person (one or two errors), half different people."""
    rng = random.Random(seed)
    nicknames = NickNamer()
    pairs: list[SyntheticPair] = []
    for i in range(n):
        base = _person(rng)
        if i % 2 == 0:
            ops = sorted(rng.sample(SAME_PERSON_OPS, rng.choice((1, 1, 2))))
            other = base
            for op in ops:
                other = _corrupt(rng, other, op, nicknames)
            pairs.append(SyntheticPair(True, "+".join(ops), base, _restyle(rng, other)))
        else:
            kind = DIFFERENT_KINDS[(i // 2) % len(DIFFERENT_KINDS)]
            pairs.append(
                SyntheticPair(False, kind, base, _restyle(rng, _different(rng, base, kind)))
            )
    return tuple(pairs)
