"""Quality of the identity matcher on the labelled pairs in ``tests/matching/cases.py``.

Why: ``idp.policies.matching`` decides whether a registrant is probably a person we
already know; a wrong *close* can link the wrong chart, a wrong *none* sends a patient
to the office. This prints, for the whole set and for its two parts (train: the cases
the thresholds were set on; holdout: every third case of each category, fixed before
the thresholds were):

- precision and recall with *close or exact* as the positive class;
- a confusion matrix over exact / close / none (rows: label, columns: answer);
- every case answered differently from its label;
- how often a labelled close/exact pair shares a blocking key, the keys per record,
  and the time per comparison.

Run from the repository root::

    .venv/bin/python -m bench.matching_quality

It prints figures and never fails on them (exit status 0 unless it crashes).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# Also runnable as `python bench/matching_quality.py`: the repository root holds tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idp.policies.matching import blocking_keys, compare  # noqa: E402
from tests.matching.cases import CASES, Case  # noqa: E402
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


def timing(cases: Sequence[Case], rounds: int = 20) -> None:
    start = time.perf_counter()
    for _ in range(rounds):
        for case in cases:
            compare(case.a, case.b)
    elapsed = time.perf_counter() - start
    per = elapsed / (rounds * len(cases)) * 1e6
    print(f"\n== speed: {per:.0f} µs per compare (normalising both sides), {rounds} rounds")


def main() -> int:
    train = [c for c in CASES if not c.holdout]
    holdout = [c for c in CASES if c.holdout]
    composition = Counter(c.category for c in CASES)
    print("== labelled set")
    for category, count in composition.items():
        held = sum(1 for c in CASES if c.category == category and c.holdout)
        print(f"{category:>24}: {count:>3} ({held} holdout)")
    report("all", CASES)
    report("train", train)
    report("holdout", holdout)
    mismatches(CASES)
    blocking(CASES)
    for seed in (20240501, 7, 1234):
        synthetic(seed, 1000)
    timing(CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
