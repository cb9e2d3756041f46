"""The learned part of identity matching: Fellegi–Sunter weights shipped as data.

Why data and not code: the weight of each field comparison (how much more often a
true pair shows it than two different people do) is estimated by expectation–
maximisation from unlabelled pairs, and re-estimating it must not mean editing the
matcher. ``bench/train_matcher.py`` writes ``matching_model.json`` next to this
module, byte for byte the same from the same seed; this module only reads it.

Reading a file inside the package once, at import, keeps the policy pure in the
sense STYLE.md asks: every call of :func:`idp.policies.matching.compare` is a
function of its two records and this constant (like the nickname list the
matcher already reads from its package).

Weights are in bits: ``log2(m / u)`` for a comparison level, where ``m`` is the
probability of that level between two records of one person and ``u`` between two
different people. A missing field is no level at all (weight 0): never evidence
against. Exact name agreement is adjusted for how common the name is (term
frequency): ``log2(u_exact / tf(name))``, so agreeing on "smith" earns less than
agreeing on "wojciechowski".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class MatchModel:
    weights: Mapping[str, Mapping[str, float]]  # field -> level -> bits
    tf_adjustment: Mapping[str, Mapping[str, float]]  # field -> normalised value -> bits
    tf_unknown: Mapping[str, float]  # field -> bits for a value not in the table
    close_threshold: float  # total bits at or above which a guarded pair is close
    female_share: Mapping[str, float]  # given name -> share of its bearers who are women

    def weight(self, field: str, level: str) -> float:
        return self.weights[field][level]

    tf_clip: float  # the adjustment is clipped to +-this many bits when applied
    # Given names borne in Arabic- or Persian-speaking countries, whose romanisations
    # differ in the short vowels the script leaves out (Ahmed/Ahmad).
    unwritten_vowel_names: frozenset[str] = frozenset()

    def tf(self, field: str, value: str) -> float:
        bits = self.tf_adjustment[field].get(value, self.tf_unknown[field])
        return min(max(bits, -self.tf_clip), self.tf_clip)


def parse_model(document: Mapping[str, object]) -> MatchModel:
    """Build a :class:`MatchModel` from the JSON document (also used by the trainer)."""
    weights = document["weights"]
    tf = document["tf_adjustment"]
    assert isinstance(weights, dict) and isinstance(tf, dict)
    unknown = document["tf_unknown"]
    assert isinstance(unknown, dict)
    threshold = document["close_threshold"]
    assert isinstance(threshold, int | float)
    return MatchModel(
        weights=MappingProxyType(
            {f: MappingProxyType(dict(levels)) for f, levels in weights.items()}
        ),
        tf_adjustment=MappingProxyType({f: MappingProxyType(dict(v)) for f, v in tf.items()}),
        tf_unknown=MappingProxyType(dict(unknown)),
        close_threshold=float(threshold),
        tf_clip=float(document["tf_clip"]),  # type: ignore[arg-type]
        female_share=MappingProxyType(dict(document["female_share"])),  # type: ignore[call-overload]
        unwritten_vowel_names=frozenset(document.get("unwritten_vowel_names", ())),  # type: ignore[call-overload]
    )


MODEL_FILE = "matching_model.json"
DEFAULT_MODEL = parse_model(
    json.loads(resources.files(__package__).joinpath(MODEL_FILE).read_text("utf-8"))
)
