"""What the protocol code needs from the rest of the provider, passed in explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from idp.clock import Clock
from idp.records import AccountRecord, AuditEntry, ClientRecord, RequestMeta
from idp.settings import TokenLifetimes
from idp.store.sql.repositories import UnitOfWork

from .keys import KeyRing
from .models import EndUser
from .subject import subject_for
from .tokens import AccessTokenStore, CodeStore

if TYPE_CHECKING:
    from idp.store.sessions import SSOSessionStore


@dataclass
class OIDCContext:
    issuer: str
    keys: KeyRing
    codes: CodeStore
    access_tokens: AccessTokenStore
    lifetimes: TokenLifetimes
    clock: Clock
    # The current request's unit of work (one transaction per protocol request).
    uow: Callable[[], UnitOfWork]
    request_meta: Callable[[], RequestMeta]
    # Records which clients a session signed in to (back-channel logout); None in
    # contexts that issue no codes.
    sessions: SSOSessionStore | None = None

    def now(self) -> int:
        return int(self.clock().timestamp())

    def end_user(
        self,
        account: AccountRecord,
        client: ClientRecord,
        claims_request: dict[str, list[str]] | None = None,
    ) -> EndUser:
        return EndUser(
            account=account,
            client=client,
            subject=subject_for(client, account.subject, salt=self.keys.pairwise_salt()),
            claims_request=claims_request or {},
        )

    def audit(self, event: str, outcome: str, **fields: object) -> None:
        meta = self.request_meta()
        details = fields.pop("details", {}) or {}
        self.uow().audit.record(
            AuditEntry(
                type=event,
                outcome=outcome,
                actor=str(fields.pop("actor", "anonymous")),
                subject=fields.pop("subject", None),  # type: ignore[arg-type]
                client_id=fields.pop("client_id", None),  # type: ignore[arg-type]
                ip=meta.ip,
                user_agent=meta.user_agent,
                details=dict(details),  # type: ignore[call-overload]
            ),
            now=self.clock(),
        )

    def revoke_grant(self, grant_id: str, *, reason: str, client_id: str | None) -> None:
        """End a token family: its refresh tokens in SQL, its access tokens by marker."""
        revoked = self.uow().refresh_tokens.revoke_family(grant_id, now=self.clock())
        self.access_tokens.revoke_grant(grant_id)
        self.audit(
            "grant_revoked",
            "success",
            actor=client_id or "anonymous",
            client_id=client_id,
            details={"reason": reason, "grant": grant_id[:12], "refresh_tokens": revoked},
        )
