"""Quality and speed of the identity matcher, on data its weights were not trained on.

Why: ``idp.policies.matching`` decides whether a registrant is probably a person we
already know; a wrong *close* can link the wrong chart (it only sends a code to the
phone on record, else staff review), a wrong *none* creates a duplicate account.
Truth is identity. Printed, with *close or exact* as the positive class:

- **hard cases** (``tests/matching/hard_cases.py``): recall per same-person category,
  false close per different-people category, in three columns: the fresh held-out
  seed (FRESH_HOLDOUT_SEED, unseen: only ever counted, never listed), the first
  held-out seed (HOLDOUT_SEED, frozen before the model was trained; *seen*, since its
  misses were listed) and the tuning seed;
- **FEBRL 1-3, evaluation entities** (odd-numbered; the model trained on the even
  ones): precision, recall, F1 and AUC over every pair sharing a DOB, surname or
  postcode (recall counts every true pair, found or not), recall of identical and
  typo-level pairs, and how many accepted pairs the candidate search's blocking keys
  would find;
- the **staff-review share**: of the evaluation's sign-ups answered close, those whose
  record on file has no phone go to staff review (FEBRL has no phones: all of it);
- the hand-labelled pairs of ``tests/matching/cases.py`` (train/holdout), the older
  seeded synthetic pairs, and **pairs per second** (medians of interleaved rounds).

Run from the repository root::

    .venv/bin/python -m bench.matching_quality
    .venv/bin/python -m bench.matching_quality --misses   # and list the typo-level misses

``--misses`` prints every typo-level true pair (hard cases of the typo category on the
tuning and the seen held-out seed, FEBRL evaluation entities; of the fresh held-out
seed only the count) answered *none* or sharing no blocking key, with
the cause: ``no shared blocking key`` (the candidate search would never compare them),
``below threshold`` (with the bits), or the guard or decisive conflict that fired.

It prints figures and never fails on them (exit status 0 unless it crashes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein

# Also runnable as `python bench/matching_quality.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import febrl  # noqa: E402
from idp.policies.matching import (  # noqa: E402
    DECISIVE,
    DEFAULT_RULES,
    GUARDS,
    MatchResult,
    NormalisedDemographics,
    _dob,
    _relatives,
    blocking_keys,
    compare,
    compare_normalised,
    comparison_levels,
    match_weight,
    normalise,
)
from tests.matching.cases import CASES, Case  # noqa: E402
from tests.matching.hard_cases import (  # noqa: E402
    DIFFERENT,
    FRESH_HOLDOUT_SEED,
    HOLDOUT_SEED,
    SAME,
    TUNING_SEED,
    generate_hard,
)
from tests.matching.synthetic import DIFFERENT_KINDS, SAME_PERSON_OPS, generate  # noqa: E402

KINDS = ("exact", "close", "none")


def positive(kind: str) -> bool:
    return kind in ("exact", "close")


def report(title: str, cases: Sequence[Case]) -> None:
    answers = [(case, compare(case.a, case.b).kind.value) for case in cases]
    matrix = Counter((case.expected, got) for case, got in answers)
    tp = sum(1 for case, got in answers if positive(case.expected) and positive(got))
    fp = sum(1 for case, got in answers if not positive(case.expected) and positive(got))
    fn = sum(1 for case, got in answers if positive(case.expected) and not positive(got))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    agree = sum(1 for case, got in answers if case.expected == got)
    print(f"\n== {title}: {len(cases)} pairs")
    print(f"close-or-exact: precision {precision:.3f} ({tp}/{tp + fp})", end="")
    print(f"  recall {recall:.3f} ({tp}/{tp + fn})  tp={tp} fp={fp} fn={fn}")
    print(f"three-way agreement: {agree}/{len(cases)} ({agree / len(cases):.3f})")
    header = "label \\ answer"
    print(f"{header:>16}" + "".join(f"{k:>8}" for k in KINDS))
    for label in KINDS:
        print(f"{label:>16}" + "".join(f"{matrix[(label, got)]:>8}" for got in KINDS))


def mismatches(cases: Sequence[Case]) -> None:
    print("\n== answered differently from the label")
    for case in cases:
        result = compare(case.a, case.b)
        if result.kind.value != case.expected:
            part = "holdout" if case.holdout else "train"
            print(
                f"{case.id} [{part}] label={case.expected} answer={result.kind.value} "
                f"score={result.score:.3f} reasons={','.join(result.reasons)}"
            )
            if case.note:
                print(f"    note: {case.note}")


def blocking(cases: Sequence[Case]) -> None:
    positives = [c for c in cases if positive(c.expected) or positive(compare(c.a, c.b).kind)]
    shared = sum(1 for c in positives if blocking_keys(c.a) & blocking_keys(c.b))
    sizes = [len(blocking_keys(d)) for c in cases for d in (c.a, c.b)]
    print("\n== blocking keys")
    print(f"labelled or answered close/exact pairs sharing a key: {shared}/{len(positives)}")
    print(
        f"keys per record: min {min(sizes)}, mean {sum(sizes) / len(sizes):.2f}, max {max(sizes)}"
    )


def synthetic(seed: int, n: int) -> None:
    """Generated pairs whose truth is identity (same person or not), not the policy."""
    pairs = generate(seed=seed, n=n)
    answers = [(p, compare(p.a, p.b).kind.value) for p in pairs]
    tp = sum(1 for p, got in answers if p.same_person and positive(got))
    fp = sum(1 for p, got in answers if not p.same_person and positive(got))
    fn = sum(1 for p, got in answers if p.same_person and not positive(got))
    print(f"\n== synthetic (seed {seed}): {len(pairs)} pairs, truth = same person")
    print(f"close-or-exact: precision {tp / (tp + fp):.3f} ({tp}/{tp + fp})", end="")
    print(f"  recall {tp / (tp + fn):.3f} ({tp}/{tp + fn})  tp={tp} fp={fp} fn={fn}")
    print("same person, recall by error applied (a pair may carry two):")
    for op in SAME_PERSON_OPS:
        hits = [positive(got) for p, got in answers if p.same_person and op in p.kind.split("+")]
        print(f"{op:>24}: {sum(hits):>3}/{len(hits):<3}", end="")
        alone = [positive(got) for p, got in answers if p.same_person and p.kind == op]
        print(f"  alone {sum(alone):>3}/{len(alone)}")
    print("different people, answered close or exact:")
    for kind in DIFFERENT_KINDS:
        wrong = [positive(got) for p, got in answers if not p.same_person and p.kind == kind]
        print(f"{kind:>24}: {sum(wrong):>3}/{len(wrong)}")
    missed_keys = sum(
        1 for p, got in answers if positive(got) and not blocking_keys(p.a) & blocking_keys(p.b)
    )
    print(f"answered close/exact without a shared blocking key: {missed_keys}")


def miss_cause(x: NormalisedDemographics, y: NormalisedDemographics, result: MatchResult) -> str:
    """Why a true pair is lost: the guard or conflict that fired, the weight, or the keys."""
    fired = [r for r in result.reasons if r in GUARDS or r in DECISIVE]
    if fired:
        return ",".join(fired)
    if not positive(result.kind):
        bits = match_weight(x, y, comparison_levels(x, y), DEFAULT_RULES.model)
        return f"below threshold ({bits:.1f} < {DEFAULT_RULES.threshold:.1f} bits)"
    if not blocking_keys(x) & blocking_keys(y):
        return "no shared blocking key"
    return ""


def show_miss(
    label: str, x: NormalisedDemographics, y: NormalisedDemographics, result: MatchResult
) -> None:
    def line(n: NormalisedDemographics) -> str:
        return f"{n.first} {n.last} {n.dob} {n.zip or '-'}"

    print(
        f"  {label}: {line(x)} | {line(y)} -> {result.kind.value}: {miss_cause(x, y, result)} "
        f"[{','.join(result.reasons)}]"
    )


def hard_cases(
    per_category: int = 200, *, show_misses: bool = False
) -> list[tuple[bool, MatchResult, bool]]:
    """Per-category figures on the three seeds; returns the fresh held-out
    (same_person, result, phone on file).

    The fresh held-out seed is only ever counted: its pairs are never printed, so
    that it stays unseen. Listings come from the tuning seed and the (seen) held-out.
    """
    seeds = (FRESH_HOLDOUT_SEED, HOLDOUT_SEED, TUNING_SEED)
    results = {}
    for seed in seeds:
        results[seed] = [(p, compare(p.a, p.b)) for p in generate_hard(seed, per_category)]
    print(f"\n== hard cases: {per_category} pairs per category, close-or-exact counted")
    print("   fresh = FRESH_HOLDOUT_SEED (unseen: rates only); held-out = HOLDOUT_SEED")
    print("   (seen: its misses were listed before tuning); tuning = TUNING_SEED")
    print(f"{'category':>24} {'fresh':>7} {'held-out':>9} {'tuning':>8}")
    for category in SAME + DIFFERENT:
        rates = []
        for seed in seeds:
            hits = [positive(r.kind) for p, r in results[seed] if p.category == category]
            rates.append(sum(hits) / len(hits))
        label = "recall" if category in SAME else "false close"
        print(f"{category:>24} {rates[0]:>7.3f} {rates[1]:>9.3f} {rates[2]:>8.3f}  {label}")
    # compare() decides; the candidate search must find the pair first. A close that
    # shares no blocking key is never compared in production (a DOB typo, a move and a
    # name whose sound changed): the recall a sign-up actually gets is the second figure.
    found = []
    for seed in seeds:
        closes = [p for p, r in results[seed] if p.category == "typo" and positive(r.kind)]
        keyed = sum(1 for p in closes if blocking_keys(p.a) & blocking_keys(p.b))
        found.append(keyed / sum(1 for p, _ in results[seed] if p.category == "typo"))
    print(
        f"{'typo, close and keyed':>24} {found[0]:>7.3f} {found[1]:>9.3f} {found[2]:>8.3f}"
        "  recall through the candidate search"
    )
    fresh = results[FRESH_HOLDOUT_SEED]
    summary("hard cases, fresh held-out", [(p.same_person, r) for p, r in fresh])
    summary("hard cases, held-out (seen)", [(p.same_person, r) for p, r in results[HOLDOUT_SEED]])
    summary("hard cases, tuning", [(p.same_person, r) for p, r in results[TUNING_SEED]])
    for seed, name in ((TUNING_SEED, "tuning"), (HOLDOUT_SEED, "held-out (seen)")):
        print(f"{name} misses and false closes (first 3 per category):")
        shown: Counter[str] = Counter()
        for p, r in results[seed]:
            if positive(r.kind) != p.same_person and shown[p.category] < 3:
                shown[p.category] += 1
                a, b = p.a, p.b
                print(
                    f"  {p.category}: {a.first_name} {a.last_name} {a.dob} {a.zip} | "
                    f"{b.first_name} {b.last_name} {b.dob} {b.zip} -> {r.kind.value} "
                    f"{','.join(r.reasons)}"
                )
    if show_misses:
        for seed, name in ((TUNING_SEED, "tuning"), (HOLDOUT_SEED, "held-out (seen)")):
            print(f"{name} typo pairs missed (answered none, or no shared blocking key):")
            for p, r in results[seed]:
                x, y = normalise(p.a), normalise(p.b)
                if p.category == "typo" and miss_cause(x, y, r):
                    show_miss("typo", x, y, r)
        missed = sum(
            1
            for p, r in fresh
            if p.category == "typo" and miss_cause(normalise(p.a), normalise(p.b), r)
        )
        print(f"fresh held-out typo pairs missed: {missed} (never listed: the seed stays unseen)")
    return [(p.same_person, r, bool(p.a.phone)) for p, r in fresh]


def summary(title: str, answers: Sequence[tuple[bool, MatchResult]], missed: int = 0) -> None:
    """Precision, recall, F1 (``missed`` true pairs never compared count as misses)."""
    tp = sum(1 for same, r in answers if same and positive(r.kind))
    fp = sum(1 for same, r in answers if not same and positive(r.kind))
    fn = sum(1 for same, r in answers if same and not positive(r.kind)) + missed
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else float("nan")
    print(
        f"{title}: precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f} "
        f"(tp={tp} fp={fp} fn={fn})"
    )


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Probability that a true pair outranks a non-pair (Mann-Whitney, ties halved)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    order = s.argsort(kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def decision_bits(result: MatchResult, bits: float) -> float:
    """The weight as a ranking score, guarded pairs last (they are never close)."""
    if result.kind == "exact":
        return 1e6
    if any(r in DECISIVE or r in GUARDS for r in result.reasons):
        return -1e6 + bits
    return bits


def febrl_eval(*, show_misses: bool = False) -> list[tuple[bool, MatchResult, bool]]:
    print("\n== FEBRL 1-3, evaluation entities (odd-numbered; trained on the even ones)")
    signups: list[tuple[bool, MatchResult, bool]] = []
    typo_total = [0, 0]
    for name in febrl.DATASETS:
        loaded, skipped = febrl.load(name)
        records = febrl.split(loaded, "eval")
        answers, labels, scores = [], [], []
        identical, typo = [0, 0], [0, 0]
        misses: list[tuple[NormalisedDemographics, NormalisedDemographics, MatchResult]] = []
        unkeyed = 0
        for x, y in febrl.candidate_pairs(records):
            same = x.entity == y.entity
            result = compare_normalised(x.norm, y.norm)
            bits = match_weight(
                x.norm, y.norm, comparison_levels(x.norm, y.norm), DEFAULT_RULES.model
            )
            answers.append((same, result))
            labels.append(same)
            scores.append(decision_bits(result, bits))
            if same:
                signups.append((True, result, False))
                if _identical(x.norm, y.norm):
                    identical[0] += positive(result.kind)
                    identical[1] += 1
                elif _typo_level(x.norm, y.norm):
                    typo[0] += positive(result.kind)
                    typo[1] += 1
                    if show_misses and miss_cause(x.norm, y.norm, result):
                        misses.append((x.norm, y.norm, result))
            if positive(result.kind) and not blocking_keys(x.norm) & blocking_keys(y.norm):
                unkeyed += 1
        found = sum(1 for same, _ in answers if same)
        missed = febrl.true_pairs(records) - found
        print(
            f"-- {name}: {len(records)} records ({skipped} skipped, no DOB), "
            f"{len(answers)} candidate pairs, {febrl.true_pairs(records)} true pairs "
            f"({missed} share no DOB, surname or postcode)"
        )
        summary(f"   {name}", answers, missed=missed)
        print(
            f"   AUC {auc(labels, scores):.4f}; recall of identical pairs "
            f"{identical[0]}/{identical[1]}, of typo-level pairs {typo[0]}/{typo[1]}; "
            f"accepted without a shared blocking key: {unkeyed}"
        )
        typo_total[0] += typo[0]
        typo_total[1] += typo[1]
        for x_norm, y_norm, result in misses:
            show_miss(f"{name} typo", x_norm, y_norm, result)
    print(
        f"-- FEBRL 1-3 together: recall of typo-level pairs {typo_total[0]}/{typo_total[1]} "
        f"({typo_total[0] / typo_total[1]:.4f}; issue 13 asks 0.99)"
    )
    return signups


def _typo_level(x: NormalisedDemographics, y: NormalisedDemographics) -> bool:
    """Issue 13's typo-level pair: names within two edits or a nickname, DOB within one
    digit (or one adjacent transposition), any ZIP. A name replaced by another (FEBRL
    does that) is not a typo: that is what a sibling looks like."""

    def near(p: str, q: str) -> bool:
        return bool(p and q) and (
            DamerauLevenshtein.distance(p, q) <= 2 or q in _relatives(p) or p in _relatives(q)
        )

    dob = _dob(x.dob, y.dob)[0]
    close_dob = dob in ("dob_exact", "dob_one_digit", "dob_year_digit", "dob_transposed_digits")
    return near(x.first, y.first) and near(x.last, y.last) and close_dob


def _identical(x: object, y: object) -> bool:
    fields = ("first", "last", "dob", "zip")
    return all(getattr(x, f) == getattr(y, f) for f in fields)


def staff_review(title: str, signups: Sequence[tuple[bool, MatchResult, bool]]) -> None:
    close = [(same, phone) for same, r, phone in signups if r.kind == "close"]
    review = sum(1 for _, phone in close if not phone)
    print(
        f"{title}: {len(signups)} sign-ups, {len(close)} close "
        f"({len(close) - review} phone code, {review} staff review = "
        f"{review / len(signups):.3f} of sign-ups)"
    )


def timing(cases: Sequence[Case], rounds: int = 7) -> None:
    """Pairs per CPU second on one core, medians of interleaved rounds.

    CPU time of this process (``time.process_time``), not wall time: on a shared
    machine other processes' load would otherwise be counted as the matcher's.
    """
    pairs = [(p.a, p.b) for p in generate_hard(TUNING_SEED, per_category=20)]
    pairs += [(c.a, c.b) for c in cases]
    normalised = [(normalise(a), normalise(b)) for a, b in pairs]
    raw, pre = [], []
    for _ in range(rounds):
        start = time.process_time()
        for a, b in pairs:
            compare(a, b)
        raw.append(len(pairs) / (time.process_time() - start))
        start = time.process_time()
        for x, y in normalised:
            compare_normalised(x, y)
        pre.append(len(pairs) / (time.process_time() - start))
    print(
        f"\n== speed, median of {rounds} interleaved rounds over {len(pairs)} pairs, per CPU "
        f"second: compare {statistics.median(raw):,.0f} pairs/s (normalising both sides), "
        f"compare_normalised {statistics.median(pre):,.0f} pairs/s (stored records "
        "normalised once)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--misses",
        action="store_true",
        help="list every typo-level true pair missed, with the cause",
    )
    args = parser.parse_args(argv)
    held = hard_cases(show_misses=args.misses)
    signups = febrl_eval(show_misses=args.misses)
    print("\n== staff review (close with no phone on the record on file)")
    staff_review("fresh held-out hard cases, same person", [s for s in held if s[0]])
    staff_review("FEBRL evaluation true pairs", signups)
    train = [c for c in CASES if not c.holdout]
    holdout = [c for c in CASES if c.holdout]
    report("hand-labelled, all", CASES)
    report("hand-labelled, train", train)
    report("hand-labelled, holdout", holdout)
    mismatches(CASES)
    blocking(CASES)
    for seed in (20240501, 7):
        synthetic(seed, 1000)
    timing(CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
