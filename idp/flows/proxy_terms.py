"""A practice's proxy terms: its teen age, age of majority, adult-grant period and time zone.

The pure policy (:mod:`idp.policies.proxy`) takes a :class:`ProxyRules` with a ``tzinfo``;
the practice keeps plain values (an IANA zone name, three numbers) on its portal row.
This module turns one into the other, and checks staff input before it is stored, so a
practice can never be left with a zone the policy cannot read or ages that make no sense
(a teen age at or above majority would grant a teen's parent full access forever).

Looking a zone up reads tzdata files, which is why it lives here and not in the policy.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, replace
from functools import lru_cache

from idp.policies.proxy import PROXY_PRESETS, ProxyRules
from idp.records import PortalRecord

MAX_ZONE = 64


class TermsRefusal(ValueError):
    """Bad practice terms: ``field`` names the setting, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class PracticeTerms:
    """What a practice stores: checked by :func:`check_terms`."""

    teen_age: int
    majority_age: int
    adult_grant_months: int
    time_zone: str


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # IANA names only. A system's zoneinfo folder also holds ``localtime`` (the host's own
    # zone: the practice's calendar would follow wherever the server runs), ``posixrules``
    # and the ``posix/`` and ``right/`` copies; zoneinfo lists some of them as zones.
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in {"localtime", "posixrules", "Factory"}
        and not name.startswith(("posix/", "right/"))
    )


def check_terms(
    *,
    teen_age: int,
    majority_age: int,
    adult_grant_months: int,
    time_zone: str,
    base: ProxyRules | None = None,
) -> PracticeTerms:
    """The terms if the policy accepts them; :class:`TermsRefusal` otherwise."""
    name = time_zone.strip()
    if not name or len(name) > MAX_ZONE or name not in _zone_names():
        raise TermsRefusal("time_zone", f"unknown IANA time zone {time_zone[:MAX_ZONE]!r}")
    try:
        replace(
            base or ProxyRules(),
            teen_age=teen_age,
            majority_age=majority_age,
            adult_grant_months=adult_grant_months,
        )
    except ValueError as exc:
        field = "adult_grant_months" if "months" in str(exc) else "teen_age"
        raise TermsRefusal(field, str(exc)) from None
    return PracticeTerms(teen_age, majority_age, adult_grant_months, name)


def preset_teen_age(preset: str) -> int:
    """The teen age of a named preset (``teen-12``, ``teen-13``, ``teen-14``)."""
    try:
        return PROXY_PRESETS[preset].teen_age
    except KeyError:
        raise TermsRefusal("preset", f"unknown preset {preset!r}") from None


def practice_rules(portal: PortalRecord, base: ProxyRules | None = None) -> ProxyRules:
    """The policy's rules at this practice: ``base`` (the representative's minimum age)
    with the practice's ages, period and calendar."""
    return replace(
        base or ProxyRules(),
        teen_age=portal.teen_age,
        majority_age=portal.majority_age,
        adult_grant_months=portal.adult_grant_months,
        time_zone=zoneinfo.ZoneInfo(portal.time_zone),
    )
