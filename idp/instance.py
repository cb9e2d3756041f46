"""Files an embedded install keeps in its instance directory (``IDP_INSTANCE_DIR``).

The server and every ``idp`` command are separate processes that must agree on
things no environment variable says in development: the secret key (blocking keys
for identity matching are HMACs under it, issue 8, item 14) and the address the
provider serves (links in emails made by the command line, item 15). Each is one
small file, written atomically and readable by the service account only.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

SECRET_FILE = "secret_key"
ISSUER_FILE = "issuer"


class InstanceFileError(Exception):
    """An instance file is unreadable, empty, or readable by others; the message names it."""


def _write_once(path: Path, text: str) -> None:
    """Create ``path`` with ``text`` unless it exists (then the existing one wins).

    Written to a private temporary file and hard-linked into place, so a process
    reading at the same moment sees either no file or the whole text.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _read_private(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_IMODE(mode) & 0o077:
        raise InstanceFileError(f"{path} must be readable by its owner only (chmod 600 {path})")
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise InstanceFileError(f"{path} is empty; delete it to have a new one made")
    return value


def development_secret(instance_dir: Path) -> str:
    """The development secret key: made once, then the same for server and CLI."""
    path = instance_dir / SECRET_FILE
    try:
        if not path.exists():
            _write_once(path, secrets.token_urlsafe(48))
        return _read_private(path)
    except OSError as exc:
        raise InstanceFileError(f"cannot keep the development secret in {path}: {exc}") from exc


def record_issuer(instance_dir: Path, issuer: str) -> None:
    """Remember the issuer being served (replacing the last one) for commands to read."""
    path = instance_dir / ISSUER_FILE
    path.unlink(missing_ok=True)
    _write_once(path, issuer)


def served_issuer(instance_dir: Path) -> str | None:
    """The issuer that ``idp serve`` or ``idp demo`` last served from here, if any."""
    path = instance_dir / ISSUER_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
