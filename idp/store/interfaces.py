"""Store interfaces: what flows and protocol code need from persistence.

Ephemeral state (authorization codes, SSO sessions, interactions, counters,
one-time markers) lives behind :class:`EphemeralStore`; it has three backends:
Redis for any deployment beyond one machine, a SQLite file shared by every
process on one machine (the embedded default: server workers and the ``idp``
command alike), and an in-process one for tests. All must pass
``tests/contract/test_ephemeral_store.py``.

Every method is one atomic operation named for its intent, so that no caller
ever reads and then writes (the race that let parallel password checks bypass
Zitadel's lockout, GHSA-7h8m-vrxx-vr4m).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from idp.records import AccountRecord, AuditEntry, StaffRecord
    from idp.store.credentials import CredentialStore
    from idp.store.outbox import OutboxWriter


class EphemeralStore(Protocol):
    """Key/value state that expires by itself.

    Keys are plain strings chosen by the caller (``"code:<sha256>"``); values are
    ``str`` (callers serialise JSON themselves). ``ttl`` is in seconds and must be
    positive; fractional seconds are honoured to the millisecond.
    """

    def put(self, key: str, value: str, *, ttl: float) -> None:
        """Store ``value`` under ``key``, replacing any previous value and TTL."""

    def put_new(self, key: str, value: str, *, ttl: float) -> bool:
        """Store only if ``key`` is absent; True if this call stored it (SET NX)."""

    def get(self, key: str) -> str | None:
        """The live value, or None when absent or expired."""

    def get_many(self, *keys: str) -> list[str | None]:
        """:meth:`get` of several keys in one round trip, in order (a token and its
        revocation markers, read together on every introspection)."""

    def get_linked(
        self, key: str, links: Sequence[tuple[str | None, str]]
    ) -> tuple[str | None, list[str | None]]:
        """:meth:`get` of ``key`` and, in the same round trip, of the keys its value names.

        The value is read as a JSON object; each link ``(field, prefix)`` reads the
        key ``prefix + value[field]`` when that field is a string or an integer, and
        ``(None, key)`` reads ``key`` itself (``idp.store.linked``). Returns the value
        and one result per link (None where the key is absent or no key is named);
        ``(None, [])`` when ``key`` is absent. An access token and its revocation
        markers are read this way on every introspection and UserInfo call.
        """

    def take(self, key: str) -> str | None:
        """Return and delete in one step (GETDEL): at most one caller gets it."""

    def put_new_then_get(
        self, key: str, value: str, *, ttl: float, read: Sequence[str]
    ) -> tuple[bool, list[str | None]]:
        """:meth:`put_new`, then :meth:`get` of each key of ``read``, in one round trip
        where the backend can keep that order (a lockout slot and its lock marker, read
        after the slot is taken). Returns whether this call stored, and the values."""

    def delete_if(self, key: str, value: str) -> bool:
        """Delete ``key`` only while it holds ``value``, in one atomic step; True if
        deleted (a lockout slot released only by the request that holds it)."""

    def delete(self, *keys: str) -> int:
        """Delete keys; returns how many existed."""

    def hit(self, key: str, *, ttl: float) -> int:
        """Increment a counter and return the new count.

        The TTL is set when the counter is created (first hit) and is not
        extended by later hits, so a window of ``ttl`` seconds starts at the
        first failure.
        """

    def expire(self, key: str, *, ttl: float) -> bool:
        """Set a new TTL on a live key, keeping its value; False if it is absent.

        The lockout uses it to turn a failure counter into a lock of fixed length
        from the failure that reached the limit.
        """

    def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires, or None when it is absent."""

    def ping(self) -> None:
        """Return when the store answers; raise when it does not (``/readyz``)."""

    def add_member(self, key: str, member: str, *, ttl: float) -> None:
        """Add to a set (SADD) and set the set's TTL to at least ``ttl``.

        Used as an index (an account's sessions) whose members are checked on
        read; a member whose target has expired is simply dropped then.
        """

    def members(self, key: str) -> set[str]:
        """Every member of a set (empty when absent)."""

    def remove_member(self, key: str, member: str) -> bool:
        """Remove from a set; True if it was there."""


# --- durable state, as the flows see it ----------------------------------------------------
#
# Small Protocols over what ``idp.store.sql.repositories.UnitOfWork`` offers, so that
# flows name what they need and never import ``idp.store.sql`` (STYLE.md, "Stores";
# ``tests/unit/test_layering.py``). SQLAlchemy implements them; the contract suites in
# ``tests/contract`` hold every backend to them. These are the authentication flow's
# narrow view; the other journeys take the whole transaction, ``idp.store.durable``.


class AccountReader(Protocol):
    """The accounts a sign-in reads and the two writes it makes."""

    def by_id(self, account_id: int) -> AccountRecord | None: ...

    def by_username(self, username: str) -> AccountRecord | None: ...

    def replace_password_hash(self, account_id: int, password_hash: str, *, now: datetime) -> None:
        """A stronger hash of the same password (argon2 parameters raised)."""

    def set_status(self, account_id: int, status: str, *, now: datetime) -> None: ...


class AuditAppender(Protocol):
    def record(self, entry: AuditEntry, *, now: datetime) -> Any:
        """Append an event in the caller's transaction (invariant 9)."""


class StaffReader(Protocol):
    """Which accounts are staff (issue 11): they always need a second factor."""

    def by_account(self, account_id: int) -> StaffRecord | None: ...

    def is_staff(self, account_id: int) -> bool:
        """``by_account(...) is not None``, without building the record."""


class AuthnTx(Protocol):
    """One durable transaction, as the authentication flow uses it."""

    @property
    def accounts(self) -> AccountReader: ...

    @property
    def audit(self) -> AuditAppender: ...

    @property
    def credentials(self) -> CredentialStore: ...

    @property
    def outbox(self) -> OutboxWriter:
        """Where a lockout's notice to the owner is queued (``CredentialLockout._notify``)."""

    @property
    def staff(self) -> StaffReader: ...


class Transactions(Protocol):
    """Opens a transaction: commits when the block ends, rolls back on an exception."""

    def transaction(self) -> AbstractContextManager[Any]: ...


class ProxyTx(Protocol):
    """One durable transaction as the proxy flows written after the kernel use it
    (invitations, transition notices, staff flags, claims). ``UnitOfWork`` implements
    it; its repositories are the SQL ones (``idp.store.sql.patients``, ``proxy_grants``)
    until they get Protocols of their own."""

    @property
    def accounts(self) -> Any: ...

    @property
    def audit(self) -> AuditAppender: ...

    @property
    def action_tokens(self) -> Any: ...

    @property
    def patients(self) -> Any: ...

    @property
    def portals(self) -> Any: ...

    @property
    def portal_links(self) -> Any: ...

    @property
    def proxy_grants(self) -> Any: ...


class ProxyTransactions(Protocol):
    def transaction(self) -> AbstractContextManager[ProxyTx]: ...
