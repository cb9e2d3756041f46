"""Second factors in SQL: the one repository behind :mod:`idp.store.credentials`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Session

from idp.store.credentials import (
    CredentialKind,
    CredentialSummary,
    NewPasskey,
    PasskeyCredential,
    TotpCredential,
)

from . import models as m

_TOTP = CredentialKind.TOTP.value
_WEBAUTHN = CredentialKind.WEBAUTHN.value
_RECOVERY = CredentialKind.RECOVERY_CODE.value

# Built once: every password sign-in asks which second factors the account has, and a
# statement object memoizes its cache key (no expression building per call; issue 12).
_KINDS = (
    select(m.Credential.kind)
    .where(
        m.Credential.account_id == bindparam("account_id"),
        or_(m.Credential.kind != _RECOVERY, m.Credential.used_at.is_(None)),
    )
    .distinct()
)


class CredentialRepository:
    """Implements CredentialIndex, TotpSecrets, RecoveryCodeStore and PasskeyStore."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # --- what an account has -----------------------------------------------------------------

    def kinds(self, account_id: int) -> frozenset[CredentialKind]:
        rows = self._s.scalars(_KINDS, {"account_id": account_id})
        return frozenset(CredentialKind(kind) for kind in rows)

    def listing(self, account_id: int) -> list[CredentialSummary]:
        rows = self._s.scalars(
            select(m.Credential)
            .where(m.Credential.account_id == account_id, m.Credential.kind != _RECOVERY)
            .order_by(m.Credential.id)
        )
        return [
            CredentialSummary(
                id=row.id,
                kind=CredentialKind(row.kind),
                label=row.label,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
            )
            for row in rows
        ]

    def relabel(self, account_id: int, credential: int, label: str) -> bool:
        result = self._s.execute(
            update(m.Credential)
            .where(
                m.Credential.id == credential,
                m.Credential.account_id == account_id,
                m.Credential.kind != _RECOVERY,
            )
            .values(label=label)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def remove(self, account_id: int, credential: int) -> bool:
        result = self._s.execute(
            delete(m.Credential).where(
                m.Credential.id == credential,
                m.Credential.account_id == account_id,
                m.Credential.kind != _RECOVERY,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- authenticator apps ------------------------------------------------------------------

    def add_totp(
        self, account_id: int, *, secret_ciphertext: bytes, label: str, step: int, now: datetime
    ) -> TotpCredential:
        self._s.execute(
            delete(m.Credential).where(
                m.Credential.account_id == account_id, m.Credential.kind == _TOTP
            )
        )
        row = m.Credential(
            account_id=account_id,
            kind=_TOTP,
            label=label,
            created_at=now,
            secret_ciphertext=secret_ciphertext,
            last_used_step=step,
        )
        self._s.add(row)
        self._s.flush()
        return _totp(row)

    def totp_of(self, account_id: int) -> TotpCredential | None:
        row = self._s.scalar(
            select(m.Credential)
            .where(m.Credential.account_id == account_id, m.Credential.kind == _TOTP)
            .order_by(m.Credential.id.desc())
            .limit(1)
        )
        return None if row is None else _totp(row)

    def record_totp_step(self, credential: int, *, step: int, now: datetime) -> bool:
        # Conditional on the stored step: the later of two racing codes wins, the same
        # step never wins twice (RFC 6238 §5.2), whatever the ephemeral store did.
        result = self._s.execute(
            update(m.Credential)
            .where(
                m.Credential.id == credential,
                m.Credential.kind == _TOTP,
                or_(m.Credential.last_used_step.is_(None), m.Credential.last_used_step < step),
            )
            .values(last_used_step=step, last_used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- recovery codes ----------------------------------------------------------------------

    def replace_recovery_codes(
        self, account_id: int, code_hashes: Sequence[str], *, now: datetime
    ) -> None:
        self._s.execute(
            delete(m.Credential).where(
                m.Credential.account_id == account_id, m.Credential.kind == _RECOVERY
            )
        )
        self._s.add_all(
            m.Credential(account_id=account_id, kind=_RECOVERY, code_hash=h, created_at=now)
            for h in code_hashes
        )
        self._s.flush()

    def use_recovery_code(self, account_id: int, code_hash: str, *, now: datetime) -> bool:
        result = self._s.execute(
            update(m.Credential)
            .where(
                m.Credential.account_id == account_id,
                m.Credential.kind == _RECOVERY,
                m.Credential.code_hash == code_hash,
                m.Credential.used_at.is_(None),
            )
            .values(used_at=now, last_used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def recovery_codes_left(self, account_id: int) -> int:
        count = self._s.scalar(
            select(func.count())
            .select_from(m.Credential)
            .where(
                m.Credential.account_id == account_id,
                m.Credential.kind == _RECOVERY,
                m.Credential.used_at.is_(None),
            )
        )
        return int(count or 0)

    # --- passkeys ----------------------------------------------------------------------------

    def user_handle(self, account_id: int, *, new_handle: bytes, now: datetime) -> bytes:
        self._insert_if_absent(
            m.WebAuthnUserHandle.account_id,
            account_id=account_id,
            handle=new_handle,
            created_at=now,
        )
        # Ours, or the one a racing registration stored first.
        handle = self._s.scalar(
            select(m.WebAuthnUserHandle.handle).where(m.WebAuthnUserHandle.account_id == account_id)
        )
        assert handle is not None  # inserted above or already there
        return handle

    def account_for_handle(self, handle: bytes) -> int | None:
        return self._s.scalar(
            select(m.WebAuthnUserHandle.account_id).where(m.WebAuthnUserHandle.handle == handle)
        )

    def add_passkey(self, account_id: int, new: NewPasskey, *, now: datetime) -> int | None:
        # The credential ID is unique: an authenticator's credential has one owner.
        return self._insert_if_absent(
            m.Credential.id,
            account_id=account_id,
            kind=_WEBAUTHN,
            label=new.label,
            created_at=now,
            credential_id=new.credential_id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            transports=list(new.transports),
            aaguid=new.aaguid,
            backed_up=new.backed_up,
        )

    def passkeys_of(self, account_id: int) -> list[PasskeyCredential]:
        rows = self._s.scalars(
            select(m.Credential)
            .where(m.Credential.account_id == account_id, m.Credential.kind == _WEBAUTHN)
            .order_by(m.Credential.id)
        )
        return [_passkey(row) for row in rows]

    def passkey_by_credential_id(self, credential_id: bytes) -> PasskeyCredential | None:
        row = self._s.scalar(
            select(m.Credential).where(
                m.Credential.credential_id == credential_id, m.Credential.kind == _WEBAUTHN
            )
        )
        return None if row is None else _passkey(row)

    def record_passkey_use(
        self, credential: int, *, seen_count: int, new_count: int, backed_up: bool, now: datetime
    ) -> bool:
        result = self._s.execute(
            update(m.Credential)
            .where(
                m.Credential.id == credential,
                m.Credential.kind == _WEBAUTHN,
                m.Credential.sign_count == seen_count,
                m.Credential.clone_suspected_at.is_(None),
            )
            .values(sign_count=new_count, backed_up=backed_up, last_used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def flag_clone(self, credential: int, *, now: datetime) -> None:
        self._s.execute(
            update(m.Credential)
            .where(m.Credential.id == credential, m.Credential.clone_suspected_at.is_(None))
            .values(clone_suspected_at=now)
        )

    def _insert_if_absent(self, key: InstrumentedAttribute[int], **values: Any) -> int | None:
        """INSERT ... ON CONFLICT DO NOTHING RETURNING ``key``; None when a row was there.

        Not a savepoint and catching IntegrityError: pysqlite does not open its
        transaction before a SAVEPOINT, so releasing it committed the caller's
        work early on SQLite and a later rollback left the row behind.
        """
        dialect = self._s.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(key.class_).values(**values).on_conflict_do_nothing().returning(key)
        return self._s.scalar(statement)


def _totp(row: m.Credential) -> TotpCredential:
    assert row.secret_ciphertext is not None  # set for every totp row
    return TotpCredential(
        id=row.id,
        account_id=row.account_id,
        secret_ciphertext=row.secret_ciphertext,
        last_used_step=row.last_used_step,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _passkey(row: m.Credential) -> PasskeyCredential:
    assert row.credential_id is not None and row.public_key is not None  # webauthn rows
    return PasskeyCredential(
        id=row.id,
        account_id=row.account_id,
        credential_id=row.credential_id,
        public_key=row.public_key,
        sign_count=row.sign_count or 0,
        transports=tuple(row.transports or ()),
        aaguid=row.aaguid or "",
        backed_up=bool(row.backed_up),
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        clone_suspected=row.clone_suspected_at is not None,
    )
