"""Syntax rules for protocol parameters that Authlib passes through unchecked."""

from __future__ import annotations

import re

# RFC 6749 §3.3: scope = scope-token *( SP scope-token ),
# scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Printable ASCII, no '"' or '\'.
_SCOPE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def scope_syntax_ok(scope: str | None) -> bool:
    """True for an absent scope or one made only of RFC 6749 scope-tokens."""
    return scope is None or _SCOPE.fullmatch(scope) is not None


# RFC 6749 §3.1.1: response-type = response-name *( SP response-name ),
# response-name = 1*response-char, response-char = "_" / DIGIT / ALPHA.
_RESPONSE_TYPE = re.compile(r"[A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*")
# RFC 6749 §5.2: error_description holds only %x20-21 / %x23-5B / %x5D-7E.
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def response_type_syntax_ok(response_type: str) -> bool:
    """True for a list of RFC 6749 response names.

    Authlib echoes an unsupported response_type into error_description and raises
    ValueError (a 500) when it holds a character the description may not.
    """
    return _RESPONSE_TYPE.fullmatch(response_type) is not None


def describe(text: str) -> str:
    """``text`` made fit for error_description: a forbidden character becomes ``?``.

    For descriptions that quote the client's input (a parameter name, say): Authlib
    refuses to build an error whose description breaks RFC 6749 §5.2.
    """
    return _NOT_IN_DESCRIPTION.sub("?", text)
