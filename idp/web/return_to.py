"""Where a browser goes after signing in, when a page sent it to the login.

Only local console paths are kept (``/admin/...``), in the signed Flask session and
never in the URL, so the login cannot be turned into an open redirect.
"""

from __future__ import annotations

from flask import session as flask_session

RETURN_KEY = "idp_return_to"
ALLOWED_PREFIXES = ("/admin/",)
MAX_PATH = 2000


def remember_return(path: str) -> None:
    if _safe(path):
        flask_session[RETURN_KEY] = path


def pop_return() -> str | None:
    value = flask_session.pop(RETURN_KEY, None)
    return value if isinstance(value, str) and _safe(value) else None


def _safe(path: str) -> bool:
    return (
        len(path) <= MAX_PATH
        and path.startswith(ALLOWED_PREFIXES)
        and "//" not in path
        and "\\" not in path
        and all(32 < ord(c) < 127 for c in path)
    )
