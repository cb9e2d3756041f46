"""Who is using the console, and whether they may do what a view does.

``current_staff()`` is the signed-in staff principal or None. Until the staff
session lands (``idp/web/staff_session.py``, staff branch), nothing in the
provider sets one, so every console page refuses; tests place a principal on
``g`` themselves. The view decorator :func:`staff_required` is the only way a
console view is reached: no principal sends the browser to sign in, a role
without the operation gets 403 and never the page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, render_template, url_for

from idp.policies.staff_roles import Operation, StaffPrincipal, may

STAFF_KEY = "idp_staff"
F = TypeVar("F", bound=Callable[..., Any])


def current_staff() -> StaffPrincipal | None:
    principal = g.get(STAFF_KEY)
    return principal if isinstance(principal, StaffPrincipal) else None


def staff() -> StaffPrincipal:
    """The principal of a view behind :func:`staff_required`."""
    principal = current_staff()
    assert principal is not None
    return principal


def refused(message: str, status: int = 403) -> Any:
    return render_template("admin/refused.html", message=message), status


def staff_required(operation: Operation | None) -> Callable[[F], F]:
    """Only staff whose role includes ``operation`` (None: any staff member)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_staff()
            if principal is None:
                return redirect(url_for("auth.login"), code=303)
            if operation is not None and not may(principal.role, operation):
                return refused("Your staff role does not include this page.")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
