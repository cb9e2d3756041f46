"""The romanisation key: one name written under two conventions, never two names."""

from __future__ import annotations

import pytest

from idp.policies.transliteration import same_transliteration, transliteration_key

ONE_NAME = [
    ("natalia", "natalya"), ("tatiana", "tatyana"), ("sergei", "sergey"),
    ("dmitri", "dmitry"), ("yuri", "yury"), ("nikolai", "nikolay"),
    ("aleksandr", "alexander"), ("maksim", "maxim"), ("aleksei", "alexey"),
    ("mikhail", "michail"), ("yevgeny", "evgeny"), ("yekaterina", "ekaterina"),
    ("anastasia", "anastasiya"), ("juergen", "jurgen"), ("schroeder", "schroder"),
    ("kowalczyk", "kovalchik"), ("shevchenko", "schewtschenko"), ("chekhov", "tschechow"),
    ("tkachenko", "tkatchenko"), ("phillip", "philip"),
]  # fmt: skip
TWO_NAMES = [
    # Names parents choose between: vowels, a y after a vowel, letters added or dropped.
    ("aidan", "aiden"), ("jaden", "jayden"), ("kristen", "kirsten"), ("caden", "camden"),
    ("ella", "emma"), ("daniel", "daniela"), ("liam", "leah"), ("ian", "ivan"),
    ("mason", "madison"), ("erin", "aaron"), ("tom", "tim"),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), ONE_NAME)
def test_two_romanisations_share_a_key(a: str, b: str) -> None:
    assert transliteration_key(a) == transliteration_key(b)
    assert same_transliteration(a, b) and same_transliteration(b, a)


@pytest.mark.parametrize(("a", "b"), TWO_NAMES)
def test_two_names_keep_their_own_keys(a: str, b: str) -> None:
    assert not same_transliteration(a, b)


@pytest.mark.parametrize(("a", "b"), [("", ""), ("anna", "anna"), ("", "y")])
def test_equal_or_empty_names_are_not_a_transliteration(a: str, b: str) -> None:
    assert not same_transliteration(a, b)
