"""The identity-matching index as flows see it (issue 5): who could this person be?

Flows index a person wherever one is created or changed, in the same transaction,
and ask for candidates sharing a blocking key. How keys are made and stored (an
HMAC per key, ``person_blocking_keys``) is ``idp.store.sql.candidates``, which
implements :class:`CandidateIndex`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from idp.policies.matching import Demographics
from idp.records import AccountRecord

# The most candidates a sign-up compares against (persons sharing the most keys first).
DEFAULT_LIMIT = 50


class PersonLike(Protocol):
    """Anything with a person's fields: matching Demographics, NewPerson, PersonRecord."""

    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def dob(self) -> date | None: ...
    @property
    def zip(self) -> str | None: ...
    @property
    def gender(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """An account whose person shares a blocking key with the probe."""

    account_id: int
    person_id: int
    subject: str
    username: str
    status: str
    email: str | None
    email_verified: bool
    # E.164 forms of the account's phone and the person's phone (deduplicated).
    phones: tuple[str, ...]
    # What compare() sees: the person's details, with the account's email and phone when
    # it has them (the FAQ's exact match is against the account's address).
    demographics: Demographics
    shared_keys: int


class CandidateIndex(Protocol):
    """Blocking keys of persons; every use refuses while they were made under another secret."""

    def index_person(
        self, person_id: int, demographics: PersonLike, *, secret: str, fresh: bool = False
    ) -> int:
        """Replace the person's keys with those of ``demographics``; returns how many."""

    def add_keys(self, person_id: int, demographics: PersonLike, *, secret: str) -> int:
        """Add the keys the person lacks (a newly verified phone); found by the key index."""

    def candidates(
        self,
        demographics: Demographics,
        *,
        secret: str,
        limit: int = DEFAULT_LIMIT,
        region: str = "US",
    ) -> list[Candidate]:
        """Accounts (not closed) whose person shares a blocking key with ``demographics``."""

    def phones_of(self, account_id: int, *, region: str = "US") -> tuple[str, ...]:
        """E.164 numbers on an account's record (its own and its person's)."""

    def listed_practices(self, account_id: int) -> list[str]:
        """Names of practices where the account has an active link and that agree to be named."""


class _Accounts(Protocol):
    def by_id(self, account_id: int) -> AccountRecord | None: ...


class IndexingTx(Protocol):
    """The part of a transaction indexing uses: the account to read, the index to write."""

    @property
    def accounts(self) -> _Accounts: ...

    @property
    def candidates(self) -> CandidateIndex: ...


def index_person(
    uow: IndexingTx, person_id: int, demographics: PersonLike, secret: str, *, fresh: bool = False
) -> int:
    """Index one person in ``uow``'s transaction: call wherever a person is created or changed.

    ``secret`` is
    ``settings.secret_key``; pass ``fresh=True`` right after creating the person. Give
    the account's email and phone in ``demographics`` when they differ from the person's.
    """
    return uow.candidates.index_person(person_id, demographics, secret=secret, fresh=fresh)


def reindex_account(uow: IndexingTx, account_id: int, secret: str) -> int:
    """Re-index an account's person after its email or phone changed (same transaction).

    The account's current email and phone are what a later sign-up will type, so
    they are what the email and phone keys must hold.
    """
    account = uow.accounts.by_id(account_id)
    if account is None or account.person is None:
        return 0
    current = replace(
        account.person, email=account.email, phone=account.phone or account.person.phone
    )
    return index_person(uow, account.person.id, current, secret)
