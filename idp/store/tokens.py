"""What flows ask of clients, consents and refresh tokens ("My portals", closing).

Withdrawing an app's consent ends its refresh token families, and closing an account
ends all of them, in the same transaction as the change (invariants 3 and 9);
issuing and rotating belong to ``idp.oidc``, which reaches the SQL repositories
through its own context.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from idp.records import ClientRecord, ConsentRecord


class ClientDirectory(Protocol):
    def by_client_id(self, client_id: str) -> ClientRecord | None: ...


class ConsentStore(Protocol):
    def list_for_account(self, account_id: int) -> list[ConsentRecord]:
        """Live consents of an account, with the client and its practice, by name."""

    def revoke(self, account_id: int, client_pk: int, *, now: datetime) -> bool:
        """Withdraw one client's consent; the row stays for the audit trail."""

    def revoke_for_account(self, account_id: int, *, now: datetime) -> int:
        """Withdraw every consent of an account (account closed); rows stay for the audit."""


class RefreshTokenStore(Protocol):
    def revoke_for_client(self, account_id: int, client_pk: int, *, now: datetime) -> list[str]:
        """End an account's refresh tokens at one client; returns the families touched."""

    def revoke_for_account(self, account_id: int, *, now: datetime) -> list[str]:
        """End every refresh token of an account; returns the families touched."""

    def revoke_for_sessions(self, sids: Sequence[str], *, now: datetime) -> list[str]:
        """End the tokens bound to these SSO sessions; returns the families touched."""
