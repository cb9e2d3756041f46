"""Accounts as flows see them: what they may ask of the account store (issue 9).

Reads return frozen :class:`~idp.records.AccountRecord`; every write is one statement
in the caller's transaction, so it commits or rolls back with the audit event that
describes it (invariant 9). ``idp.store.sql.repositories.AccountRepository``
implements :class:`AccountStore`; ``tests/contract/test_account_store.py`` holds every
backend to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from idp.records import AccountRecord
from idp.store.credentials import CredentialKind


class DuplicateError(Exception):
    """A unique value (user ID, slug, client_id) is already taken."""


@dataclass(frozen=True, slots=True)
class NewPerson:
    first_name: str
    last_name: str
    dob: date | None = None
    zip: str | None = None
    gender: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class SignInAccount:
    """What a password sign-in needs to know of the account a user ID names, read in
    one statement (issue 12 item 3): the account, the second factors it has (as
    :meth:`idp.store.credentials.CredentialIndex.kinds` would say) and whether it is
    staff (:meth:`idp.store.interfaces.StaffReader.is_staff`)."""

    account: AccountRecord
    factors: frozenset[CredentialKind]
    staff: bool


class AccountStore(Protocol):
    """User IDs are unique case-insensitively: :meth:`add` raises :class:`DuplicateError`."""

    def by_username(self, username: str) -> AccountRecord | None: ...

    def by_id(self, account_id: int) -> AccountRecord | None: ...

    def for_sign_in(self, username: str) -> SignInAccount | None:
        """The account, its second factors and its staff flag, in one read."""

    def with_staff_flag(self, account_id: int) -> tuple[AccountRecord, bool] | None:
        """:meth:`by_id` and whether the account is staff, in one read."""

    def by_subject(self, subject: str) -> AccountRecord | None: ...

    def add(
        self,
        *,
        username: str,
        password_hash: str,
        email: str | None,
        now: datetime,
        person: NewPerson | None = None,
        email_verified: bool = False,
        phone: str | None = None,
        must_change_password: bool = False,
        status: str = "active",
    ) -> AccountRecord: ...

    def replace_password_hash(self, account_id: int, password_hash: str, *, now: datetime) -> None:
        """Store a re-hash of the same password (parameters rose); not a password change."""

    def by_email(self, email: str) -> list[AccountRecord]:
        """Accounts whose address is this one (case-insensitive); closed ones excluded."""

    def activate(self, account_id: int, *, now: datetime) -> bool:
        """Pending → active once the email link is opened; the address is then verified."""

    def set_password(
        self, account_id: int, password_hash: str, *, now: datetime, must_change: bool = False
    ) -> None:
        """A new password (not a re-hash): records when, for "password changed" notices."""

    def set_email(self, account_id: int, email: str, *, verified: bool, now: datetime) -> None: ...

    def accept_terms(self, account_id: int, *, now: datetime) -> None: ...

    def close(self, account_id: int, *, now: datetime) -> None:
        """Disable, never delete: records stay for the retention period."""

    def set_status(self, account_id: int, status: str, *, now: datetime) -> None: ...

    def set_phone(self, account_id: int, phone: str, *, verified: bool, now: datetime) -> None:
        """The account's contact number (E.164); a new number is unverified until proven."""
