"""What the second-factor methods need from durable storage (issue 9).

Three small Protocols, one per factor, plus an index of what an account has, so a
method sees only its own rows and the flows never import ``idp.store.sql``
(DESIGN.md, layers). ``idp.store.sql.credentials.CredentialRepository`` implements
all four over one session; ``tests/contract/test_credential_store.py`` holds every
backend to them.

Every method that marks a use is one conditional UPDATE and answers whether it won,
so two requests racing with the same code or the same authenticator response cannot
both succeed (STYLE: "a flow never reads and then writes").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class CredentialKind(StrEnum):
    TOTP = "totp"
    WEBAUTHN = "webauthn"
    RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True, slots=True)
class CredentialSummary:
    """One factor as the account page lists it (recovery codes are counted, not listed)."""

    id: int
    kind: CredentialKind
    label: str | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TotpCredential:
    id: int
    account_id: int
    # AES-GCM sealed secret (idp.store.secret_box); opened only to verify a code.
    secret_ciphertext: bytes
    # RFC 6238 time step (T) of the last accepted code; None before the first use.
    last_used_step: int | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """What a verified WebAuthn registration gives us to keep (WebAuthn §7.1 step 27)."""

    credential_id: bytes
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backed_up: bool
    label: str


@dataclass(frozen=True, slots=True)
class PasskeyCredential:
    id: int
    account_id: int
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backed_up: bool
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    # The counter once went backwards: a cloned authenticator is likely (WebAuthn §6.1.1).
    clone_suspected: bool


class CredentialIndex(Protocol):
    """Which factors an account has, for ``CredentialMethod.enrolled`` and the account page."""

    def kinds(self, account_id: int) -> frozenset[CredentialKind]:
        """Kinds enrolled; recovery codes count only while one is left unused."""

    def listing(self, account_id: int) -> list[CredentialSummary]:
        """Authenticator apps and passkeys, oldest first."""

    def relabel(self, account_id: int, credential: int, label: str) -> bool:
        """Rename one of the account's factors; False when it is not the account's."""

    def remove(self, account_id: int, credential: int) -> bool:
        """Delete one of the account's factors; False when it is not the account's."""


class TotpSecrets(Protocol):
    def add_totp(
        self, account_id: int, *, secret_ciphertext: bytes, label: str, step: int, now: datetime
    ) -> TotpCredential:
        """Keep a confirmed authenticator app, replacing any earlier one of the account.

        ``step`` is the step of the code that confirmed it, so that code cannot then
        be used again to sign in.
        """

    def totp_of(self, account_id: int) -> TotpCredential | None: ...

    def record_totp_step(self, credential: int, *, step: int, now: datetime) -> bool:
        """Mark ``step`` used if it is later than the last one; True if this call did."""


class RecoveryCodeStore(Protocol):
    def replace_recovery_codes(
        self, account_id: int, code_hashes: Sequence[str], *, now: datetime
    ) -> None:
        """Delete every earlier code of the account (used or not) and keep these hashes."""

    def use_recovery_code(self, account_id: int, code_hash: str, *, now: datetime) -> bool:
        """Use an unused code of the account; of two racing callers exactly one wins."""

    def recovery_codes_left(self, account_id: int) -> int: ...


class PasskeyStore(Protocol):
    def user_handle(self, account_id: int, *, new_handle: bytes, now: datetime) -> bytes:
        """The account's WebAuthn user handle, keeping ``new_handle`` if it has none yet."""

    def account_for_handle(self, handle: bytes) -> int | None: ...

    def add_passkey(self, account_id: int, new: NewPasskey, *, now: datetime) -> int | None:
        """Keep a registered passkey; None when its credential ID is already registered."""

    def passkeys_of(self, account_id: int) -> list[PasskeyCredential]: ...

    def passkey_by_credential_id(self, credential_id: bytes) -> PasskeyCredential | None: ...

    def record_passkey_use(
        self, credential: int, *, seen_count: int, new_count: int, backed_up: bool, now: datetime
    ) -> bool:
        """Store the new signature counter if it is still ``seen_count``; True if this call did.

        Two assertions racing with the same counter cannot both be accepted.
        """

    def flag_clone(self, credential: int, *, now: datetime) -> None:
        """Mark the passkey as probably cloned; it is refused from then on."""


class CredentialStore(CredentialIndex, TotpSecrets, RecoveryCodeStore, PasskeyStore, Protocol):
    """All four, as one transaction's repository offers them (``UnitOfWork.credentials``)."""
