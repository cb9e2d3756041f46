"""Estimate the identity matcher's Fellegi-Sunter weights; write idp/policies/matching_model.json.

Why a script: what the matcher learns from data is shipped as data, and anyone can
re-derive it. The result is byte-for-byte the same for the same ``--seed``::

    .venv/bin/python -m bench.train_matcher            # rewrite the model file
    .venv/bin/python -m bench.train_matcher --check    # exit 1 if it would change

How (the usual Fellegi-Sunter recipe, as Splink does it):

1. ``u`` (how often two *different* people show each comparison level) from random
   record pairs: names, DOB and postcode from FEBRL 1-3 (training entities only),
   email, phone and gender from the seeded synthetic people of tests/matching.
2. ``m`` (how often two records of *one* person show it) and the share of matches by
   expectation-maximisation over unlabelled candidate pairs, ``u`` held fixed: FEBRL
   1-3 training pairs sharing a DOB, surname or postcode, plus seeded synthetic and
   tuning hard-case pairs with their labels thrown away. A missing field is left out
   of the likelihood (never evidence against). Every count gets +1 (Laplace).
3. Term frequencies of first and last names from the US Census 1990 lists (the
   ``names`` package), first names the census lacks from FEBRL's original records (training
   entities): an exact agreement on value v earns ``log2(u_exact / tf(v))`` on top
   of the exact weight, clipped to +-TF_CLIP bits when applied. The share of women
   among each given name's bearers (the twins guard's "different sexes", and its list
   of known names) from the census, and for names it lacks (Liam, Caden) from
   gender-guesser's British, Irish and US entries; the names given in Arabic- or
   Persian-speaking countries (its Arabia/Persia column), whose romanisations may
   differ in unwritten short vowels (Ahmed/Ahmad).
4. The close threshold: the Bayes decision point for strangers (MIN_THRESHOLD, 16.6
   bits: prior odds 1 in a million, a missed match costing ten wrong closes), or the
   lowest multiple of 0.5 bits above it at which, on the tuning pairs (FEBRL training
   pairs and the tuning hard cases, labels used), precision of close is >= 0.999 and
   the chance-agreement category is answered close <= 1% of the time. The held-out
   hard cases and FEBRL's evaluation entities are never read.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import febrl  # noqa: E402
from idp.policies.matching import (  # noqa: E402
    DECISIVE,
    FIELD_LEVELS,
    GUARDS,
    MatchingRules,
    compare_normalised,
    comparison_levels,
    match_weight,
    normalise,
)
from idp.policies.matching_model import MODEL_FILE, parse_model  # noqa: E402
from tests.matching.hard_cases import DIFFERENT, TUNING_SEED, generate_hard  # noqa: E402
from tests.matching.synthetic import _person, generate  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "idp" / "policies" / MODEL_FILE
FIELDS = tuple(FIELD_LEVELS)
NAME_FIELDS = ("first_name", "last_name", "dob", "zip")
CONTACT_FIELDS = ("email", "phone", "gender")
TF_CLIP = 4.0
# Every census first name (the twins guard asks whether both are names); common surnames.
TF_TOP = {"first_name": 10_000, "last_name": 3_000}
EM_ITERATIONS = 200
MAX_THRESHOLD = 60.0
# The floor is the Bayes decision point for strangers, set from what each error costs,
# not at a fixed confidence. Prior odds that a registrant is a given one of a million
# persons on file: 1 to 1,000,000. A wrong close between strangers costs a review: the
# code goes to the phone on the record, which a stranger does not hold, and with no
# phone there the pair goes to staff (minutes of a registrar's time); a missed match
# costs a duplicate chart, the patient-safety problem issue 13 is about (published
# estimates run from $50 to $1,950 per duplicate): at least ten reviews. Close when
# P(same) * 10 > P(different), posterior odds 1:10, log2(1,000,000 / 10) = 16.6 bits.
# Households are not strangers: there the code may reach a twin or a parent, which is
# why the guards, not this threshold, decide them. (Until issue 13's recall work the
# floor was posterior odds 9:1, 23.1 bits.)
PRIOR_ODDS = 1 / 1_000_000
MISS_TO_WRONG_CLOSE_COST = 10
MIN_THRESHOLD = math.log2(1 / (PRIOR_ODDS * MISS_TO_WRONG_CLOSE_COST))
# Different people who agree by chance, not by household: what the threshold must stop.
CHANCE = ("common_name_same_zip",)


def _u_probabilities(
    rng: random.Random, records: list[febrl.Record], samples: int
) -> dict[str, np.ndarray]:
    counts = {f: np.ones(len(FIELD_LEVELS[f])) for f in FIELDS}
    people = [normalise(_person(rng)) for _ in range(4000)]
    for _ in range(samples):
        x, y = rng.sample(records, 2)
        if x.dataset == y.dataset and x.entity == y.entity:
            continue
        for f, level in comparison_levels(x.norm, y.norm).items():
            if f in NAME_FIELDS:
                counts[f][FIELD_LEVELS[f].index(level)] += 1
        p, q = rng.sample(people, 2)
        for f, level in comparison_levels(p, q).items():
            if f in CONTACT_FIELDS:
                counts[f][FIELD_LEVELS[f].index(level)] += 1
    return {f: c / c.sum() for f, c in counts.items()}


def _patterns(vectors: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct comparison vectors (-1 = missing) and how often each occurs."""
    counted = Counter(
        tuple(FIELD_LEVELS[f].index(v[f]) if f in v else -1 for f in FIELDS) for v in vectors
    )
    keys = sorted(counted)
    return np.array(keys, dtype=np.int64), np.array([counted[k] for k in keys], dtype=float)


