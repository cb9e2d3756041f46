"""Signing keys: files on disk, rotation with a publication window, shared by workers."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey

from idp.oidc.keys import (
    SUPPORTED_ALGS,
    KeyRing,
    KeyStatus,
    KeyStoreError,
    SigningKey,
    generate_keys,
    load_keys,
    rotate_keys,
)

T0 = 1_700_000_000
PUBLISH_FOR = 2 * 3600  # longer than the id_token lifetime (3600 s)
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


class FakeClock:
    """A clock the test moves by hand, standing in for time.time."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_ring(keys_dir: Path, clock: FakeClock) -> KeyRing:
    return KeyRing(keys_dir, publish_for=PUBLISH_FOR, clock=clock)


def sign(ring: KeyRing, alg: str, claims: dict[str, object] | None = None) -> str:
    kid = ring.signing_key(alg).kid
    claims = claims or {"iss": "https://idp.example", "sub": "alice", "aud": "portal"}
    return jwt.encode({"alg": alg, "kid": kid}, claims, ring.private_key_set(alg))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_file(keys_dir: Path, key: SigningKey) -> Path:
    return keys_dir / f"{key.kid}.json"


# --- generate ---------------------------------------------------------------------------


def test_generate_creates_one_key_per_alg_and_salt_with_private_modes(keys_dir: Path) -> None:
    created = generate_keys(keys_dir, now=T0)

    assert sorted(k.alg for k in created) == sorted(SUPPORTED_ALGS)
    assert mode(keys_dir) == 0o700
    for key in created:
        assert key.kid.startswith(key.alg.lower() + "-")
        assert len(key.kid.split("-", 1)[1]) == 12
        assert key.created_at == T0 and key.retired_at is None
        assert mode(key_file(keys_dir, key)) == 0o600
    salt_file = keys_dir / "pairwise.salt"
    assert mode(salt_file) == 0o600
    assert len(bytes.fromhex(salt_file.read_text())) == 32


def test_generate_tightens_an_existing_loose_directory(keys_dir: Path) -> None:
    keys_dir.mkdir(mode=0o755)
    os.chmod(keys_dir, 0o755)

    generate_keys(keys_dir, now=T0)

    assert mode(keys_dir) == 0o700


def test_generate_is_idempotent(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)
    before = {k.kid for k in load_keys(keys_dir)}
    salt = make_ring(keys_dir, clock).pairwise_salt()

    assert generate_keys(keys_dir, now=T0 + 60) == []

    assert {k.kid for k in load_keys(keys_dir)} == before
    assert make_ring(keys_dir, clock).pairwise_salt() == salt


def test_key_file_records_kid_alg_times_and_private_jwk(keys_dir: Path) -> None:
    (key,) = [k for k in generate_keys(keys_dir, now=T0) if k.alg == "ES256"]

    record = json.loads(key_file(keys_dir, key).read_text())

    assert record["kid"] == key.kid and record["alg"] == "ES256"
    assert record["created_at"] == T0 and record["retired_at"] is None
    assert record["jwk"]["kid"] == key.kid and "d" in record["jwk"]


# --- publishing and signing -------------------------------------------------------------


