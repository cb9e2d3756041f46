"""Links between accounts and practices' patient records (issue 5)."""

from __future__ import annotations

from sqlalchemy.orm import Session


class PortalLinkRepository:
    def __init__(self, session: Session) -> None:
        self._s = session
