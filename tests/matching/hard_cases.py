"""Generated hard cases for the identity matcher, one category per issue-13 target.

Why generated: the hand-written pairs in ``cases.py`` number a dozen per category,
too few to tell 0.95 from 0.90. Each category here is a seeded stream of pairs whose
truth is identity (same person or not), built from the people ``synthetic.py`` makes.

Three seeds; the first two fixed before the model was trained or any threshold chosen:

- :data:`TUNING_SEED` pairs may be looked at while choosing the close threshold;
- :data:`HOLDOUT_SEED` pairs are the held-out set: reported, never tuned on. This
  module was committed (with both seeds) before the model existed, so the held-out
  pairs cannot have shaped it; changing a generator here changes them, so don't.
  Its typo misses have since been listed and read (``--misses``), so it is *seen*;
- :data:`FRESH_HOLDOUT_SEED` pairs are the unseen held-out set, added (alone, before
  any change meant to raise typo recall) once HOLDOUT_SEED's misses had been read:
  reported as rates, never listed pair by pair.

Categories (``SAME``: recall is measured; ``DIFFERENT``: false close is):
identical, typo, nickname, married_surname, dob_one_digit, dob_transposition,
transliteration, compound_surname, zip_plus4, moved_same_contact; twins,
twins_similar_names, siblings, parent_child_same_name, spouses,
common_name_same_zip.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from nicknames import NickNamer

from idp.policies.matching import Demographics

from .synthetic import FEMALE, LAST, _edit, _person, _restyle, _safe_date

TUNING_SEED = 1313
HOLDOUT_SEED = 2026_12_04
# A second held-out seed, added before any tuning against issue 13's 0.99 typo recall:
# HOLDOUT_SEED's misses had been printed and read by then, so it no longer counts as
# unseen. Same generators; its pairs are reported as rates, never listed.
FRESH_HOLDOUT_SEED = 2026_12_06

# Spellings of one name through different transliterations or languages.
FIRST_TRANSLITERATIONS = (
    ("Aleksandr", "Alexander"), ("Sergei", "Sergey"), ("Dmitri", "Dmitry"),
    ("Yuri", "Yury"), ("Natalia", "Natalya"), ("Tatiana", "Tatyana"),
    ("Mohammed", "Muhammad"), ("Mohamed", "Mohammad"), ("Ahmed", "Ahmad"),
    ("Youssef", "Yusuf"), ("Hussein", "Husain"), ("Fatima", "Fatemeh"),
    ("Olexandr", "Oleksandr"), ("Andrei", "Andrey"), ("Nikolai", "Nikolay"),
    ("Yevgeny", "Evgeny"), ("Jürgen", "Juergen"), ("Mikhail", "Michail"),
    ("Anastasia", "Anastasiya"), ("Ekaterina", "Yekaterina"), ("Maksim", "Maxim"),
    ("Aleksei", "Alexey"), ("Khalid", "Khaled"), ("Said", "Saeed"),
)  # fmt: skip
LAST_TRANSLITERATIONS = (
    ("Müller", "Mueller"), ("Schröder", "Schroeder"), ("Tchaikovsky", "Chaikovsky"),
    ("Chekhov", "Tschechow"),
    ("Zhou", "Chou"), ("Hsu", "Xu"), ("Tsai", "Cai"), ("Nguyen", "Nguyễn"),
    ("Kowalczyk", "Kovalchik"), ("Wojciechowski", "Voitsekhovsky"),
    ("Gonçalves", "Goncalves"), ("Tkachenko", "Tkatchenko"), ("Shevchenko", "Schewtschenko"),
)  # fmt: skip
# Twins whose parents chose names a letter or two apart.
SIMILAR_TWIN_NAMES = (
    ("Jaden", "Jayden"), ("Kristen", "Kirsten"), ("Aidan", "Aiden"), ("Daniel", "Daniela"),
    ("Gabriel", "Gabriela"), ("Mason", "Madison"), ("Ella", "Emma"), ("Lily", "Lola"),
    ("Eli", "Ela"), ("Liam", "Leah"), ("Noah", "Nora"), ("Adrian", "Adriana"),
    ("Erin", "Aaron"), ("Jon", "Joan"), ("Carl", "Carla"), ("Dean", "Dana"),
    ("Mia", "Max"), ("Sara", "Sam"), ("Ian", "Ivan"), ("Ava", "Eva"),
    ("Marco", "Marcia"), ("Alexis", "Alexa"), ("Caden", "Camden"), ("Brian", "Briana"),
)  # fmt: skip
COMPOUND_SURNAMES = (
    ("Garcia", "Lopez"), ("Rodriguez", "Torres"), ("Martinez", "Flores"),
    ("Hernandez", "Rivera"), ("Sanchez", "Perez"), ("Smith", "Jones"), ("Brown", "Taylor"),
    ("Ramirez", "Gonzalez"), ("Nunez", "Diaz"), ("Castro", "Silva"),
)  # fmt: skip
COMMON_NAMES = (
    ("James", "Smith"), ("John", "Smith"), ("Michael", "Johnson"), ("Mary", "Smith"),
    ("Maria", "Garcia"), ("David", "Williams"), ("Robert", "Brown"), ("Maria", "Rodriguez"),
    ("Jennifer", "Jones"), ("Linda", "Miller"), ("William", "Davis"), ("Jose", "Hernandez"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HardPair:
    category: str
    same_person: bool
    a: Demographics
    b: Demographics


def _contact(rng: random.Random, d: Demographics) -> Demographics:
    """Make sure at least one of email and phone is present (both records keep it)."""
    if d.email or d.phone:
        return d
    return replace(d, phone=f"617{rng.randrange(200, 999)}{rng.randrange(10000):04d}")


def _other_contact(rng: random.Random, d: Demographics, keep: str) -> Demographics:
    """Keep one contact (``email`` or ``phone``); the other is new or absent."""
    if keep == "email":
        phone = (
            None
            if rng.random() < 0.5
            else f"212{rng.randrange(200, 999)}5{rng.randrange(1000):03d}"
        )
        return replace(d, phone=phone)
    email = None if rng.random() < 0.5 else f"new{rng.randrange(10**6)}@example.net"
    return replace(d, email=email)


def _dob_digit(rng: random.Random, dob: date, *, transpose: bool) -> date | None:
    text = dob.strftime("%Y%m%d")
    for _ in range(20):
        # Never the millennium digit; a transposition from the decade digit on (1958/1985).
        i = rng.randrange(2, 7) if transpose else rng.randrange(1, 8)
        if transpose:
            candidate = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            candidate = text[:i] + rng.choice("0123456789") + text[i + 1 :]
        new = _safe_date(int(candidate[:4]), int(candidate[4:6]), int(candidate[6:]))
        if new and new != dob and 1900 <= new.year <= 2025:
            return new
    return None


def _same(rng: random.Random, category: str, nn: NickNamer) -> tuple[Demographics, Demographics]:
    base = _person(rng)
    other = base
    if category == "identical":
        pass
    elif category == "typo":
        first, last = base.first_name, base.last_name
        for _ in range(rng.choice((0, 1, 1, 2))):
            first = _edit(rng, first)
        for _ in range(rng.choice((0, 1, 1, 2))):
            last = _edit(rng, last)
        if rng.random() < 0.2:
            forms = sorted(nn.nicknames_of(base.first_name.lower()))
            first = rng.choice(forms).title() if forms else first
        dob = base.dob
        if rng.random() < 0.5:
            dob = _dob_digit(rng, dob, transpose=rng.random() < 0.3) or dob
        zip_ = base.zip
        roll = rng.random()
        if roll < 0.3:
            i = rng.randrange(5)
            zip_ = zip_[:i] + rng.choice([c for c in "0123456789" if c != zip_[i]]) + zip_[i + 1 :]
        elif roll < 0.5:
            zip_ = f"{rng.randrange(1000, 99999):05d}"
        other = replace(base, first_name=first, last_name=last, dob=dob, zip=zip_)
    elif category == "nickname":
        while not nn.nicknames_of(base.first_name.lower()):
            base = _person(rng)
        forms = sorted(nn.nicknames_of(base.first_name.lower()))
        other = replace(base, first_name=rng.choice(forms).title())
    elif category == "married_surname":
        base = replace(_contact(rng, base), gender="F")
        base = replace(base, first_name=rng.choice(FEMALE))
        keep = "email" if base.email and (not base.phone or rng.random() < 0.5) else "phone"
        new_last = rng.choice([n for n in LAST if n != base.last_name])
        other = _other_contact(rng, replace(base, last_name=new_last), keep)
        if rng.random() < 0.5:
            other = replace(other, zip=f"{rng.randrange(1000, 99999):05d}")
    elif category in ("dob_one_digit", "dob_transposition"):
        new = None
        while new is None:
            base = _person(rng)
            new = _dob_digit(rng, base.dob, transpose=category == "dob_transposition")
        other = replace(base, dob=new)
    elif category == "transliteration":
        first = rng.random() < 0.5
        x, y = rng.choice(FIRST_TRANSLITERATIONS if first else LAST_TRANSLITERATIONS)
        x, y = (x, y) if rng.random() < 0.5 else (y, x)
        field = "first_name" if first else "last_name"
        base, other = replace(base, **{field: x}), replace(base, **{field: y})
    elif category == "compound_surname":
        p, q = rng.choice(COMPOUND_SURNAMES)
        full = rng.choice((f"{p} {q}", f"{p}-{q}"))
        base = replace(base, last_name=full)
        other = replace(base, last_name=rng.choice((p, f"{p}-{q}", f"{p} {q}", q, f"{q} {p}")))
        if other.last_name == full:
            other = replace(other, last_name=p)
    elif category == "zip_plus4":
        plus = f"{base.zip}-{rng.randrange(10000):04d}"
        other = replace(base, zip=rng.choice((plus, base.zip + f"{rng.randrange(10000):04d}")))
        base = replace(base, zip=rng.choice((base.zip, f"{base.zip}-{rng.randrange(10000):04d}")))
    elif category == "moved_same_contact":
        base = _contact(rng, base)
        keep = "email" if base.email and (not base.phone or rng.random() < 0.5) else "phone"
        moved = replace(base, zip=f"{rng.randrange(1000, 99999):05d}")
        other = _other_contact(rng, moved, keep) if rng.random() < 0.5 else moved
    else:
        raise ValueError(category)
    return base, _restyle(rng, other)


def _shared_contact(rng: random.Random, d: Demographics, o: Demographics) -> Demographics:
    """A household shares a parent's inbox or landline about half the time."""
    return replace(
        o,
        email=d.email if rng.random() < 0.5 else o.email,
        phone=d.phone if rng.random() < 0.5 else o.phone,
    )