def _em(
    patterns: np.ndarray, counts: np.ndarray, u: dict[str, np.ndarray], fields: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], float]:
    """m for ``fields`` (the others are ignored: the pass blocked on them) and the share."""
    m = {}
    for f in fields:
        n = len(FIELD_LEVELS[f])
        m[f] = np.array([0.9] + [0.1 / (n - 1)] * (n - 1))
    share = 0.1
    for _ in range(EM_ITERATIONS):
        log_m = np.zeros(len(patterns))
        log_u = np.zeros(len(patterns))
        for f in fields:
            levels = patterns[:, FIELDS.index(f)]
            present = levels >= 0
            log_m[present] += np.log(m[f][levels[present]])
            log_u[present] += np.log(u[f][levels[present]])
        a = np.log(share) + log_m
        b = np.log1p(-share) + log_u
        posterior = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        weighted = posterior * counts
        share = float(min(max(weighted.sum() / counts.sum(), 1e-6), 1 - 1e-6))
        for f in fields:
            levels = patterns[:, FIELDS.index(f)]
            tally = np.ones(len(FIELD_LEVELS[f]))
            for level in range(len(FIELD_LEVELS[f])):
                tally[level] += weighted[levels == level].sum()
            m[f] = tally / tally.sum()
    return m, share


def _census(field: str) -> dict[str, float]:
    """US Census 1990 name frequencies (the ``names`` package's data files)."""
    folder = resources.files("names")
    files = (
        ("dist.male.first", "dist.female.first") if field == "first_name" else ("dist.all.last",)
    )
    share: dict[str, float] = {}
    for name in files:
        for line in folder.joinpath(name).read_text("ascii").splitlines():
            word, percent = line.split()[:2]
            # Male and female lists are each out of their half of the population.
            weight = 0.5 if field == "first_name" else 1.0
            key = word.lower()
            share[key] = share.get(key, 0.0) + weight * float(percent) / 100
    return share


def _female_share() -> dict[str, float]:
    """Share of women among each census first name's bearers (for the twins guard)."""
    folder = resources.files("names")
    per_sex: dict[str, list[float]] = {}
    for index, name in enumerate(("dist.male.first", "dist.female.first")):
        for line in folder.joinpath(name).read_text("ascii").splitlines():
            word, percent = line.split()[:2]
            per_sex.setdefault(word.lower(), [0.0, 0.0])[index] = float(percent)
    shares = {k: round(f / (m + f), 2) for k, (m, f) in sorted(per_sex.items())}
    for name, share in _guesser_female_share().items():
        shares.setdefault(name, share)
    return dict(sorted(shares.items()))


