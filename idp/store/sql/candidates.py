"""Blocking keys and candidate search for identity matching (issue 5).

A sign-up must be compared with the few persons who could be the same human, never
with everyone. :func:`idp.policies.matching.blocking_keys` gives each person at most
nine keys such that any exact or close pair shares one; they are stored here, one row
per key, in ``person_blocking_keys`` (indexed on ``key``), and a sign-up looks up
``WHERE key IN (its keys)``: an index probe per key, whatever the table's size.

The keys hold demographics (``dz:1990-05-17|02139``), so only an HMAC-SHA256 of each
is stored, under a key derived from the deployment secret (``IDP_SECRET_KEY``) and cut
to 32 hex digits (128 bits: collisions do not happen at any realistic size, and a
collision would only add a candidate that :func:`~idp.policies.matching.compare`
then rejects). Changing the secret orphans every key: run ``idp persons reindex``.
Until then every use of the index refuses with :class:`MatchingSecretMismatchError`
(the ``matching_index`` row holds an HMAC of the secret the keys were made under), so
matching never silently finds nobody.

A person without a date of birth gets no keys (the matcher needs a DOB), so it is
never a candidate; neither is a person without an account, or whose account is closed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, delete, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from idp.policies.matching import Demographics, blocking_keys, normalise_phone
from idp.store.candidates import DEFAULT_LIMIT, Candidate, PersonLike

from . import models as m

if TYPE_CHECKING:
    from .database import Database

# Hex digits kept of each HMAC (128 bits); the column holds up to 64.
KEY_HEX = 32
_DERIVATION = b"idp person blocking keys v1"
_FINGERPRINT = b"idp matching index fingerprint v1"
_BATCH = 1000


class MatchingSecretMismatchError(RuntimeError):
    """The blocking keys were made under another secret; the message says what to run."""

    def __init__(self) -> None:
        super().__init__(
            "the identity-matching index was built with a different IDP_SECRET_KEY, so "
            "no sign-up would match anyone; run `idp persons reindex` with this secret "
            "(or restore the secret it was built with)"
        )


def secret_fingerprint(secret: str) -> str:
    """An HMAC of the secret: tells secrets apart without revealing them."""
    return hmac.new(key_secret(secret), _FINGERPRINT, hashlib.sha256).hexdigest()


def key_secret(secret: str) -> bytes:
    """The HMAC key for blocking keys: derived, so it is used for nothing else."""
    return hmac.new(secret.encode("utf-8"), _DERIVATION, hashlib.sha256).digest()


def hash_keys(keys: Iterable[str], secret: bytes) -> list[str]:
    return sorted(
        {hmac.new(secret, k.encode("utf-8"), hashlib.sha256).hexdigest()[:KEY_HEX] for k in keys}
    )


def as_demographics(
    person: PersonLike, *, email: str | None = None, phone: str | None = None
) -> Demographics | None:
    """Matching's view of a person; None without a date of birth (no keys, no match)."""
    if person.dob is None:
        return None
    return Demographics(
        first_name=person.first_name or "",
        last_name=person.last_name or "",
        dob=person.dob,
        zip=person.zip or "",
        gender=person.gender,
        email=email or person.email,
        phone=phone or person.phone,
    )


def person_keys(
    person: PersonLike, *, email: str | None = None, phone: str | None = None
) -> set[str]:
    """Plain keys of a person, with the account's email/phone as well as the person's own."""
    keys: set[str] = set()
    for variant in {(email, phone), (None, None)}:
        demographics = as_demographics(person, email=variant[0], phone=variant[1])
        if demographics is not None:
            keys |= blocking_keys(demographics)
    return keys


def _phones(*raw: str | None, region: str) -> tuple[str, ...]:
    found = (normalise_phone(r, region=region) for r in raw if r)
    return tuple(dict.fromkeys(p for p in found if p))


class CandidateRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def check_secret(self, secret: str) -> bytes:
        """The HMAC key, once the index is known to be built under ``secret``.

        A fresh index (no fingerprint yet, or no keys at all) is claimed for this
        secret; an index with keys under another one raises
        :class:`MatchingSecretMismatchError`.
        """
        fingerprint = secret_fingerprint(secret)
        row = self._s.get(m.MatchingIndex, 1)
        if row is None:
            self._s.add(m.MatchingIndex(id=1, secret_fingerprint=fingerprint))
            self._s.flush()
        elif not hmac.compare_digest(row.secret_fingerprint, fingerprint):
            if self._s.scalar(select(m.PersonBlockingKey.id).limit(1)) is not None:
                raise MatchingSecretMismatchError()
            row.secret_fingerprint = fingerprint
        return key_secret(secret)

    # --- writing keys --------------------------------------------------------------------

    def index_person(
        self, person_id: int, demographics: PersonLike, *, secret: str, fresh: bool = False
    ) -> int:
        """Replace the person's keys with those of ``demographics``; returns how many.

        ``fresh=True`` (a person created in this transaction) skips deleting old keys:
        there are none, and the delete filters on ``person_id``, which has no index of
        its own (ask for ``ix_person_blocking_keys_person_id`` before re-indexing single
        persons at scale).
        """
        keys = hash_keys(person_keys(demographics), self.check_secret(secret))
        if not fresh:
            self._s.execute(
                delete(m.PersonBlockingKey).where(m.PersonBlockingKey.person_id == person_id)
            )
        if keys:
            self._s.execute(
                insert(m.PersonBlockingKey), [{"person_id": person_id, "key": k} for k in keys]
            )
        return len(keys)

    def add_keys(self, person_id: int, demographics: PersonLike, *, secret: str) -> int:
        """Add the keys the person lacks (a newly verified phone); found by the key index."""
        keys = hash_keys(person_keys(demographics), self.check_secret(secret))
        if not keys:
            return 0
        have = set(
            self._s.scalars(
                select(m.PersonBlockingKey.key).where(
                    m.PersonBlockingKey.key.in_(keys), m.PersonBlockingKey.person_id == person_id
                )
            )
        )
        missing = [k for k in keys if k not in have]
        if missing:
            self._s.execute(
                insert(m.PersonBlockingKey), [{"person_id": person_id, "key": k} for k in missing]
            )
        return len(missing)

    def reindex_all(self, *, secret: str) -> tuple[int, int]:
        """Rebuild every key (``idp persons reindex``): (persons indexed, keys written).

        One transaction: a sign-up running meanwhile sees the old keys until it commits.
        """
        hmac_key = key_secret(secret)
        self._s.execute(delete(m.PersonBlockingKey))
        self._s.execute(delete(m.MatchingIndex))
        self._s.add(m.MatchingIndex(id=1, secret_fingerprint=secret_fingerprint(secret)))
        self._s.flush()
        persons = written = 0
        batch: list[dict[str, object]] = []
        for person, email, phone in self._persons_with_contacts():
            keys = hash_keys(person_keys(person, email=email, phone=phone), hmac_key)
            persons += 1 if keys else 0
            batch += [{"person_id": person.id, "key": k} for k in keys]
            if len(batch) >= _BATCH:
                self._s.execute(insert(m.PersonBlockingKey), batch)
                written += len(batch)
                batch = []
        if batch:
            self._s.execute(insert(m.PersonBlockingKey), batch)
            written += len(batch)
        return persons, written

    def _persons_with_contacts(self) -> Iterator[tuple[m.Person, str | None, str | None]]:
        stmt = (
            select(m.Person, m.Account.email, m.Account.phone)
            .outerjoin(m.Account, m.Account.person_id == m.Person.id)
            .order_by(m.Person.id)
            .execution_options(yield_per=_BATCH)
        )
        for row in self._s.execute(stmt):
            yield row[0], row[1], row[2]

    def keys_of(self, person_id: int) -> list[str]:
        """The stored (hashed) keys of one person; for tests and support."""
        return list(
            self._s.scalars(
                select(m.PersonBlockingKey.key)
                .where(m.PersonBlockingKey.person_id == person_id)
                .order_by(m.PersonBlockingKey.key)
            )
        )

    # --- searching -------------------------------------------------------------------------

    def candidate_query(
        self, keys: Sequence[str], *, limit: int = DEFAULT_LIMIT
    ) -> Select[*tuple[Any, ...]]:
        """The search as one statement (exposed so tests can EXPLAIN it).

        The inner query reads only index entries for the probe's keys; persons sharing
        more keys come first, so a hot key (a shared family inbox) cannot crowd out the
        real match.
        """
        hits = (
            select(
                m.PersonBlockingKey.person_id.label("person_id"),
                func.count().label("shared"),
            )
            .where(m.PersonBlockingKey.key.in_(list(keys)))
            .group_by(m.PersonBlockingKey.person_id)
            .subquery("hits")
        )
        return (
            select(
                m.Account.id,
                m.Account.subject,
                m.Account.username,
                m.Account.status,
                m.Account.email,
                m.Account.email_verified,
                m.Account.phone,
                m.Person.id,
                m.Person.first_name,
                m.Person.last_name,
                m.Person.dob,
                m.Person.zip,
                m.Person.gender,
                m.Person.email,
                m.Person.phone,
                hits.c.shared,
            )
            .select_from(hits)
            .join(m.Person, m.Person.id == hits.c.person_id)
            .join(m.Account, m.Account.person_id == m.Person.id)
            .where(m.Account.status != "closed", m.Person.dob.is_not(None))
            .order_by(hits.c.shared.desc(), m.Account.id)
            .limit(limit)
        )

    def candidates(
        self,
        demographics: Demographics,
        *,
        secret: str,
        limit: int = DEFAULT_LIMIT,
        region: str = "US",
    ) -> list[Candidate]:
        """Accounts (not closed) whose person shares a blocking key with ``demographics``."""
        keys = hash_keys(blocking_keys(demographics), self.check_secret(secret))
        if not keys:
            return []
        found = []
        for row in self._s.execute(self.candidate_query(keys, limit=limit)):
            (account_id, subject, username, status, email, verified, phone) = row[:7]
            (person_id, first, last, dob, zip_code, gender, p_email, p_phone, shared) = row[7:]
            found.append(
                Candidate(
                    account_id=account_id,
                    person_id=person_id,
                    subject=subject,
                    username=username,
                    status=status,
                    email=email,
                    email_verified=bool(verified),
                    phones=_phones(phone, p_phone, region=region),
                    demographics=Demographics(
                        first_name=first,
                        last_name=last,
                        dob=dob,
                        zip=zip_code or "",
                        gender=gender,
                        email=email or p_email,
                        phone=phone or p_phone,
                    ),
                    shared_keys=int(shared),
                )
            )
        return found

    def phones_of(self, account_id: int, *, region: str = "US") -> tuple[str, ...]:
        """E.164 numbers on an account's record (its own and its person's)."""
        row = self._s.execute(
            select(m.Account.phone, m.Person.phone)
            .outerjoin(m.Person, m.Person.id == m.Account.person_id)
            .where(m.Account.id == account_id, m.Account.status != "closed")
        ).first()
        return () if row is None else _phones(row[0], row[1], region=region)

    # --- the practices named in "you already have an account" ----------------------------

    def listed_practices(self, account_id: int) -> list[str]:
        """Names of practices where the account has an active link and that agree to be named.

        Read from ``portal_links`` directly (the FAQ's "list of the medical practices with
        which you have an active patient portal account"); a practice with
        ``listed_in_account_emails`` off is left out: being its patient is itself sensitive.
        """
        rows = self._s.scalars(
            select(m.Portal.name)
            .join(m.PortalLink, m.PortalLink.portal_id == m.Portal.id)
            .where(
                m.PortalLink.account_id == account_id,
                m.PortalLink.status == "active",
                m.Portal.listed_in_account_emails.is_(True),
            )
            .order_by(m.Portal.name)
        )
        return list(dict.fromkeys(rows))


def claim_matching_secret(db: Database, secret: str) -> None:
    """At start-up: refuse to run with a secret the index was not built under.

    Raises :class:`MatchingSecretMismatchError`. Two processes starting on a fresh
    database may race to record the secret; the loser reads the winner's row. A
    database that is down or not migrated yet is left alone here (start-up must not
    depend on it); every later use of the index still checks.
    """
    try:
        migrated = inspect(db.engine).has_table(m.MatchingIndex.__tablename__)
    except OperationalError:
        return
    if not migrated:
        return
    for attempt in (1, 2):
        try:
            with db.transaction() as uow:
                uow.candidates.check_secret(secret)
            return
        except IntegrityError:
            if attempt == 2:
                raise