def _different(rng: random.Random, category: str) -> tuple[Demographics, Demographics]:
    base = _person(rng)
    if category == "twins":
        other = _person(rng, last=base.last_name)
        while other.first_name == base.first_name:
            other = _person(rng, last=base.last_name)
        other = replace(other, dob=base.dob, zip=base.zip)
        other = _shared_contact(rng, base, other)
    elif category == "twins_similar_names":
        x, y = rng.choice(SIMILAR_TWIN_NAMES)
        x, y = (x, y) if rng.random() < 0.5 else (y, x)
        base = replace(base, first_name=x, gender=None if rng.random() < 0.5 else base.gender)
        other = replace(base, first_name=y, gender=base.gender if base.gender is None else None)
        other = _shared_contact(rng, base, replace(other, email=None, phone=None))
    elif category == "siblings":
        other = _person(rng, last=base.last_name)
        while other.first_name == base.first_name:
            other = _person(rng, last=base.last_name)
        gap = timedelta(days=rng.randrange(300, 365 * 10)) * rng.choice((1, -1))
        other = _shared_contact(rng, base, replace(other, dob=base.dob + gap, zip=base.zip))
    elif category == "parent_child_same_name":
        years = rng.randrange(18, 45)
        dob = base.dob - timedelta(days=365 * years + rng.randrange(-180, 180))
        if rng.random() < 0.3:
            dob = _safe_date(base.dob.year - years, base.dob.month, base.dob.day) or dob
        roll = rng.random()
        last_a, last_b = base.last_name, base.last_name
        if roll < 0.3:
            last_a, last_b = f"{base.last_name} Jr", f"{base.last_name} Sr"
        elif roll < 0.45:
            last_b = f"{base.last_name} Sr"
        base = replace(base, last_name=last_a)
        other = _person(rng)
        other = replace(base, last_name=last_b, dob=dob, email=other.email, phone=other.phone)
        other = replace(other, phone=base.phone if rng.random() < 0.4 else other.phone)
    elif category == "spouses":
        female = base.gender == "F"
        other = _person(rng, last=base.last_name if rng.random() < 0.7 else None, female=not female)
        dob = base.dob + timedelta(days=rng.randrange(-365 * 6, 365 * 6))
        other = _shared_contact(rng, base, replace(other, dob=dob, zip=base.zip))
    elif category == "common_name_same_zip":
        first, last = rng.choice(COMMON_NAMES)
        base = replace(base, first_name=first, last_name=last)
        other = replace(_person(rng), first_name=first, last_name=last, zip=base.zip)
        other = replace(other, gender=base.gender)
    else:
        raise ValueError(category)
    return base, _restyle(rng, other)