# gender-guesser's sex codes: male, mostly male, unisex, mostly female, female.
GUESSER_SEX = {"M": 0.0, "1M": 0.25, "?M": 0.25, "?": 0.5, "?F": 0.75, "1F": 0.75, "F": 1.0}
# Its frequency columns for Great Britain, Ireland and the USA (the populations the
# portal serves and FEBRL imitates); a name given only elsewhere is left out.
GUESSER_COLUMNS = (0, 1, 2)


def _guesser_female_share() -> dict[str, float]:
    """Share of women among given names the 1990 census is too old or too small for
    (Liam, Caden, Camden), from gender-guesser's name dictionary (Jörg Michael's
    ``nam_dict.txt``, 2008): each entry weighs 2**frequency in the English-speaking
    columns, so "Kai, mostly male in Britain" outweighs a rare female use."""
    text = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_bytes()
    weights: dict[str, list[float]] = {}
    for raw in text.decode("utf-8", errors="replace").splitlines():
        if not raw or raw[0] in "#=":
            continue
        sex, name = raw.split()[:2]
        if sex not in GUESSER_SEX or not name.isascii() or not name.isalpha():
            continue
        columns = raw[30:-1]
        freq = [
            int(columns[i], 16) for i in GUESSER_COLUMNS if i < len(columns) if columns[i].strip()
        ]
        if not freq:
            continue
        weight = float(2 ** max(freq))
        tally = weights.setdefault(name.lower(), [0.0, 0.0])
        tally[0] += weight * GUESSER_SEX[sex]
        tally[1] += weight
    return {k: round(f / total, 2) for k, (f, total) in sorted(weights.items())}


# gender-guesser's Arabia/Persia column (0-based among the frequency columns).
GUESSER_ARABIA_PERSIA = 47


def _unwritten_vowel_names() -> list[str]:
    """Given names gender-guesser lists with a frequency in Arabia/Persia: the names
    whose romanisations may differ in short vowels (idp.policies.transliteration)."""
    text = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_bytes()
    names = set()
    for raw in text.decode("utf-8", errors="replace").splitlines():
        if not raw or raw[0] in "#=":
            continue
        name = raw.split()[1]
        columns = raw[30:-1]
        in_column = len(columns) > GUESSER_ARABIA_PERSIA and columns[GUESSER_ARABIA_PERSIA].strip()
        if in_column and name.isascii() and name.isalpha():
            names.add(name.lower())
    return sorted(names)


def _tf(u_exact: float, field: str, records: list[febrl.Record]) -> tuple[dict[str, float], float]:
    """Adjustment in bits per name; names beyond the table get the rarest listed one's.

    Census 1990 first, then FEBRL's training originals seen twice or more for names
    the census lacks (Jayden and Aiden are younger than 1990).
    """
    share = _census(field)
    ranked = dict(sorted(share.items(), key=lambda kv: (-kv[1], kv[0]))[: TF_TOP[field]])
    seen = Counter(
        (r.norm.first if field == "first_name" else r.norm.last) for r in records if r.original
    )
    seen.pop("", None)
    total = sum(seen.values())
    rarest = min(ranked.values())
    for value, count in seen.items():
        if count >= 2 and value not in ranked and field == "first_name":
            ranked[value] = count / total

    def adjustment(tf: float) -> float:
        return round(math.log2(u_exact / tf), 3)

    return {v: adjustment(tf) for v, tf in sorted(ranked.items())}, adjustment(rarest)


def _threshold(model_doc: dict, tuning: list[tuple[object, object, bool, str]]) -> float:
    rules = MatchingRules(model=parse_model(model_doc), close_threshold=-math.inf)
    scored = []
    for a, b, same, category in tuning:
        result = compare_normalised(a, b, rules=rules)
        blocked = result.kind == "exact" or any(
            r in DECISIVE or r in GUARDS for r in result.reasons
        )
        levels = comparison_levels(a, b)
        bits = match_weight(a, b, levels, rules.model)
        scored.append((blocked, result.kind == "exact", bits, same, category))

    def outcome(threshold: float) -> tuple[float, Counter[str]]:
        tp = fp = 0
        wrong: Counter[str] = Counter()
        for blocked, exact, bits, same, category in scored:
            positive = exact or (not blocked and bits >= threshold)
            if category in febrl.DATASETS:
                tp += positive and same
                fp += positive and not same
            elif category in DIFFERENT:
                wrong[category] += positive
        return (tp / (tp + fp) if tp + fp else 1.0), wrong

    # Households are the guards' business; the threshold is for chance agreement.
    size = Counter(category for *_, category in scored)
    for step in range(int(MAX_THRESHOLD * 2) + 1):
        threshold = max(step / 2, round(MIN_THRESHOLD, 2))
        precision, wrong = outcome(threshold)
        if precision >= 0.999 and all(wrong[c] <= 0.01 * size[c] for c in CHANCE):
            return threshold
    raise SystemExit("no threshold meets the tuning targets")


