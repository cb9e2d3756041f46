"""Staff reading the audit trail: search, export and the sign-in overview (issue 11
items 2 and 5).

The console, the admin API and ``idp audit search|export`` call these, so a reader's
role and portals are checked in one place and every read lands on the trail itself:
a search in the same transaction as the read, an export in its own transaction
*before* the first row leaves (a cut-short download is still on the record). A
practice's staff read only their portals' events (``audit_portals``); a filter naming
a portal outside them is refused, not silently emptied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from idp.audit.export import FORMATS, AuditRow
from idp.audit.overview import Overview, OverviewRange, summarise
from idp.audit.search import AuditFilter, Cursor, FilterError
from idp.policies.staff_roles import Operation, StaffPrincipal, audit_portals, may_on_portal
from idp.records import AuditEntry, RequestMeta
from idp.store.interfaces import AuditPageLike, AuditReadTx

from .access import authorize, staff_event


class AuditTransactions(Protocol):
    def transaction(self) -> AbstractContextManager[AuditReadTx]: ...


@dataclass(frozen=True, slots=True)
class AuditReads:
    """``services.staff.audit``: every audit read of the console, the API and the CLI."""

    db: AuditTransactions
    clock: Callable[[], datetime]

    def _allowed(self, reader: StaffPrincipal, operation: Operation, f: AuditFilter) -> AuditFilter:
        """The filter the reader may run: refused (:class:`Forbidden`) when the role lacks
        the operation or names a portal outside the reader's; confined to their portals."""
        portals = audit_portals(reader)
        if portals is None:
            authorize(reader, operation, f.portal)
            return f
        # Confined reader: an explicit portal must be one of theirs; none means all of theirs.
        if f.portal is not None:
            authorize(reader, operation, f.portal)
        elif not any(may_on_portal(reader, operation, p) for p in portals):
            authorize(reader, operation, None)
        return f.within(portals)

    def _check_portal(self, uow: AuditReadTx, f: AuditFilter) -> None:
        if f.portal is not None and uow.portals.by_slug(f.portal) is None:
            raise FilterError("portal", f"no portal with slug {f.portal!r}")

    def _entry(
        self,
        reader: StaffPrincipal,
        event: str,
        operation: Operation,
        meta: RequestMeta,
        details: dict[str, Any],
    ) -> AuditEntry:
        return staff_event(reader, event, operation, meta=meta, **details)

    def search(
        self,
        reader: StaffPrincipal,
        f: AuditFilter,
        *,
        limit: int,
        after: Cursor | None,
        meta: RequestMeta,
    ) -> AuditPageLike:
        """One page, newest first; the search is audited in the same transaction."""
        confined = self._allowed(reader, Operation.AUDIT_SEARCH, f)
        with self.db.transaction() as uow:
            self._check_portal(uow, f)
            page = uow.audit.search(confined, limit=limit, after=after)
            details = {"filters": f.as_dict(), "results": len(page.rows)}
            uow.audit.record(
                self._entry(reader, "audit_searched", Operation.AUDIT_SEARCH, meta, details),
                now=self.clock(),
            )
        return page

    def export(
        self, reader: StaffPrincipal, f: AuditFilter, fmt: str, *, meta: RequestMeta
    ) -> Iterator[AuditRow]:
        """Record the export, then return the rows as a lazy stream (one transaction,
        opened when the caller starts reading and closed when it stops)."""
        if fmt not in FORMATS:
            raise FilterError("format", f"must be one of {', '.join(FORMATS)}")
        confined = self._allowed(reader, Operation.AUDIT_EXPORT, f)
        with self.db.transaction() as uow:
            self._check_portal(uow, f)
            details = {"filters": f.as_dict(), "format": fmt}
            uow.audit.record(
                self._entry(reader, "audit_exported", Operation.AUDIT_EXPORT, meta, details),
                now=self.clock(),
            )
        return self._rows(confined)

    def _rows(self, f: AuditFilter) -> Iterator[AuditRow]:
        with self.db.transaction() as uow:
            yield from uow.audit.stream(f)

    def overview(
        self, reader: StaffPrincipal, rng: OverviewRange, *, meta: RequestMeta
    ) -> Overview:
        """The sign-in overview of a range, in the reader's portals; audited like a search."""
        confined = self._allowed(reader, Operation.AUDIT_SEARCH, AuditFilter())
        with self.db.transaction() as uow:
            result = summarise(uow.audit.overview_events(rng, scope=confined.scope), rng)
            details = {
                "filters": {
                    "from": rng.since.isoformat(),
                    "to": rng.until.isoformat(),
                    "bucket": rng.bucket.value,
                },
                "view": "overview",
            }
            uow.audit.record(
                self._entry(reader, "audit_searched", Operation.AUDIT_SEARCH, meta, details),
                now=self.clock(),
            )
        return result
