"""Security questions of an account, with argon2id answer hashes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import models as m


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    position: int
    question_id: str
    custom_text: str | None
    answer_hash: str


class SecurityAnswerRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def replace(
        self, account_id: int, questions: Sequence[StoredQuestion], *, now: datetime
    ) -> None:
        """Swap the whole set at once: a half-changed set must never exist."""
        self._s.execute(delete(m.SecurityAnswer).where(m.SecurityAnswer.account_id == account_id))
        for q in questions:
            self._s.add(
                m.SecurityAnswer(
                    account_id=account_id,
                    position=q.position,
                    question_id=q.question_id,
                    custom_text=q.custom_text,
                    answer_hash=q.answer_hash,
                    created_at=now,
                )
            )
        self._s.flush()

    def for_account(self, account_id: int) -> list[StoredQuestion]:
        rows = self._s.scalars(
            select(m.SecurityAnswer)
            .where(m.SecurityAnswer.account_id == account_id)
            .order_by(m.SecurityAnswer.position)
        )
        return [
            StoredQuestion(
                position=r.position,
                question_id=r.question_id,
                custom_text=r.custom_text,
                answer_hash=r.answer_hash,
            )
            for r in rows
        ]