SAME = (
    "identical", "typo", "nickname", "married_surname", "dob_one_digit", "dob_transposition",
    "transliteration", "compound_surname", "zip_plus4", "moved_same_contact",
)  # fmt: skip
DIFFERENT = (
    "twins", "twins_similar_names", "siblings", "parent_child_same_name", "spouses",
    "common_name_same_zip",
)  # fmt: skip


def generate_hard(seed: int, per_category: int = 200) -> tuple[HardPair, ...]:
    """``per_category`` pairs of every category, reproducible from ``seed``."""
    nn = NickNamer()
    pairs: list[HardPair] = []
    for index, category in enumerate(SAME + DIFFERENT):
        rng = random.Random(seed * 100 + index)  # each category its own stream
        make: Callable[[], tuple[Demographics, Demographics]]
        if category in SAME:
            make = lambda rng=rng, c=category: _same(rng, c, nn)  # noqa: E731
        else:
            make = lambda rng=rng, c=category: _different(rng, c)  # noqa: E731
        for _ in range(per_category):
            a, b = make()
            pairs.append(HardPair(category, category in SAME, a, b))
    return tuple(pairs)


__all__ = [
    "DIFFERENT",
    "FRESH_HOLDOUT_SEED",
    "HOLDOUT_SEED",
    "SAME",
    "TUNING_SEED",
    "HardPair",
    "generate_hard",
]
