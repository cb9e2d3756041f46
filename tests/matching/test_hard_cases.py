"""Issue 13's targets, per category, on the held-out hard cases (never tuned on).

Two held-out seeds: ``FRESH_HOLDOUT_SEED`` (unseen: added before the recall work of
issue 13, only ever counted) and ``HOLDOUT_SEED`` (seen: its typo misses were listed
and read before that work, so it no longer proves much on its own).

Each category is a test: recall at or above the target for same-person categories,
false close at or below it for different-people ones, on both seeds. Categories the
matcher does not reach are strict xfails with the reason, so an improvement is
noticed too. The figures themselves are pinned (:data:`PINNED`), so a regression
that stays within a target still fails.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest

from idp.policies.matching import compare

from .hard_cases import DIFFERENT, FRESH_HOLDOUT_SEED, HOLDOUT_SEED, SAME, generate_hard

PER_CATEGORY = 200
RECALL_TARGET = {"identical": 1.0, "typo": 0.99}  # the others: 0.95
FALSE_CLOSE_TARGET = 0.02
SEEDS = {"fresh": FRESH_HOLDOUT_SEED, "seen": HOLDOUT_SEED}
SHORT_OF_TARGET = {
    "typo": "0.980 on both held-out seeds and the tuning seed (0.9905 on 2,000 tuning "
    "pairs, 19 misses, with the threshold at the Bayes point for strangers, 16.6 bits): "
    "8 have no email or phone on either record and pile two edits per name, a DOB digit "
    "and a move to 9.5-16.0 bits (posterior odds 1:1,400 to 1:15 at a million persons: "
    "closing them would close strangers); 10 are a typo that lands on another name of the "
    "family's birthday (Andrew/Andre, Sean/Shan and Wei/Cei with no sex recorded, "
    "Yuki/Yuk a year apart to the day): the twins and sibling guards, which an agreeing "
    "email or phone cannot lift, since twins share a parent's, and a wrong close there "
    "sends the code into the household; 1 is a three-letter name two edits off with no "
    "email or phone. FEBRL's typo-level pairs reach 0.99 (test_febrl.py)",
}
# Close-or-exact answers out of PER_CATEGORY, per seed: the figures as of issue 13's
# recall work (typo 0.950 -> 0.970 -> 0.980, the DOB categories -> 1.000 on the seen
# seed; every false close as before). A change either way must update them.
PINNED: dict[str, dict[str, int]] = {
    "fresh": {
        "identical": 200, "typo": 196, "nickname": 199, "married_surname": 200,
        "dob_one_digit": 200, "dob_transposition": 200, "transliteration": 200,
        "compound_surname": 200, "zip_plus4": 200, "moved_same_contact": 200,
        "twins": 0, "twins_similar_names": 0, "siblings": 0, "parent_child_same_name": 0,
        "spouses": 0, "common_name_same_zip": 0,
    },
    "seen": {
        "identical": 200, "typo": 196, "nickname": 199, "married_surname": 200,
        "dob_one_digit": 200, "dob_transposition": 200, "transliteration": 200,
        "compound_surname": 200, "zip_plus4": 200, "moved_same_contact": 200,
        "twins": 0, "twins_similar_names": 0, "siblings": 0, "parent_child_same_name": 1,
        "spouses": 0, "common_name_same_zip": 0,
    },
}  # fmt: skip


@cache
def _counts(seed: int) -> dict[str, int]:
    outcome: dict[str, int] = {}
    for pair in generate_hard(seed, per_category=PER_CATEGORY):
        hit = compare(pair.a, pair.b).kind != "none"
        outcome[pair.category] = outcome.get(pair.category, 0) + hit
    return outcome


def _param(category: str, which: str) -> object:
    marks = []
    if category in SHORT_OF_TARGET:
        marks.append(pytest.mark.xfail(reason=SHORT_OF_TARGET[category], strict=True))
    return pytest.param(category, which, id=f"{which}-{category}", marks=marks)


@pytest.mark.parametrize(("category", "which"), [_param(c, w) for w in SEEDS for c in SAME])
def test_same_person_recall_meets_the_target(category: str, which: str) -> None:
    rate = _counts(SEEDS[which])[category] / PER_CATEGORY
    assert rate >= RECALL_TARGET.get(category, 0.95)


@pytest.mark.parametrize(("category", "which"), [_param(c, w) for w in SEEDS for c in DIFFERENT])
def test_different_people_false_close_meets_the_target(category: str, which: str) -> None:
    assert _counts(SEEDS[which])[category] / PER_CATEGORY <= FALSE_CLOSE_TARGET


@pytest.mark.parametrize("which", list(SEEDS))
def test_figures_are_the_pinned_ones(which: str) -> None:
    assert _counts(SEEDS[which]) == PINNED[which]


@pytest.mark.parametrize("which", list(SEEDS))
def test_held_out_sets_are_what_was_frozen(which: str) -> None:
    """The held-out streams must not drift: a changed generator is a new, tuned-on set."""
    pairs = generate_hard(SEEDS[which], per_category=PER_CATEGORY)
    assert len(pairs) == PER_CATEGORY * (len(SAME) + len(DIFFERENT))
    assert hashlib.sha256(repr(pairs).encode()).hexdigest() == HELD_OUT_SHA256[which]


HELD_OUT_SHA256 = {
    # as committed (dea040c), before the model was trained
    "seen": "822696ab3c1ee2a5cc244c7aa20f0e53db941e367486b5ca2885c68c36bd7810",
    # as committed (d80bd22), alone, before issue 13's recall work
    "fresh": "703efcfaa5b5dc75eb07cca8424483773d58c8e7a9d5ff4fd1890fc43c7c5ede",
}
