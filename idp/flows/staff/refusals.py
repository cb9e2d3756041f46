"""Refused staff attempts on the record (issue 11: "403 attempts are audited").

A role trying an operation it lacks, or a practice reaching past its portals, is
refused before anything changes; the attempt itself is a security-relevant event, so
every surface (console, JSON API, CLI) records it as ``staff_refused`` with the actor,
role, operation, portal and surface. It is written in its own transaction, because the
refused request commits nothing else (DESIGN.md invariant 10).
"""

from __future__ import annotations

from idp.clock import Clock
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import RequestMeta
from idp.store.interfaces import Transactions

from .access import staff_event
from .errors import Refusal

EVENT = "staff_refused"
SURFACES = frozenset({"console", "api", "cli"})


class StaffRefusals:
    def __init__(self, *, db: Transactions, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        principal: StaffPrincipal,
        operation: Operation,
        *,
        surface: str,
        portal: str | None = None,
        meta: RequestMeta | None = None,
    ) -> None:
        assert surface in SURFACES, surface
        entry = staff_event(
            principal,
            EVENT,
            operation,
            portal=portal,
            meta=meta,
            outcome="failure",
            surface=surface,
        )
        with self._db.transaction() as uow:
            uow.audit.record(entry, now=self._clock())

    def record_forbidden(
        self, error: Refusal, *, surface: str, meta: RequestMeta | None = None
    ) -> None:
        """Record a refusal raised by an operation's own gate (it names what was tried)."""
        if error.principal is not None and error.operation is not None:
            self.record(
                error.principal, error.operation, surface=surface, portal=error.portal, meta=meta
            )
