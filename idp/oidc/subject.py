"""Subject identifiers (OIDC Core §8): public, or pairwise per sector.

A pairwise ``sub`` keeps two practices from correlating one patient by ``sub``
(OIDC Core §8.1). The sector is the host of the client's redirect URIs (all of a
pairwise client's redirect URIs must share it, checked at registration), and the
salt never changes once created (it lives beside the signing keys).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from idp.records import ClientRecord


class SectorError(ValueError):
    """A pairwise client's redirect URIs span more than one host."""


def sector_identifier(redirect_uris: tuple[str, ...] | list[str]) -> str:
    hosts = {urlsplit(uri).hostname or "" for uri in redirect_uris}
    if len(hosts) != 1 or "" in hosts:
        raise SectorError("pairwise clients need redirect URIs on exactly one host")
    return hosts.pop()


def subject_for(client: ClientRecord, account_subject: str, *, salt: bytes) -> str:
    if client.subject_type != "pairwise":
        return account_subject
    sector = sector_identifier(client.redirect_uris)
    digest = hashlib.sha256(sector.encode() + b"|" + account_subject.encode() + b"|" + salt)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def person_subject(person_id: int, *, salt: bytes) -> str:
    """A stable public subject for a patient without an account (a young child, issue 10).

    Derived, not stored: keyed by the pairwise salt so it reveals no row id. Pass it
    through :func:`subject_for` like an account's subject, so pairwise clients get their
    own value. A child who later opens an account is named by that account's subject.
    """
    digest = hashlib.sha256(b"person|" + str(person_id).encode() + b"|" + salt)
    return "p-" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
