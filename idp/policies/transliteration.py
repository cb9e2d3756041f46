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

Two more conventions the key erases: Chinese surnames under Wade-Giles and pinyin
(Hsu/Xu, Tsai/Cai: an initial ``hs`` or ``ts`` before a vowel), and a final ``h``
after a vowel, which Hebrew and Persian names are written with or without
(Hannah/Hanna, Sarah/Sara, Fatemeh).

Arabic and Persian script leave short vowels unwritten, so the romaniser picks them:
Ahmed/Ahmad, Khaled/Khalid, Mohammed/Muhammad, Hussein/Husain, Youssef/Yusuf. That
cannot go into the key for every name (Aidan/Aiden, Ava/Eva are two names), so
:func:`same_vowel_romanisation` applies it only to names the caller knows are given in
Arabic- or Persian-speaking countries (the matcher's model ships that list, from
gender-guesser's Arabia/Persia column), and only for the vowels romanisations swap:
``e`` for ``a``, ``i`` or ``u``, and ``o`` for ``u``, or one short vowel inside the name
left out (Fatima/Fatma). Hasan/Husain (twins' names: a written long vowel, not a
choice), Hamid/Hamad and Amir/Amira keep apart.
"""

from __future__ import annotations

import re
from collections.abc import Container
from functools import lru_cache

# Longest first: each rule sees the output of the ones before it.
_RULES: tuple[tuple[str, str], ...] = (
    (r"tsch", "ch"),  # German for Cyrillic ч: Tschechow / Chekhov
    (r"^hs(?=[aeiouy])", "x"),  # Wade-Giles hs, pinyin x: Hsu / Xu, Hsieh / Xie
    (r"^ts(?=[aeiou])", "c"),  # Wade-Giles ts, pinyin c: Tsai / Cai, Tsao / Cao
    (r"(?<=[aeiou])h$", ""),  # a final h after a vowel, written or not: Hannah / Hanna
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


# Vowels a romanisation of Arabic or Persian writes for one unwritten short vowel.
_VOWEL_CHOICES = frozenset({("e", "a"), ("e", "i"), ("e", "u"), ("o", "u")})


@lru_cache(maxsize=8192)
def _vowel_spelling(name: str) -> str:
    """French ``ou`` and English ``ee`` for one long vowel, doubled consonants (shadda)
    as one, a final ``h`` after a vowel dropped: Youssef -> yusef, Saeed -> said."""
    text = re.sub(r"(?<=[aeiou])h$", "", name).replace("ou", "u").replace("ee", "i")
    return re.sub(r"(.)\1+", r"\1", text)


def same_vowel_romanisation(a: str, b: str, names: Container[str]) -> bool:
    """Two romanisations of one Arabic or Persian name that differ only in the short
    vowels the script leaves out (Ahmed/Ahmad), both in ``names`` (names given in
    Arabic- or Persian-speaking countries), with the same first letter."""
    if not a or not b or a == b or a not in names or b not in names:
        return False
    x, y = sorted((_vowel_spelling(a), _vowel_spelling(b)), key=len)
    if len(y) == len(x) + 1:
        # One short vowel written or not, inside the name (Fatima/Fatma); not at the end,
        # where a vowel makes another name (Amir/Amira).
        return any(y[i] in "aeiou" and y[:i] + y[i + 1 :] == x for i in range(1, len(y) - 1))
    return (
        len(x) == len(y)
        and x[0] == y[0]
        and all(
            p == q or (p, q) in _VOWEL_CHOICES or (q, p) in _VOWEL_CHOICES
            for p, q in zip(x, y, strict=True)
        )
    )
