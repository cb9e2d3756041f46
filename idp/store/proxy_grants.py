"""Proxy grants, their history and confidential flags, as flows see them (issue 10).

``idp.store.sql.proxy_grants`` implements both Protocols;
``tests/contract/test_proxy_grant_store.py`` holds every backend to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol


class DuplicateGrantError(Exception):
    """A live grant already joins this representative and patient at this practice."""


@dataclass(frozen=True, slots=True)
class ProxyGrantRecord:
    id: int
    portal_id: int
    representative_account_id: int
    patient_person_id: int
    relationship: str
    kind: str
    status: str
    full_access_requested: bool
    teen_cosigned_at: datetime | None
    teen_cosigned_by: str | None
    legal_document: bool
    evidence_ref: str | None
    created_by: str
    approved_by: str | None
    approved_at: datetime | None
    starts_on: date
    ends_on: date | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    # The practice's FHIR RelatedPerson id for the representative (fhirUser), if supplied.
    related_person: str | None = None


@dataclass(frozen=True, slots=True)
class GrantEventRecord:
    at: datetime
    action: str
    status: str
    actor: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class NewGrant:
    portal_id: int
    representative_account_id: int
    patient_person_id: int
    relationship: str
    kind: str
    status: str
    created_by: str
    starts_on: date
    full_access_requested: bool = False
    teen_cosigned_by: str | None = None
    legal_document: bool = False
    evidence_ref: str | None = None
    approved_by: str | None = None
    ends_on: date | None = None
    related_person: str | None = None


@dataclass(frozen=True, slots=True)
class ConfidentialFlagRecord:
    category: str
    reason: str
    set_by: str
    set_at: datetime


class ProxyGrantStore(Protocol):
    """Grants move only through :meth:`move`, one conditional UPDATE plus a history row."""

    def note(
        self, grant_id: int, action: str, *, actor: str, reason: str | None, now: datetime
    ) -> None:
        """A history row that changes nothing (what was told or flagged, and when)."""

    def add(self, new: NewGrant, *, now: datetime, reason: str | None = None) -> ProxyGrantRecord:
        """Store a grant and its first history row; :class:`DuplicateGrantError` if a live
        one exists (checked by the partial unique index, so concurrent inserts too)."""

    def move(
        self,
        grant_id: int,
        *,
        from_statuses: Iterable[str],
        to_status: str,
        action: str,
        actor: str,
        now: datetime,
        reason: str | None = None,
        **changes: Any,
    ) -> ProxyGrantRecord | None:
        """Change the status atomically if it is still one of ``from_statuses``; the
        grant after the change, or None when another change came first."""

    def by_id(self, grant_id: int) -> ProxyGrantRecord | None: ...

    def history(self, grant_id: int) -> list[GrantEventRecord]: ...

    def for_portal(
        self, portal_id: int, *, patient_person_id: int | None = None
    ) -> list[ProxyGrantRecord]: ...

    def for_representative(self, account_id: int) -> list[ProxyGrantRecord]: ...

    def for_patient(self, person_id: int) -> list[ProxyGrantRecord]: ...

    def live(
        self, portal_id: int, representative_account_id: int, patient_person_id: int
    ) -> ProxyGrantRecord | None: ...

    def active(self) -> list[ProxyGrantRecord]:
        """Every active grant (the expiry sweep evaluates each against the policy)."""


class ConfidentialFlagStore(Protocol):
    """The categories a practice keeps from a patient's representatives."""

    def of(self, portal_id: int, person_id: int) -> list[ConfidentialFlagRecord]: ...

    def replace(
        self,
        portal_id: int,
        person_id: int,
        categories: frozenset[str],
        *,
        reason: str,
        actor: str,
        now: datetime,
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Make the patient's flags exactly ``categories``; (added, removed)."""
