"""One durable transaction, as flows see it: the stores they may reach, and how to open one.

Flows name :class:`UnitOfWork` and :class:`Database` from here and never the SQL
classes of the same names (``idp.store.sql.repositories.UnitOfWork``,
``idp.store.sql.database.Database``), which implement them; ``create_app`` is the one
place that builds the concrete ones (STYLE.md, "Direction of imports";
``tests/unit/test_layering.py``). Each store is a small Protocol in its own module,
held to by a contract suite in ``tests/contract`` over SQLite and PostgreSQL.

The repositories are read-only properties here: a flow uses the transaction's
stores and never replaces one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from idp.store.accounts import AccountStore
from idp.store.action_tokens import ActionTokenStore
from idp.store.audit_log import AuditLog
from idp.store.candidates import CandidateIndex
from idp.store.credentials import CredentialStore
from idp.store.enrollments import EnrollmentStore
from idp.store.invitations import InvitationStore
from idp.store.links import PortalDirectory, PortalLinkStore
from idp.store.outbox import OutboxWriter
from idp.store.patients import PatientStore
from idp.store.proxy_grants import ConfidentialFlagStore, ProxyGrantStore
from idp.store.security_answers import SecurityAnswerStore
from idp.store.tokens import ClientDirectory, ConsentStore, RefreshTokenStore


class UnitOfWork(Protocol):
    """Every store a flow uses, over one transaction: a change and its audit commit together."""

    @property
    def accounts(self) -> AccountStore: ...

    @property
    def portals(self) -> PortalDirectory: ...

    @property
    def clients(self) -> ClientDirectory: ...

    @property
    def consents(self) -> ConsentStore: ...

    @property
    def refresh_tokens(self) -> RefreshTokenStore: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def outbox(self) -> OutboxWriter: ...

    @property
    def staff(self) -> Any: ...

    @property
    def action_tokens(self) -> ActionTokenStore: ...

    @property
    def security_answers(self) -> SecurityAnswerStore: ...

    @property
    def portal_links(self) -> PortalLinkStore: ...

    @property
    def invitations(self) -> InvitationStore: ...

    @property
    def enrollments(self) -> EnrollmentStore: ...

    @property
    def candidates(self) -> CandidateIndex: ...

    @property
    def credentials(self) -> CredentialStore: ...

    @property
    def patients(self) -> PatientStore: ...

    @property
    def proxy_grants(self) -> ProxyGrantStore: ...

    @property
    def confidential_flags(self) -> ConfidentialFlagStore: ...

    def on_rollback(self, step: Callable[[], None]) -> None:
        """Run ``step`` if this transaction ends without committing (an ephemeral undo)."""


class Database(Protocol):
    """Opens transactions: commits when the block ends, rolls back on any exception."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]: ...
