"""The audit log as flows see it: append in the change's transaction, read an account's events.

``idp.store.sql.repositories.AuditLog`` implements :class:`AuditLog` (and adds the
operator's side: search, export, verify, purge); ``tests/contract/test_audit_log.py``
holds every backend to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from idp.records import AuditEntry, AuditRecord


class AuditLog(Protocol):
    """Append-only: flows add events and read an account's newest ones, nothing else."""

    def record(self, entry: AuditEntry, *, now: datetime) -> None:
        """Append an event in the caller's transaction (invariant 9)."""

    def for_subject(self, subject: str, types: Sequence[str], limit: int = 20) -> list[AuditRecord]:
        """The newest events of these types about one account, newest first."""
