"""Blocking keys and candidate search for identity matching (issue 5)."""

from __future__ import annotations

from sqlalchemy.orm import Session


class CandidateRepository:
    def __init__(self, session: Session) -> None:
        self._s = session
