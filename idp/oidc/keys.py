"""Signing keys for ID tokens: stored in files, rotated by the CLI, read by every worker.

Keys live only in ``keys_dir`` (``IDP_KEYS_DIR``), one ``<kid>.json`` per key, so every
provider process signs with the same keys and a JWKS fetched from any of them is the
same. ``idp keys generate|rotate|list`` write the directory; the running provider only
reads it through :class:`KeyRing`, which notices a rotation without a restart.

Rotation follows OpenID Connect Core 1.0 §10.1.1: the signer starts using a new key
and signals it with a new ``kid``; a relying party that sees an unfamiliar ``kid``
re-fetches the JWKS. The retired key stays published ("retiring") for ``publish_for``
seconds so that tokens it signed before the rotation still verify until they expire.

File layout::

    <kid>.json      {"kid", "alg", "created_at", "retired_at", "jwk": <private JWK>}  0600
    pairwise.salt   32 random bytes, hex; never changes once created                 0600
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey, import_key

from .documents import JsonDocument, json_document

SUPPORTED_ALGS = ("RS256", "ES256")
"""RS256 is the OIDC default (Core §15.1, every RP must support it); ES256 for clients
that register ``id_token_signed_response_alg=ES256``."""

RSA_KEY_BITS = 2048  # RFC 7518 §3.3: 2048 bits is the minimum for RS256.
EC_CURVE = "P-256"  # RFC 7518 §3.4: ES256 is ECDSA on P-256 only.
SALT_FILE = "pairwise.salt"
SALT_BYTES = 32
KEY_FILE_SUFFIX = ".json"
# Every worker sees a rotation within this long (issue 12: within one second).
RECHECK_SECONDS = 0.5
_PRIVATE_MODE = 0o600
_DIR_MODE = 0o700
_LOOSE_BITS = 0o077  # any group/other permission bit
_JWK_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

JoseKey = RSAKey | ECKey
Fingerprint = tuple[int, tuple[tuple[str, int, int, int], ...]]


class KeyStoreError(Exception):
    """The key directory is missing, unreadable, unsafe or lacks a needed key."""


class KeyStatus(StrEnum):
    """Where a key is in its life (OIDC Core §10.1.1)."""

    ACTIVE = "active"  # signs new tokens and is published
    RETIRING = "retiring"  # no longer signs; published so its tokens still verify
    EXPIRED = "expired"  # every token it signed has expired; unpublished, deletable


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One signing key and its life cycle; ``key`` holds the private JWK."""

    kid: str
    alg: str
    created_at: int
    retired_at: int | None
    key: JoseKey

    def status(self, now: int, *, publish_for: int) -> KeyStatus:
        """Say whether the key signs, is only published, or may be forgotten.

        ``publish_for`` must cover the longest lifetime of anything the key signs
        (plus clock skew): a retired key stays in the JWKS that long so relying
        parties can still verify tokens it signed (OIDC Core §10.1.1).
        """
        if self.retired_at is None:
            return KeyStatus.ACTIVE
        if now < self.retired_at + publish_for:
            return KeyStatus.RETIRING
        return KeyStatus.EXPIRED

    def public_jwk(self) -> dict[str, Any]:
        """The JWK to publish: public members only, with ``kid``, ``alg`` and ``use``."""
        public = self.key.as_dict(private=False)
        public.update(kid=self.kid, alg=self.alg, use="sig")
        # Defence in depth: a private member in the JWKS would leak the signing key.
        leaked = _JWK_PRIVATE_MEMBERS.intersection(public)
        if leaked:
            raise KeyStoreError(f"refusing to publish private members {sorted(leaked)}")
        return public


# --- commands: what `idp keys generate|rotate|list` call ------------------------------


def generate_keys(keys_dir: Path, *, now: int) -> list[SigningKey]:
    """Create an active key for each supported alg that has none, and the pairwise salt.

    Idempotent, so it is safe in a container entrypoint: a second call creates
    nothing. Returns the keys it created.
    """
    _ensure_dir(keys_dir)
    with _locked(keys_dir):
        _ensure_salt(keys_dir)
        keys = load_keys(keys_dir)
        have_active = {k.alg for k in keys if k.retired_at is None}
        created = [_new_key(alg, now=now) for alg in SUPPORTED_ALGS if alg not in have_active]
        for key in created:
            _write_key(keys_dir, key)
        return created