def test_jwks_publishes_kid_alg_use_and_no_private_members(
    keys_dir: Path, clock: FakeClock
) -> None:
    generate_keys(keys_dir, now=T0)

    jwks = make_ring(keys_dir, clock).jwks()

    assert sorted(k["alg"] for k in jwks["keys"]) == sorted(SUPPORTED_ALGS)
    for jwk in jwks["keys"]:
        assert jwk["kid"] and jwk["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(jwk), jwk
    assert json.loads(json.dumps(jwks)) == jwks  # serialisable as-is for jwks_uri


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
def test_token_signed_with_private_set_verifies_with_published_keys(
    keys_dir: Path, clock: FakeClock, alg: str
) -> None:
    generate_keys(keys_dir, now=T0)
    ring = make_ring(keys_dir, clock)

    token = jwt.decode(sign(ring, alg), ring.verification_keys())

    assert token.header["alg"] == alg
    assert token.header["kid"] == ring.signing_key(alg).kid
    assert token.claims["sub"] == "alice"


def test_private_key_set_holds_only_the_active_key(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)
    ring = make_ring(keys_dir, clock)

    key_set = ring.private_key_set("RS256")

    assert [k.kid for k in key_set] == [ring.signing_key("RS256").kid]


def test_verification_keys_reject_a_token_from_a_foreign_key(
    tmp_path: Path, keys_dir: Path, clock: FakeClock
) -> None:
    generate_keys(keys_dir, now=T0)
    generate_keys(tmp_path / "other", now=T0)
    ours, theirs = make_ring(keys_dir, clock), make_ring(tmp_path / "other", clock)
    # Claim our kid but sign with another key: the kid alone must not be enough.
    forged = jwt.encode(
        {"alg": "RS256", "kid": ours.signing_key("RS256").kid},
        {"sub": "mallory"},
        theirs.signing_key("RS256").key,
    )

    with pytest.raises(BadSignatureError):
        jwt.decode(forged, ours.verification_keys())


# --- rotation (OIDC Core §10.1.1) -------------------------------------------------------


def test_rotate_makes_new_active_key_and_keeps_old_one_published(
    keys_dir: Path, clock: FakeClock
) -> None:
    generate_keys(keys_dir, now=T0)
    ring = make_ring(keys_dir, clock)
    old = {alg: ring.signing_key(alg) for alg in SUPPORTED_ALGS}
    old_tokens = {alg: sign(ring, alg) for alg in SUPPORTED_ALGS}

    clock.advance(600)
    created = rotate_keys(keys_dir, now=int(clock()), publish_for=PUBLISH_FOR)

    assert sorted(k.alg for k in created) == sorted(SUPPORTED_ALGS)
    published = {k["kid"] for k in ring.jwks()["keys"]}
    for alg in SUPPORTED_ALGS:
        new = ring.signing_key(alg)
        assert new.kid != old[alg].kid and new in created
        (old_now,) = [k for k in ring.list() if k.kid == old[alg].kid]
        assert old_now.retired_at == int(clock())
        assert ring.status(old_now) is KeyStatus.RETIRING
        assert {new.kid, old[alg].kid} <= published
        # A token signed before the rotation still verifies...
        assert jwt.decode(old_tokens[alg], ring.verification_keys()).header["kid"] == old[alg].kid
        # ...and new tokens carry the new kid.
        assert jwt.decode(sign(ring, alg), ring.verification_keys()).header["kid"] == new.kid


def test_retired_key_leaves_jwks_once_publish_window_passes(
    keys_dir: Path, clock: FakeClock
) -> None:
    generate_keys(keys_dir, now=T0)
    ring = make_ring(keys_dir, clock)
    first = ring.signing_key("RS256")
    rotate_keys(keys_dir, now=T0, publish_for=PUBLISH_FOR)
    clock.advance(1.1)
    second = ring.signing_key("RS256")
    assert second.kid != first.kid

    clock.advance(PUBLISH_FOR)
    # Even before the files are deleted, the running ring stops publishing it.
    assert ring.status(next(k for k in ring.list() if k.kid == first.kid)) == "expired"
    assert first.kid not in {k["kid"] for k in ring.jwks()["keys"]}

    rotate_keys(keys_dir, now=int(clock()), publish_for=PUBLISH_FOR)
    clock.advance(1.5)

    on_disk = {k.kid for k in load_keys(keys_dir)}
    assert first.kid not in on_disk and not key_file(keys_dir, first).exists()
    assert second.kid in on_disk  # retired just now: still within its window
    assert first.kid not in {k["kid"] for k in ring.jwks()["keys"]}
    assert second.kid in {k["kid"] for k in ring.jwks()["keys"]}


def test_status_follows_publish_window() -> None:
    jwk = ECKey.generate_key("P-256", parameters={"kid": "es256-x", "alg": "ES256", "use": "sig"})
    active = SigningKey(kid="es256-x", alg="ES256", created_at=0, retired_at=None, key=jwk)
    retired = SigningKey(kid="es256-x", alg="ES256", created_at=0, retired_at=100, key=jwk)

    assert active.status(10**9, publish_for=1) == "active"
    assert retired.status(100 + 59, publish_for=60) == "retiring"
    assert retired.status(100 + 60, publish_for=60) == "expired"


def test_rotate_requires_a_positive_publish_window(keys_dir: Path) -> None:
    with pytest.raises(ValueError, match="publish_for"):
        rotate_keys(keys_dir, now=T0, publish_for=0)


# --- several workers --------------------------------------------------------------------


def test_second_worker_signs_with_the_same_kid(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)
    first, second = make_ring(keys_dir, clock), make_ring(keys_dir, clock)

    for alg in SUPPORTED_ALGS:
        assert first.signing_key(alg).kid == second.signing_key(alg).kid
        assert jwt.decode(sign(first, alg), second.verification_keys()).claims["sub"] == "alice"
    assert first.pairwise_salt() == second.pairwise_salt()


def test_running_ring_notices_rotation_after_recheck_interval(
    keys_dir: Path, clock: FakeClock
) -> None:
    generate_keys(keys_dir, now=T0)
    worker = make_ring(keys_dir, clock)
    before = worker.signing_key("ES256").kid

    rotate_keys(keys_dir, now=T0, publish_for=PUBLISH_FOR)  # by the CLI, another process

    assert worker.signing_key("ES256").kid == before  # cached: no disk read per request
    clock.advance(1.1)
    after = worker.signing_key("ES256").kid
    assert after != before
    assert after == make_ring(keys_dir, clock).signing_key("ES256").kid


# --- refusing unsafe or broken files ----------------------------------------------------


def test_key_file_readable_by_others_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    (key, *_) = generate_keys(keys_dir, now=T0)
    path = key_file(keys_dir, key)
    os.chmod(path, 0o644)

    with pytest.raises(KeyStoreError, match="chmod 600") as excinfo:
        make_ring(keys_dir, clock).signing_key(key.alg)
    assert path.name in str(excinfo.value)


def test_salt_readable_by_others_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)
    os.chmod(keys_dir / "pairwise.salt", 0o640)

    with pytest.raises(KeyStoreError, match="chmod 600"):
        make_ring(keys_dir, clock).pairwise_salt()


