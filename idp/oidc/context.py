"""What the protocol code needs from the rest of the provider, passed in explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from idp.clock import Clock
from idp.records import AccountRecord, AuditEntry, ClientRecord, ProxyAct, RequestMeta
from idp.settings import TokenLifetimes
from idp.store.sql.repositories import UnitOfWork

from .claims import patient_identifier
from .client_directory import ClientDirectory
from .keys import KeyRing
from .models import EndUser
from .subject import person_subject, subject_for
from .tokens import AccessTokenStore, CodeStore
from .user_directory import UserDirectory

if TYPE_CHECKING:
    from idp.store.sessions import SSOSessionStore


class ProxyActs(Protocol):
    """Who may act for whom, at a moment (:class:`idp.flows.proxy_grants.ProxyGrantFlow`)."""

    def act_for(
        self,
        *,
        representative_account_id: int,
        patient_person_id: int,
        portal_id: int,
        at: datetime,
        uow: Any = None,
    ) -> ProxyAct | None: ...


@dataclass
class OIDCContext:
    issuer: str
    keys: KeyRing
    codes: CodeStore
    access_tokens: AccessTokenStore
    lifetimes: TokenLifetimes
    clock: Clock
    clients: ClientDirectory
    # Accounts and practice links as UserInfo shows them, cached per process.
    users: UserDirectory
    # The current request's unit of work (one transaction per protocol request).
    uow: Callable[[], UnitOfWork]
    request_meta: Callable[[], RequestMeta]
    proxy: ProxyActs | None = None
    # Records which clients a session signed in to (back-channel logout); None in
    # contexts that issue no codes.
    sessions: SSOSessionStore | None = None

    def client(self, client_id: str) -> ClientRecord | None:
        """A registered, not removed client (cached per process; SQL on a miss)."""
        return self.clients.lookup(client_id, lambda cid: self.uow().clients.by_client_id(cid))

    def account(self, account_id: int, *, version: str | None) -> AccountRecord | None:
        """An account as of the user-data ``version`` read with the access token.

        From this process's cache while that version holds, else from SQL (no SQL
        transaction at all on a hit: UserInfo then writes and reads nothing durable).
        """
        return self.users.account(version, account_id, lambda aid: self.uow().accounts.by_id(aid))

    def patient_identifier(
        self, account_id: int, client: ClientRecord, *, version: str | None
    ) -> str | None:
        """The account's identifier at the client's practice, as of ``version`` (cached
        like :meth:`account`); None for a client without a practice or without an
        active link (``idp.oidc.claims.patient_identifier``)."""
        if client.portal is None:
            return None
        return self.users.patient_id(
            version,
            account_id,
            client.portal.id,
            lambda: patient_identifier(self.uow().portal_links, account_id, client),
        )

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

    def acting_user(
        self,
        account: AccountRecord,
        client: ClientRecord,
        claims_request: dict[str, list[str]] | None,
        acting_for: int | None,
    ) -> EndUser | None:
        """The end-user of a token, acting for ``acting_for`` (a person id) when set.

        The proxy policy is asked now, inside this request's transaction, with the
        provider's clock: a birthday, a revocation or a confidential flag takes effect at
        the next token. None when the access has ended (callers refuse the token).
        """
        user = self.end_user(account, client, claims_request)
        if acting_for is None:
            return user
        if client.portal is None or self.proxy is None:
            return None
        act = self.proxy.act_for(
            representative_account_id=account.id,
            patient_person_id=acting_for,
            portal_id=client.portal.id,
            at=self.clock(),
            uow=self.uow(),
        )
        if act is None:
            return None
        user.proxy = act
        return user

    def patient_subject(self, client: ClientRecord, act: ProxyAct) -> str:
        """The patient's ``sub`` as this client sees it (public or pairwise, like accounts)."""
        salt = self.keys.pairwise_salt()
        base = act.patient_account_subject or person_subject(act.person_id, salt=salt)
        return subject_for(client, base, salt=salt)

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
