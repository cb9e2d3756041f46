"""Issue 13's targets, per category, on the held-out hard cases (never tuned on).

Each category is a test: recall at or above the target for same-person categories,
false close at or below it for different-people ones. Categories the matcher does
not reach are strict xfails with the reason, so an improvement is noticed too.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest

from idp.policies.matching import compare

from .hard_cases import DIFFERENT, HOLDOUT_SEED, SAME, generate_hard

RECALL_TARGET = {"identical": 1.0, "typo": 0.99}  # the others: 0.95
FALSE_CLOSE_TARGET = 0.02
SHORT_OF_TARGET = {
    "typo": "0.950: up to two random edits per name plus a DOB digit can make a "
    "three-letter name two edits off (Amy/Mac, Mei/Wi, Kim/Il: 3 of the 10 misses), "
    "another known name of comparable frequency (Jason/Jon, Omar/Homa: the twins and "
    "sibling guards, 2) or a year 20-27 years away with no contact (the parent guard, "
    "2), shapes a household has too; 3 pile four corruptions below the threshold. "
    "FEBRL's typo-level pairs reach 0.99 (test_febrl.py)",
}


@cache
def _rates() -> dict[str, float]:
    outcome: dict[str, list[bool]] = {}
    for pair in generate_hard(HOLDOUT_SEED, per_category=200):
        outcome.setdefault(pair.category, []).append(compare(pair.a, pair.b).kind != "none")
    return {c: sum(v) / len(v) for c, v in outcome.items()}


def _param(category: str) -> object:
    marks = []
    if category in SHORT_OF_TARGET:
        marks.append(pytest.mark.xfail(reason=SHORT_OF_TARGET[category], strict=True))
    return pytest.param(category, id=category, marks=marks)


@pytest.mark.parametrize("category", [_param(c) for c in SAME])
def test_same_person_recall_meets_the_target(category: str) -> None:
    assert _rates()[category] >= RECALL_TARGET.get(category, 0.95)


@pytest.mark.parametrize("category", [_param(c) for c in DIFFERENT])
def test_different_people_false_close_meets_the_target(category: str) -> None:
    assert _rates()[category] <= FALSE_CLOSE_TARGET


def test_held_out_set_is_what_was_frozen() -> None:
    """The held-out stream must not drift: a changed generator is a new, tuned-on set."""
    pairs = generate_hard(HOLDOUT_SEED, per_category=200)
    assert len(pairs) == 200 * (len(SAME) + len(DIFFERENT))
    assert hashlib.sha256(repr(pairs).encode()).hexdigest() == HELD_OUT_SHA256


# sha256 of the held-out pairs as committed (dea040c), before the model was trained.
HELD_OUT_SHA256 = "822696ab3c1ee2a5cc244c7aa20f0e53db941e367486b5ca2885c68c36bd7810"
