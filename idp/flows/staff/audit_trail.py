"""Audit search and export as staff operations (issue 11 items 2, 3 and 5).

The auditor and admin roles read every portal's events; a practice member reads only
its portals' (the filter's ``portal`` must be one of them, and is set to it when the
member has exactly one; with several and none chosen, the read covers all of theirs).
Every search and every export is itself on the trail, in the transaction that reads it
(a search) or before the first row leaves (an export). The sign-in overview is read
and recorded the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from idp.audit.export import AuditRow
from idp.audit.overview import Overview, OverviewRange, summarise
from idp.audit.search import AuditFilter, Cursor
from idp.clock import Clock
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import RequestMeta
from idp.store.interfaces import Transactions

from .access import authorize, staff_event
from .errors import InvalidInput

MAX_PAGE = 1000
EXPORT_FORMATS = ("csv", "jsonl")


class AuditTrail:
    def __init__(self, *, db: Transactions, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def scope(
        self, principal: StaffPrincipal, operation: Operation, filters: AuditFilter
    ) -> AuditFilter:
        """The filter narrowed to what the principal may read; Forbidden otherwise."""
        if principal.portals is not None and filters.portal is None:
            if len(principal.portals) == 1:
                filters = replace(filters, portal=next(iter(principal.portals)))
            else:  # several portals: all of them, and only them
                for slug in sorted(principal.portals):
                    authorize(principal, operation, slug)
                return filters.within(principal.portals)
        authorize(principal, operation, filters.portal)
        return filters

    def search(
        self,
        principal: StaffPrincipal,
        filters: AuditFilter,
        *,
        limit: int = 50,
        after: Cursor | None = None,
        meta: RequestMeta | None = None,
    ) -> Any:
        """A page of events, newest first (``AuditPage``: ``rows``, ``next``)."""
        filters = self.scope(principal, Operation.AUDIT_SEARCH, filters)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1-{MAX_PAGE}")
        with self._db.transaction() as uow:
            self._known_portal(uow, filters)
            page = uow.audit.search(filters, limit=limit, after=after)
            uow.audit.record(
                staff_event(
                    principal,
                    "audit_searched",
                    Operation.AUDIT_SEARCH,
                    portal=filters.portal,
                    meta=meta,
                    filters=filters.as_dict(),
                    results=len(page.rows),
                ),
                now=self._clock(),
            )
        return page

    def export(
        self,
        principal: StaffPrincipal,
        filters: AuditFilter,
        *,
        fmt: str,
        meta: RequestMeta | None = None,
    ) -> Iterator[AuditRow]:
        """Every matching event, newest first, streamed; audited before the first row.

        Call it, then iterate: the rows come from their own transaction, held open
        while the caller consumes them (bounded memory whatever the range).
        """
        filters = self.scope(principal, Operation.AUDIT_EXPORT, filters)
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        with self._db.transaction() as uow:
            self._known_portal(uow, filters)
            uow.audit.record(
                staff_event(
                    principal,
                    "audit_exported",
                    Operation.AUDIT_EXPORT,
                    portal=filters.portal,
                    meta=meta,
                    filters=filters.as_dict(),
                    format=fmt,
                ),
                now=self._clock(),
            )
        return self._rows(filters)

    def overview(
        self, principal: StaffPrincipal, rng: OverviewRange, *, meta: RequestMeta | None = None
    ) -> Overview:
        """The sign-in overview (idp/audit/overview.py) of a range, in the principal's
        portals; audited like a search, in the transaction that reads it."""
        filters = self.scope(principal, Operation.AUDIT_SEARCH, AuditFilter())
        portals = frozenset({filters.portal}) if filters.portal else filters.scope
        with self._db.transaction() as uow:
            result = summarise(uow.audit.overview_events(rng, scope=portals), rng)
            uow.audit.record(
                staff_event(
                    principal,
                    "audit_searched",
                    Operation.AUDIT_SEARCH,
                    portal=filters.portal,
                    meta=meta,
                    view="overview",
                    filters={
                        "from": rng.since.isoformat(),
                        "to": rng.until.isoformat(),
                        "bucket": rng.bucket.value,
                    },
                ),
                now=self._clock(),
            )
        return result

    def _rows(self, filters: AuditFilter) -> Iterator[AuditRow]:
        with self._db.transaction() as uow:
            yield from uow.audit.stream(filters)

    @staticmethod
    def _known_portal(uow: Any, filters: AuditFilter) -> None:
        if filters.portal is not None and uow.portals.by_slug(filters.portal) is None:
            raise InvalidInput(f"no portal with slug {filters.portal!r}")
