"""The sign-in page, rendered once per shape and filled in per request.

Why: every code-flow sign-in shows this page, and rendering it (two templates, a
dozen catalogue look-ups, the language switch's URLs) cost a tenth of a sign-in's
CPU outside the password hash (cProfile, issue 12 item 3). Almost all of it is the
same for every browser: only the CSRF token, the pending request's id and the user
ID typed differ. So the page is rendered through the real template once per
*shape* (language, message, whether there is a pending request, path) with
placeholders for those three, and each request substitutes its values, escaped as
the template would have escaped them, in one pass (a value put in is never
scanned again).

Anything outside the shapes the cache knows (an unexpected query, an id that is
not one of ours, templates reloading in development) is rendered in full, so the
page is byte for byte what ``render_template`` gives (tests/integration/
test_login_page_cache.py compares them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import current_app, render_template, request
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from .locale import active_locale, switch_args, switch_url_from

# Letters and digits only: unchanged by HTML escaping and by URL quoting, so each
# placeholder comes out of the template exactly as it went in, in any context.
_CSRF = "Qx7idpCsrfTokenPlaceholder9Zk"
_INTERACTION = "Qx7idpInteractionPlaceholder9Zk"
_USERNAME = "Qx7idpUsernamePlaceholder9Zk"
_PLACEHOLDERS = re.compile(f"{_CSRF}|{_INTERACTION}|{_USERNAME}")
# An interaction id as ``secrets.token_urlsafe`` makes them: also unchanged by HTML
# escaping and URL quoting, so it may stand where its placeholder stood.
_INTERACTION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

CACHE_KEY = "idp_login_page_shapes"
# Languages x messages x (with or without a pending request) x paths stays far below.
MAX_SHAPES = 256

Shape = tuple[str, str, str, bool, bool, str | None]


def render_login_page(*, username: str, message_id: str | None, interaction_id: str | None) -> str:
    """``login.html`` for this request, as ``render_template`` would render it."""
    shape = _shape(message_id, interaction_id)
    if shape is None:
        return _render(username, message_id, interaction_id)
    shapes: dict[Shape, str] = current_app.extensions.setdefault(CACHE_KEY, {})
    page = shapes.get(shape)
    if page is None:
        page = _render_shape(message_id, with_interaction=interaction_id is not None)
        if len(shapes) < MAX_SHAPES:
            shapes[shape] = page
    values = {
        _CSRF: str(escape(generate_csrf())),
        _INTERACTION: interaction_id or "",
        _USERNAME: str(escape(username)),
    }
    return _PLACEHOLDERS.sub(lambda found: values[found.group(0)], page)


def _shape(message_id: str | None, interaction_id: str | None) -> Shape | None:
    """What the page's cached rendering depends on, or None to render in full."""
    if current_app.jinja_env.auto_reload:
        return None  # development: templates change under us
    if interaction_id is not None and not _INTERACTION_ID.fullmatch(interaction_id):
        return None
    # The language switch links to this page with its query: only the shapes the
    # sign-in takes (none, or the pending request's id) are cached.
    args = switch_args()
    if args and args != [("i", interaction_id)]:
        return None
    return (
        active_locale(),
        request.script_root,
        request.path,
        bool(args),
        interaction_id is not None,
        message_id,
    )


def _render(username: str, message_id: str | None, interaction_id: str | None) -> str:
    return render_template(
        "login.html", username=username, message_id=message_id, interaction_id=interaction_id
    )


def _render_shape(message_id: str | None, *, with_interaction: bool) -> str:
    """The page with placeholders for the CSRF token, the request id and the user ID."""
    args = [("i", _INTERACTION)] if switch_args() else []
    path = request.path
    switch: Callable[[str], str] = lambda locale: switch_url_from(path, args, locale)  # noqa: E731
    return render_template(
        "login.html",
        username=_USERNAME,
        message_id=message_id,
        interaction_id=_INTERACTION if with_interaction else None,
        csrf_token=lambda: _CSRF,
        switch_url=switch,
    )
