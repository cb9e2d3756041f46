"""One name romanised two ways: a spelling key that erases the choices transliteration makes.

Why: a Russian or Ukrainian name reaches a US registration form through whichever
romanisation the clerk, the passport or the family used (BGN/PCGN, ISO 9, German or
Polish conventions): Natalia/Natalya, Sergei/Sergey, Aleksandr/Alexander, Mikhail/
Michail, Kowalczyk/Kovalchik, Shevchenko/Schewtschenko, Juergen/Jurgen. Spelled alike,
these would otherwise look like two names of comparable frequency, which is how the
matcher tells twins apart (Kristen/Kirsten). Two names with the same key are one name
written under different conventions, not two names a parent chose.

The key only rewrites the alternations those conventions disagree on; it is applied to
names already normalised to lower-case ASCII (``idp.policies.matching.normalise``) and
compared between two names that are already spelled alike or share a sound, never used
to find candidates. What it deliberately does not erase: vowels in general (Aidan/Aiden,
Ella/Emma are names parents choose between), a ``y`` after a vowel inside the name
(Jaden/Jayden), letters added or dropped (Caden/Camden).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Longest first: each rule sees the output of the ones before it.
_RULES: tuple[tuple[str, str], ...] = (
    (r"tsch", "ch"),  # German for Cyrillic ч: Tschechow / Chekhov
    (r"sch", "sh"),  # German for ш: Schewtschenko / Shevchenko
    (r"szcz", "shch"),  # Polish for щ
    (r"cz", "ch"),  # Polish for ч: Kowalczyk / Kovalchik
    (r"sz", "sh"),  # Polish for ш
    (r"kh", "ch"),  # English for х, German ch: Mikhail / Michail, Chekhov
    (r"ks", "x"),  # Aleksandr / Alexander, Maksim / Maxim
    (r"w", "v"),  # German and Polish w for в: Tschechow, Kowalczyk
    (r"ue", "u"),  # German umlaut written out: Juergen / Jürgen (unidecode: jurgen)
    (r"oe", "o"),  # Schroeder / Schröder
    (r"ae", "a"),
    (r"^ye", "e"),  # initial е: Yevgeny / Evgeny, Yekaterina / Ekaterina
    (r"^yu", "iu"),  # initial ю: Yuri / Iuri
    (r"^ya", "ia"),  # initial я
    (r"(?<=[^aeiou])y", "i"),  # й, ы and ь after a consonant: Tatyana, Dmitry, Yury
    (r"(?<=[aeiou])y$", "i"),  # final й: Sergey / Sergei, Nikolay / Nikolai
    (r"(?<=i)y(?=[aeou])", ""),  # -ия written -iya: Anastasiya / Anastasia
    (r"(?<=[a-z])er$", "r"),  # -ндр written -nder: Aleksandr / Alexander
    (r"(.)\1+", r"\1"),  # doubled letters: Anastasiia / Anastasia, Tkatchenko
    (r"tch", "ch"),  # French/English ч: Tkatchenko / Tkachenko
)
_COMPILED = tuple((re.compile(pattern), repl) for pattern, repl in _RULES)


@lru_cache(maxsize=8192)
def transliteration_key(name: str) -> str:
    """The name with the romanisation choices erased (``natalya`` -> ``natalia``)."""
    key = name
    for pattern, repl in _COMPILED:
        key = pattern.sub(repl, key)
    return key


def same_transliteration(a: str, b: str) -> bool:
    """Two different spellings that one romanisation convention or another would produce
    from the same name (Tatiana/Tatyana, Sergei/Sergey); never true for equal strings'
    absence: two empty names are not a name."""
    return bool(a and b) and a != b and transliteration_key(a) == transliteration_key(b)
