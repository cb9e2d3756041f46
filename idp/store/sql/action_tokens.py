"""Single-use emailed links (verify email, confirm reset, change email)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.store.action_tokens import ActionTokenRecord

from . import models as m


class ActionTokenRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

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
        """Store a new link; any earlier unused link for the same purpose dies.

        "A second request kills the first": only the newest link works.
        """
        self.revoke(account_id, purpose, now=now)
        self._s.add(
            m.ActionToken(
                token_hash=token_hash,
                purpose=purpose,
                account_id=account_id,
                data=data,
                created_at=now,
                expires_at=expires_at,
            )
        )
        self._s.flush()

    def revoke(self, account_id: int, purpose: str, *, now: datetime) -> int:
        result = self._s.execute(
            update(m.ActionToken)
            .where(
                m.ActionToken.account_id == account_id,
                m.ActionToken.purpose == purpose,
                m.ActionToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _record(self, row: m.ActionToken) -> ActionTokenRecord:
        return ActionTokenRecord(
            id=row.id,
            purpose=row.purpose,
            account_id=row.account_id,
            data=dict(row.data or {}),
            expires_at=row.expires_at,
        )

    def peek(self, token_hash: str, purpose: str, *, now: datetime) -> ActionTokenRecord | None:
        """A live link (for showing its confirmation page), without using it."""
        row = self._s.scalar(
            select(m.ActionToken).where(
                m.ActionToken.token_hash == token_hash,
                m.ActionToken.purpose == purpose,
                m.ActionToken.used_at.is_(None),
                m.ActionToken.expires_at > now,
            )
        )
        return None if row is None else self._record(row)

    def peek_any(
        self, token_hash: str, purpose_prefix: str, *, now: datetime
    ) -> ActionTokenRecord | None:
        """A live link whose purpose starts with ``purpose_prefix`` (a family of links,
        such as one proxy invitation per practice and address), without using it."""
        row = self._s.scalar(
            select(m.ActionToken).where(
                m.ActionToken.token_hash == token_hash,
                m.ActionToken.purpose.startswith(purpose_prefix, autoescape=True),
                m.ActionToken.used_at.is_(None),
                m.ActionToken.expires_at > now,
            )
        )
        return None if row is None else self._record(row)

    def consume(self, token_hash: str, purpose: str, *, now: datetime) -> ActionTokenRecord | None:
        """Use a live link; exactly one of two concurrent callers gets it."""
        result = self._s.execute(
            update(m.ActionToken)
            .where(
                m.ActionToken.token_hash == token_hash,
                m.ActionToken.purpose == purpose,
                m.ActionToken.used_at.is_(None),
                m.ActionToken.expires_at > now,
            )
            .values(used_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        row = self._s.scalar(select(m.ActionToken).where(m.ActionToken.token_hash == token_hash))
        return None if row is None else self._record(row)
