"""Syntax rules for protocol parameters that Authlib passes through unchecked."""

from __future__ import annotations

import re

# RFC 6749 §3.3: scope = scope-token *( SP scope-token ),
# scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Printable ASCII, no '"' or '\'.
_SCOPE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def scope_syntax_ok(scope: str | None) -> bool:
    """True for an absent scope or one made only of RFC 6749 scope-tokens."""
    return scope is None or _SCOPE.fullmatch(scope) is not None
