"""Single-use emailed links (verify email, confirm reset, change email), as flows see them.

``idp.store.sql.action_tokens.ActionTokenRepository`` implements :class:`ActionTokenStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ActionTokenRecord:
    id: int
    purpose: str
    account_id: int
    data: dict[str, Any]
    expires_at: datetime


class ActionTokenStore(Protocol):
    """Links stored as hashes; :meth:`consume` lets exactly one caller use one."""

    def peek_any(
        self, token_hash: str, purpose_prefix: str, *, now: datetime
    ) -> ActionTokenRecord | None:
        """A live link whose purpose starts with ``purpose_prefix``, without using it."""

    def issue(
        self,
        *,
        token_hash: str,
        purpose: str,
        account_id: int,
        now: datetime,
        expires_at: datetime,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Store a new link; any earlier unused link for the same purpose dies."""

    def revoke(self, account_id: int, purpose: str, *, now: datetime) -> int: ...

    def peek(self, token_hash: str, purpose: str, *, now: datetime) -> ActionTokenRecord | None:
        """A live link (for showing its confirmation page), without using it."""

    def consume(self, token_hash: str, purpose: str, *, now: datetime) -> ActionTokenRecord | None:
        """Use a live link; exactly one of two concurrent callers gets it."""