def rotate_keys(keys_dir: Path, *, now: int, publish_for: int) -> list[SigningKey]:
    """Start a new active key per alg, retire the old ones, delete expired ones.

    Order matters for workers reading concurrently: the new key is written before
    the old one is marked retired, so a reader never sees an alg with no active key.
    Keys retired more than ``publish_for`` seconds ago are deleted, which removes
    them from the JWKS (OIDC Core §10.1.1). Returns the new keys.
    """
    _check_publish_for(publish_for)
    _ensure_dir(keys_dir)
    with _locked(keys_dir):
        _ensure_salt(keys_dir)
        previous = load_keys(keys_dir)
        created = [_new_key(alg, now=now) for alg in SUPPORTED_ALGS]
        for key in created:
            _write_key(keys_dir, key)
        for key in previous:
            if key.retired_at is None:
                _write_key(keys_dir, replace(key, retired_at=now))
        for key in load_keys(keys_dir):
            if key.status(now, publish_for=publish_for) is KeyStatus.EXPIRED:
                (keys_dir / _key_file_name(key.kid)).unlink(missing_ok=True)
        return created


def load_keys(keys_dir: Path) -> list[SigningKey]:
    """Read every ``*.json`` key file, oldest first; other files are ignored.

    Raises KeyStoreError naming the file if one is unreadable, corrupt, or readable
    by group/other.
    """
    try:
        paths = [keys_dir / name for name, *_ in _scan_key_files(keys_dir)]
    except FileNotFoundError:
        raise KeyStoreError(
            f"key directory {keys_dir} does not exist; run `idp keys generate`"
        ) from None
    keys = [key for key in map(_read_key, paths) if key is not None]
    return sorted(keys, key=lambda k: (k.created_at, k.kid))


# --- runtime: what the provider uses ---------------------------------------------------


