"""Cutting a proxy session's SMART scopes down to what its level allows.

SMART App Launch 2.2 scopes (standards.md rows 24 and 28; §3 note (c)) name a FHIR
resource type, e.g. ``patient/Observation.rs`` (v2) or ``patient/Observation.read``
(v1, which SMART maps to ``.rs``). Each data category of the proxy-access matrix
covers some resource types; a scope survives only when its resource type is allowed.

Choices, each failing closed:
- A resource type that several categories cover (``DocumentReference`` holds visit
  notes and shared documents) is allowed only when all of them are: a confidential
  note must not come back through "documents".
- A resource type no category names (``Condition``, ``Procedure``...) is allowed only
  when every category is; a problem list can reveal what a restricted level hides.
- A wildcard (``patient/*.rs``) is kept as it is when every category is allowed, and
  otherwise replaced by one scope per allowed resource type, same permissions: the
  client sees in ``scope`` exactly which types it got.
- A scope that looks like SMART (``patient/``, ``user/``, ``system/``) but does not
  parse is removed; anything else (``openid``, ``profile``, ``launch/patient``,
  ``offline_access``, ``fhirUser``) is not ours to cut and is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import MappingProxyType
from typing import NamedTuple

from idp.policies.proxy import ALL_CATEGORIES, Category, ProxyDecision

RESOURCES_BY_CATEGORY = MappingProxyType(
    {
        Category.APPOINTMENTS: frozenset({"Appointment"}),
        Category.MESSAGES: frozenset({"Communication", "CommunicationRequest"}),
        Category.RESULTS: frozenset({"Observation", "DiagnosticReport"}),
        Category.MEDICATIONS: frozenset(
            {"MedicationRequest", "MedicationStatement", "MedicationDispense"}
        ),
        Category.IMMUNIZATIONS: frozenset({"Immunization"}),
        Category.ALLERGIES: frozenset({"AllergyIntolerance"}),
        Category.VISITS: frozenset({"Encounter", "DocumentReference"}),
        Category.BILLING: frozenset({"Account", "Coverage", "ExplanationOfBenefit", "Invoice"}),
        Category.DEMOGRAPHICS: frozenset({"Patient"}),
        Category.DOCUMENTS: frozenset({"DocumentReference"}),
    }
)

# context/ResourceType.permissions[?query]: v2 permissions are c, r, u, d, s in that
# order; v1 has read, write and *.
_SMART_SCOPE = re.compile(
    r"(?P<context>patient|user|system)/(?P<resource>\*|[A-Z][A-Za-z]{0,63})"
    r"\.(?P<permissions>read|write|\*|c?r?u?d?s?)(?P<query>\?[!-~]*)?"
)
_SMART_PREFIXES = ("patient/", "user/", "system/")


class ScopeCut(NamedTuple):
    granted: tuple[str, ...]
    removed: tuple[str, ...]  # requested scopes left out (a cut wildcard included)


def allowed_resource_types(categories: frozenset[Category]) -> frozenset[str]:
    """Resource types every covering category of which is allowed."""
    covered: dict[str, set[Category]] = {}
    for category, types in RESOURCES_BY_CATEGORY.items():
        for resource in types:
            covered.setdefault(resource, set()).add(category)
    return frozenset(r for r, needs in covered.items() if needs <= categories)


def cut_scopes(requested: Iterable[str], decision: ProxyDecision) -> ScopeCut:
    """Split the requested scopes into those the proxy decision grants and the rest."""
    unrestricted = decision.allowed and decision.categories >= ALL_CATEGORIES
    allowed = allowed_resource_types(decision.categories) if decision.allowed else frozenset()
    granted: dict[str, None] = {}
    removed: dict[str, None] = {}
    for scope in requested:
        if not scope:  # doubled spaces in a scope string
            continue
        if not scope.startswith(_SMART_PREFIXES):
            granted[scope] = None
            continue
        match = _SMART_SCOPE.fullmatch(scope)
        if match is None or not match["permissions"] or not decision.allowed:
            removed[scope] = None
        elif unrestricted:
            granted[scope] = None
        elif match["resource"] == "*":
            removed[scope] = None
            tail = f".{match['permissions']}{match['query'] or ''}"
            for resource in sorted(allowed):
                granted[f"{match['context']}/{resource}{tail}"] = None
        elif match["resource"] in allowed:
            granted[scope] = None
        else:
            removed[scope] = None
    return ScopeCut(tuple(granted), tuple(s for s in removed if s not in granted))
