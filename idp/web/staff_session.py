"""Who is signed in to the staff console, and the gate every ``/admin/`` view passes.

Staff sign in through the same provider as patients (same login, same kernel), and
the console adds three rules on top of the SSO session:

- A second factor, always (issue 9 item 7, issue 11 item 1): the session's ``amr``
  must carry ``mfa``. A staff account with no factor enrolled is sent to enrol one
  (``/account/two-step``); one with a factor but a password-only session (enrolled
  after signing in) is sent to sign in again, where the kernel asks for the factor.
- A 15-minute idle timeout for the console (NIST SP 800-63B-4 AAL2 reauthentication
  after inactivity): each console request renews a marker in the ephemeral store;
  when it has lapsed, the SSO session is ended and the browser signs in again.
- The role: ``staff_required(operation)`` answers 403 when the role does not include
  the operation. Portal confinement is checked by the operation itself, which knows
  the portal (``idp.flows.staff.access.authorize``).

Nothing here starts a session; the login does, through ``session_issuer``, and sends
the browser back to the console page it came from (``return_to``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response

from idp.flows.staff.access import principal_of
from idp.policies.staff_roles import Operation, StaffPrincipal, may
from idp.records import StaffRecord
from idp.store.sessions import SSOSession

from .deps import SESSION_COOKIE, current_session, now_ts, request_meta, services
from .errors import error_page
from .return_to import remember_return

F = TypeVar("F", bound=Callable[..., Any])

CONSOLE_IDLE_TIMEOUT = 15 * 60
MFA_AMR = "mfa"
ENROL_PATH = "/account/two-step"


def _idle_key(session: SSOSession) -> str:
    return f"staff-console:{session.key}"


def _staff_record(session: SSOSession) -> StaffRecord | None:
    if "idp_staff_record" not in g:
        g.idp_staff_record = services().staff.directory.role_of(session.account_id)
    return g.idp_staff_record  # type: ignore[no-any-return]


def _console_live(session: SSOSession) -> bool:
    """Whether the console was used in the last 15 minutes (sign-in counts as use).

    The marker holds the time of the last console request by the provider's clock (the
    store's TTL only tidies up), so one clock decides, in every process.
    """
    raw = services().ephemeral.get(_idle_key(session))
    try:
        last = max(float(raw), float(session.auth_time)) if raw else float(session.auth_time)
    except ValueError:
        last = float(session.auth_time)
    return now_ts() - last < CONSOLE_IDLE_TIMEOUT


def _touch(session: SSOSession) -> None:
    services().ephemeral.put(_idle_key(session), repr(now_ts()), ttl=CONSOLE_IDLE_TIMEOUT + 60)


def current_staff() -> StaffPrincipal | None:
    """The staff principal of this browser: a staff account's SSO session that used a
    second factor and has not been idle in the console for 15 minutes; else None."""
    if "idp_staff" in g:
        return g.idp_staff  # type: ignore[no-any-return]
    principal = None
    session = current_session()
    if session is not None and MFA_AMR in session.amr and _console_live(session):
        record = _staff_record(session)
        if record is not None:
            principal = principal_of(record)
    g.idp_staff = principal
    return principal


def _to_login() -> Response:
    remember_return(request.full_path.rstrip("?") if request.method == "GET" else request.path)
    return redirect(url_for("auth.login"), code=303)


def _has_factor(account_id: int) -> bool:
    with services().db.transaction() as uow:
        return bool(uow.credentials.kinds(account_id))


def staff_required(operation: Operation | None) -> Callable[[F], F]:
    """Gate a console view: a signed-in staff member, with MFA, not idle, whose role
    includes ``operation`` (None: any role, the console's front page). The view reads
    the principal with :func:`current_staff`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            session = current_session()
            if session is None:
                return _to_login()
            record = _staff_record(session)
            if record is None:
                return error_page("staff_forbidden", status=403)
            if not _console_live(session):
                services().sessions.end(request.cookies.get(SESSION_COOKIE, ""))
                g.idp_clear_cookie = True
                return _to_login()
            if MFA_AMR not in session.amr:
                if not _has_factor(session.account_id):
                    # Back to this page after enrolling and signing in with the factor.
                    remember_return(request.full_path.rstrip("?"))
                    return redirect(ENROL_PATH, code=303)
                return _to_login()
            principal = current_staff()
            if principal is None:  # pragma: no cover - every reason is handled above
                return _to_login()
            if operation is not None and not may(principal.role, operation):
                services().staff.refusals.record(
                    principal, operation, surface="console", meta=request_meta()
                )
                return error_page("staff_forbidden", status=403)
            _touch(session)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