class KeyRing:
    """The provider's view of ``keys_dir``, cached and refreshed when the files change.

    Every worker builds its own KeyRing over the same directory, so all of them sign
    with the same keys. The directory is fingerprinted (mtimes, inodes, sizes) at most
    once per ``RECHECK_SECONDS`` and re-read only if the fingerprint moved: a worker
    picks up `idp keys rotate` without a restart and no request pays a full reload.
    """

    def __init__(
        self,
        keys_dir: Path,
        *,
        publish_for: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_publish_for(publish_for)
        self._dir = keys_dir
        self._publish_for = publish_for
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: builtins.list[SigningKey] = []
        self._fingerprint: Fingerprint | None = None
        self._checked_at: float | None = None
        self._jwks_cache: tuple[tuple[str, ...], builtins.list[SigningKey], JsonDocument] | None = (
            None
        )
        self._salt: bytes | None = None

    def signing_key(self, alg: str) -> SigningKey:
        """The newest active key for ``alg``: the one new tokens are signed with."""
        if alg not in SUPPORTED_ALGS:
            raise ValueError(f"unsupported signing alg {alg!r}; expected one of {SUPPORTED_ALGS}")
        active = [k for k in self._current() if k.alg == alg and k.retired_at is None]
        if not active:
            raise KeyStoreError(f"no active {alg} key in {self._dir}; run `idp keys generate`")
        return active[-1]

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set for ``jwks_uri``: every active and retiring key."""
        return {"keys": [k.public_jwk() for k in self._published()]}

    def jwks_document(self) -> JsonDocument:
        """:meth:`jwks` as serialised bytes with an ETag, rebuilt only when it changes.

        The published set moves when the key files change (a rotation) or when a
        retiring key's publication window ends; both are part of the cache key.
        """
        published = tuple(k.kid for k in self._published())
        cached = self._jwks_cache
        if cached is None or cached[0] != published or cached[1] is not self._keys:
            cached = (published, self._keys, json_document(self.jwks()))
            self._jwks_cache = cached
        return cached[2]

    def verification_keys(self) -> KeySet:
        """Public keys of every published key, e.g. to verify an ``id_token_hint``.

        Built from the published JWKS, so we accept exactly what RPs can verify.
        """
        return KeySet([import_key(jwk) for jwk in self.jwks()["keys"]])

    def private_key_set(self, alg: str) -> KeySet:
        """Just the active signing key, as Authlib's ``resolve_client_private_key`` wants."""
        return KeySet([self.signing_key(alg).key])

    def pairwise_salt(self) -> bytes:
        """The salt for pairwise subject identifiers (OIDC Core §8.1).

        Read once: the salt never changes once created (changing it would change
        every pairwise ``sub``), and reading a file per token request costs a syscall
        storm on the hot path.
        """
        if self._salt is None:
            self._salt = read_pairwise_salt(self._dir)
        return self._salt

    def list(self) -> builtins.list[SigningKey]:
        """Every key on disk, oldest first, including expired ones not yet deleted."""
        return builtins.list(self._current())

    def status(self, key: SigningKey) -> KeyStatus:
        """``key.status`` at the ring's clock and publication window."""
        return key.status(int(self._clock()), publish_for=self._publish_for)

    def _published(self) -> builtins.list[SigningKey]:
        return [k for k in self._current() if self.status(k) is not KeyStatus.EXPIRED]

    def _current(self) -> builtins.list[SigningKey]:
        now = self._clock()
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < RECHECK_SECONDS:
                return self._keys
            # Fingerprint before reading: a change that lands during the read moves
            # the fingerprint again, so the next check re-reads instead of missing it.
            fingerprint = _fingerprint(self._dir)
            if fingerprint != self._fingerprint:
                self._keys = load_keys(self._dir)
                self._fingerprint = fingerprint
            self._checked_at = now
            return self._keys


def read_pairwise_salt(keys_dir: Path) -> bytes:
    """Read the pairwise-subject salt; it must exist, be private, and be 32 bytes."""
    path = keys_dir / SALT_FILE
    try:
        text = _read_private(path).decode("ascii").strip()
        salt = bytes.fromhex(text)
    except FileNotFoundError:
        raise KeyStoreError(f"{path} is missing; run `idp keys generate`") from None
    except (OSError, ValueError) as exc:
        raise KeyStoreError(f"{path} is unreadable or corrupt: {exc}") from exc
    if len(salt) != SALT_BYTES:
        raise KeyStoreError(f"{path} holds {len(salt)} bytes, expected {SALT_BYTES}")
    return salt


# --- files -----------------------------------------------------------------------------


def _new_key(alg: str, *, now: int) -> SigningKey:
    kid = f"{alg.lower()}-{secrets.token_urlsafe(9)}"  # 9 bytes -> 12 base64url chars
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    key: JoseKey
    if alg == "RS256":
        key = RSAKey.generate_key(RSA_KEY_BITS, parameters=parameters)
    elif alg == "ES256":
        key = ECKey.generate_key(EC_CURVE, parameters=parameters)
    else:
        raise ValueError(f"unsupported signing alg {alg!r}")
    return SigningKey(kid=kid, alg=alg, created_at=now, retired_at=None, key=key)


def _key_file_name(kid: str) -> str:
    return f"{kid}{KEY_FILE_SUFFIX}"


def _write_key(keys_dir: Path, key: SigningKey) -> None:
    record = {
        "kid": key.kid,
        "alg": key.alg,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "jwk": key.key.as_dict(private=True),
    }
    data = json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
    _write_private(keys_dir / _key_file_name(key.kid), data, overwrite=True)


def _read_key(path: Path) -> SigningKey | None:
    """Parse one key file; None if it vanished (deleted as expired by a rotation)."""
    try:
        data = _read_private(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(f"{path} is unreadable: {exc}") from exc
    try:
        return _parse_key(json.loads(data), expected_kid=path.name.removesuffix(KEY_FILE_SUFFIX))
    except KeyStoreError as exc:
        raise KeyStoreError(f"{path} is invalid: {exc}") from exc
    except (ValueError, KeyError, TypeError, JoseError) as exc:
        raise KeyStoreError(f"{path} is corrupt: {exc!r}") from exc


def _parse_key(record: Any, *, expected_kid: str) -> SigningKey:
    if not isinstance(record, dict) or not isinstance(record.get("jwk"), dict):
        raise KeyStoreError("expected a JSON object with a 'jwk' object")
    kid, alg, jwk = record["kid"], record["alg"], record["jwk"]
    created_at, retired_at = record["created_at"], record["retired_at"]
    if kid != expected_kid:
        raise KeyStoreError(f"kid {kid!r} does not match the file name")
    if alg not in SUPPORTED_ALGS:
        raise KeyStoreError(f"unsupported alg {alg!r}")
    if not isinstance(created_at, int) or not (retired_at is None or isinstance(retired_at, int)):
        raise KeyStoreError("created_at/retired_at must be integers")
    if (jwk.get("kid"), jwk.get("alg"), jwk.get("use")) != (kid, alg, "sig"):
        raise KeyStoreError("the JWK's kid/alg/use disagree with the record")
    key = _import_signing_key(jwk, alg)
    return SigningKey(kid=kid, alg=alg, created_at=created_at, retired_at=retired_at, key=key)


def _import_signing_key(jwk: dict[str, Any], alg: str) -> JoseKey:
    """Import the JWK as the key type ``alg`` needs; refuse public or weak keys."""
    key: JoseKey
    if alg == "RS256":
        key = RSAKey.import_key(jwk)
        fits = key.raw_value.key_size >= RSA_KEY_BITS
    else:
        key = ECKey.import_key(jwk)
        fits = key.get("crv") == EC_CURVE
    if not fits or not key.is_private:
        raise KeyStoreError(f"the JWK is not a private key usable for {alg}")
    return key


def _ensure_salt(keys_dir: Path) -> None:
    """Create the pairwise salt once; never replace it.

    Pairwise ``sub`` values are derived from it (OIDC Core §8.1): a new salt would
    give every user a new identity at every client.
    """
    path = keys_dir / SALT_FILE
    if not path.exists():
        _write_private(path, secrets.token_hex(SALT_BYTES).encode() + b"\n", overwrite=False)
    read_pairwise_salt(keys_dir)  # fail now, not at the first pairwise login


def _write_private(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically, readable only by its owner.

    The temp file is created 0600 with O_EXCL, so the secret is never on disk with
    wider permissions and never half-written under its real name. ``overwrite=False``
    publishes with ``link``, which fails rather than replace an existing file.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), _PRIVATE_MODE)  # exactly 0600, whatever the umask
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _read_private(path: Path) -> bytes:
    """Read a secret file, refusing it if group or other may read or write it.

    The mode is checked on the open descriptor, so a swap after the check cannot
    slip a looser file in. Key material readable by others is an incident.
    """
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as src:
        mode = os.fstat(src.fileno()).st_mode
        if mode & _LOOSE_BITS:
            raise KeyStoreError(
                f"{path} has mode {mode & 0o777:04o}, readable beyond its owner; "
                f"`chmod 600 {path}` (and consider the key compromised: rotate it)"
            )
        return src.read()


def _ensure_dir(keys_dir: Path) -> None:
    """Create the key directory 0700, or tighten an existing one to 0700."""
    keys_dir.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    if keys_dir.stat().st_mode & 0o777 != _DIR_MODE:
        keys_dir.chmod(_DIR_MODE)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    """Serialise writers, e.g. two containers running `idp keys generate` at start."""
    fd = os.open(keys_dir / ".lock", os.O_WRONLY | os.O_CREAT, _PRIVATE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _scan_key_files(keys_dir: Path) -> builtins.list[tuple[str, int, int, int]]:
    """(name, inode, size, mtime_ns) of each key file, sorted by name."""
    found = []
    with os.scandir(keys_dir) as entries:
        for entry in entries:
            if entry.name.endswith(KEY_FILE_SUFFIX) and not entry.name.startswith("."):
                if entry.is_file():
                    st = entry.stat()
                    found.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
    return sorted(found)


def _fingerprint(keys_dir: Path) -> Fingerprint:
    """A cheap summary that changes whenever a key file is added, replaced or removed.

    Inodes are included because ``os.replace`` always gives a new one, which catches a
    rewrite even on file systems with coarse mtimes.
    """
    try:
        dir_mtime = keys_dir.stat().st_mtime_ns
        return dir_mtime, tuple(_scan_key_files(keys_dir))
    except FileNotFoundError:
        raise KeyStoreError(
            f"key directory {keys_dir} does not exist; run `idp keys generate`"
        ) from None


def _check_publish_for(publish_for: int) -> None:
    if publish_for <= 0:
        raise ValueError("publish_for must be positive: the longest token lifetime plus skew")