def train(seed: int) -> str:
    rng = random.Random(seed)
    records: list[febrl.Record] = []
    pairs: list[tuple[object, object, bool, str]] = []
    for name in febrl.DATASETS:
        loaded, _ = febrl.load(name)
        mine = febrl.split(loaded, "train")
        records += mine
        for x, y in febrl.candidate_pairs(mine):
            pairs.append((x.norm, y.norm, x.entity == y.entity, name))
    synthetic = [
        (normalise(p.a), normalise(p.b), p.same_person, "synthetic")
        for p in generate(seed=seed, n=2000)
    ]
    hard = [
        (normalise(p.a), normalise(p.b), p.same_person, p.category)
        for p in generate_hard(TUNING_SEED, per_category=100)
    ]
    u = _u_probabilities(rng, records, samples=100_000)
    # One EM pass per blocking field, that field left out of its own pass (the pairs
    # agree on it by construction), as Splink does; m of a field is the mean over the
    # passes that estimate it. The synthetic pass is the only one with email and phone.
    passes: dict[str, list[dict[str, object]]] = {}
    for name, block in (("dob", "dob"), ("last_name", "last"), ("zip", "zip")):
        vectors = [
            comparison_levels(a, b)
            for a, b, _, _ in pairs
            if getattr(a, block) == getattr(b, block)
        ]
        passes[name] = [_em(*_patterns(vectors), u, tuple(f for f in NAME_FIELDS if f != name))]
    synthetic_vectors = [comparison_levels(a, b) for a, b, _, _ in synthetic + hard]
    passes["synthetic"] = [_em(*_patterns(synthetic_vectors), u, FIELDS)]
    m: dict[str, np.ndarray] = {}
    share = passes["synthetic"][0][1]
    for f in FIELDS:
        estimates = [est[0][f] for runs in passes.values() for est in runs if f in est[0]]
        m[f] = np.mean(estimates, axis=0)
    doc: dict[str, object] = {
        "about": "Fellegi-Sunter weights for idp.policies.matching; "
        "written by `python -m bench.train_matcher`, do not edit by hand",
        "seed": seed,
        "match_share": round(share, 6),
        "m": {
            f: dict(zip(FIELD_LEVELS[f], np.round(m[f], 6).tolist(), strict=True)) for f in FIELDS
        },
        "u": {
            f: dict(zip(FIELD_LEVELS[f], np.round(u[f], 6).tolist(), strict=True)) for f in FIELDS
        },
        "weights": {
            f: {
                level: round(math.log2(m[f][i] / u[f][i]), 3)
                for i, level in enumerate(FIELD_LEVELS[f])
            }
            for f in FIELDS
        },
    }
    tf, unknown = {}, {}
    for f in ("first_name", "last_name"):
        tf[f], unknown[f] = _tf(float(u[f][0]), f, records)
    doc["tf_adjustment"] = tf
    doc["tf_unknown"] = unknown
    doc["tf_clip"] = TF_CLIP
    doc["female_share"] = _female_share()
    doc["unwritten_vowel_names"] = _unwritten_vowel_names()
    doc["close_threshold"] = 0.0
    doc["close_threshold"] = _threshold(doc, [p for p in pairs if p[3] != "synthetic"] + hard)
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=20261204, help="sampling seed")
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the model")
    args = parser.parse_args(argv)
    text = train(args.seed)
    if args.check:
        same = args.out.read_text("utf-8") == text
        print("model file is current" if same else f"{args.out} differs from a fresh training")
        return 0 if same else 1
    args.out.write_text(text, "utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
