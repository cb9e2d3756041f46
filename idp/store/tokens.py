"""What flows ask of consents and refresh tokens: ending all of an account's at once.

Closing an account withdraws its consents and kills its refresh token families in
the same transaction as the close (invariants 3 and 9); issuing and rotating belong
to ``idp.oidc``, which reaches the SQL repositories through its own context.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ConsentStore(Protocol):
    def revoke_for_account(self, account_id: int, *, now: datetime) -> int:
        """Withdraw every consent of an account (account closed); rows stay for the audit."""


class RefreshTokenStore(Protocol):
    def revoke_for_account(self, account_id: int, *, now: datetime) -> list[str]:
        """End every refresh token of an account; returns the families touched."""
