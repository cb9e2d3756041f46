"""What a registered redirect URI may be (RFC 6749 §3.1.2, RFC 8252 §7.3, DESIGN.md
invariant 1): absolute, https (http only on a loopback host), no fragment, kept as
the exact string typed, since matching at the authorization endpoint is exact.

Pure: the CLI (``idp clients add``), the console and the JSON admin API all ask
:func:`check_redirect_uri` and turn its reason code into their own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from idp.i18n import N_, translate

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_URI = 2000
MAX_URIS = 20

# English; :func:`reason_text` gives one in the active language ({MAX_URI} filled in).
REASONS = {
    "not_absolute": N_("must be an absolute http(s) URI"),
    "fragment": N_("must not carry a fragment (#...)"),
    "not_https": N_("must use https (http is allowed only on loopback)"),
    "too_long": N_("must be at most {MAX_URI} characters"),
    "unprintable": N_("must not contain spaces or control characters"),
}


def reason_text(reason: str) -> str:
    """The message of a reason code (see ``REASONS``) in the active language."""
    return translate(REASONS[reason]).format(MAX_URI=MAX_URI)


def check_redirect_uri(uri: str) -> str | None:
    """None when ``uri`` may be registered, else the reason code (see ``REASONS``)."""
    if len(uri) > MAX_URI:
        return "too_long"
    if not uri.isprintable() or any(c.isspace() for c in uri):
        return "unprintable"
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return "not_absolute"
    if parts.scheme not in ("http", "https") or not host:
        return "not_absolute"
    if parts.fragment or "#" in uri:
        return "fragment"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "not_https"
    return None


def check_redirect_uris(uris: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The URIs to store (duplicates dropped, order kept) and each refused one's reason."""
    kept = list(dict.fromkeys(uris))
    refused = [(u, r) for u in kept if (r := check_redirect_uri(u)) is not None]
    return kept, refused
