"""Portal links as flows see them: records, statuses and what they may ask (issue 9).

A link joins an account (or a person without one) to a practice's patient record.
``idp.store.sql.portal_links.PortalLinkRepository`` implements :class:`PortalLinkStore`;
``tests/contract/test_link_store.py`` holds every backend to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from idp.records import PortalRecord

ACTIVE = "active"
INVITED = "invited"
REVOKED = "revoked"


class DuplicateLinkError(Exception):
    """The practice already links this account, or this MRN to another account.

    ``field`` is ``"account"`` (this account is already linked at the practice) or
    ``"patient_id"`` (the MRN belongs to another account there, now or before).
    """

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True, slots=True)
class PortalLinkRecord:
    id: int
    # Empty for the record of a person without an account (then ``person_id`` is set).
    account_id: int | None
    portal_id: int
    portal_slug: str
    portal_name: str
    patient_id: str
    status: str
    created_at: datetime
    activated_at: datetime | None
    revoked_at: datetime | None
    last_signin_at: datetime | None
    person_id: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


class PortalLinkStore(Protocol):
    """An account's links to practices; every write is one conditional statement."""

    def by_patient(self, portal_id: int, patient_id: str) -> PortalLinkRecord | None:
        """The link holding this MRN at the practice, whatever its status."""

    def link(
        self,
        account_id: int,
        portal_id: int,
        patient_id: str,
        now: datetime,
        status: str = ACTIVE,
    ) -> PortalLinkRecord:
        """Link an account to a practice's patient record (``active``, or ``invited``)."""

    def revoke(self, account_id: int, portal_id: int, now: datetime) -> bool:
        """End this account's link at one practice; False if there was none to end."""

    def revoke_all_for_account(self, account_id: int, now: datetime) -> int:
        """End every link of an account (account closed); rows stay for the audit."""

    def revoke_consents(self, account_id: int, portal_id: int, now: datetime) -> int:
        """Withdraw the account's consents to every client of the practice."""

    def revoke_refresh_tokens(self, account_id: int, portal_id: int, now: datetime) -> list[str]:
        """End the account's refresh tokens at the practice's clients; the families touched
        (their access tokens share the family id, so the caller can void those too)."""

    def active_for(self, account_id: int, portal_id: int) -> PortalLinkRecord | None:
        """The account's active link at one practice: what its clients' tokens carry."""

    def list_for_account(self, account_id: int) -> list[PortalLinkRecord]:
        """Every link of an account, each status, by practice name."""


class PortalDirectory(Protocol):
    """Practices by their slug (the part flows read)."""

    def by_slug(self, slug: str) -> PortalRecord | None: ...