def test_corrupt_key_file_raises_naming_it(keys_dir: Path) -> None:
    generate_keys(keys_dir, now=T0)
    bad = keys_dir / "rs256-corruptAAAAA.json"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write('{"kid": "rs256-corruptAAAAA", "jwk": ')

    with pytest.raises(KeyStoreError, match="rs256-corruptAAAAA.json"):
        load_keys(keys_dir)


def _tamper_public_only(record: dict[str, Any]) -> None:
    record["jwk"] = {k: v for k, v in record["jwk"].items() if k != "d"}


def _tamper_alg(record: dict[str, Any]) -> None:
    record["alg"] = record["jwk"]["alg"] = "RS256"  # an EC key claiming to be RS256


def _tamper_created_at(record: dict[str, Any]) -> None:
    record["created_at"] = "yesterday"


@pytest.mark.parametrize("tamper", [_tamper_public_only, _tamper_alg, _tamper_created_at])
def test_key_file_with_unusable_record_is_refused(
    keys_dir: Path, tamper: Callable[[dict[str, Any]], None]
) -> None:
    (key,) = [k for k in generate_keys(keys_dir, now=T0) if k.alg == "ES256"]
    path = key_file(keys_dir, key)
    record = json.loads(path.read_text())
    tamper(record)
    path.write_text(json.dumps(record))  # keeps the file's 0600 mode

    with pytest.raises(KeyStoreError, match=path.name):
        load_keys(keys_dir)


def test_key_file_whose_kid_disagrees_with_its_name_is_refused(keys_dir: Path) -> None:
    (key, *_) = generate_keys(keys_dir, now=T0)
    path = key_file(keys_dir, key)
    path.rename(keys_dir / "rs256-renamedAAAAA.json")

    with pytest.raises(KeyStoreError, match="rs256-renamedAAAAA.json"):
        load_keys(keys_dir)


def test_non_json_files_are_ignored(keys_dir: Path) -> None:
    generate_keys(keys_dir, now=T0)
    (keys_dir / "README").write_text("not a key")
    (keys_dir / ".gitkeep").write_text("")

    assert len(load_keys(keys_dir)) == len(SUPPORTED_ALGS)


def test_missing_key_for_alg_raises_with_hint(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)
    for key in load_keys(keys_dir):
        if key.alg == "ES256":
            key_file(keys_dir, key).unlink()
    ring = make_ring(keys_dir, clock)

    assert ring.signing_key("RS256").alg == "RS256"
    with pytest.raises(KeyStoreError, match="run `idp keys generate`"):
        ring.signing_key("ES256")


def test_missing_directory_and_salt_raise_with_hint(keys_dir: Path, clock: FakeClock) -> None:
    ring = make_ring(keys_dir, clock)

    with pytest.raises(KeyStoreError, match="idp keys generate"):
        ring.signing_key("RS256")
    with pytest.raises(KeyStoreError, match="idp keys generate"):
        ring.pairwise_salt()


def test_unsupported_alg_is_a_programming_error(keys_dir: Path, clock: FakeClock) -> None:
    generate_keys(keys_dir, now=T0)

    with pytest.raises(ValueError, match="HS256"):
        make_ring(keys_dir, clock).signing_key("HS256")
