"""Errors every layer may raise, with no web framework in sight (STYLE.md, "Errors").

Only the family the web layer must tell apart from a bug lives here so far:
:class:`UnavailableError`, a dependency that is down. It is not the patient's
fault and not ours, so it becomes a 503 with ``Retry-After`` (security invariant
10), never a 500 page with a traceback in the log, and it never counts as a failed
credential.
"""

from __future__ import annotations

# Seconds a client is asked to wait before trying again (RFC 9110 §10.2.3).
RETRY_AFTER_SECONDS = 5


class UnavailableError(ConnectionError):
    """A dependency (Redis, the database, the ephemeral store file) cannot be reached.

    ``kind`` names the dependency for the one log line the web layer writes;
    the message (the cause, e.g. "connection refused") is for logs only. A
    ``ConnectionError`` so that callers that already treated a refused store as an
    outage (the command line's start-up) keep doing so.
    """

    code = "temporarily_unavailable"
    message_id = "unavailable"
    status = 503

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind} unavailable: {detail}" if detail else f"{kind} unavailable")
        self.kind = kind
        self.detail = detail
