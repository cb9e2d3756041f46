"""Security questions of an account, as flows see them (answers are argon2id hashes).

``idp.store.sql.security_answers.SecurityAnswerRepository`` implements :class:`SecurityAnswerStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    position: int
    question_id: str
    custom_text: str | None
    answer_hash: str


class SecurityAnswerStore(Protocol):
    """An account's questions; the set is replaced whole, never half-changed."""

    def replace(
        self, account_id: int, questions: Sequence[StoredQuestion], *, now: datetime
    ) -> None:
        """Swap the whole set at once: a half-changed set must never exist."""

    def for_account(self, account_id: int) -> list[StoredQuestion]: ...

    def for_username(self, username_key: str) -> list[StoredQuestion]:
        """The questions of the account with this user ID key (none if no such account)."""

    def for_first_match(
        self, email: str, dob: date, *, statuses: Sequence[str]
    ) -> list[StoredQuestion]:
        """The questions of the oldest account in ``statuses`` at ``email`` born on ``dob``."""
