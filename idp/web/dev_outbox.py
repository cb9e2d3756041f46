"""The development outbox: every email and SMS the provider queued, readable in the browser.

Registered by ``create_app`` only when ``settings.is_development``; as a second
lock each view answers 404 outside development, because these pages show
one-time links and codes to whoever asks.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, render_template
from markupsafe import Markup, escape

from idp.store.sql.outbox import OutboxRepository

from .deps import services

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev/outbox")

NEWEST = 100
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"
# The HTML part is shown on a page of its own, sandboxed: no script, no plugin, no
# access to this origin; links still open (top-level navigation on a click).
HTML_PART_POLICY = (
    "sandbox allow-popups allow-top-navigation-by-user-activation; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)


def linkify(text: str) -> Markup:
    """Plain text as HTML: escaped, each http(s) URL a link, line breaks kept.

    A full stop or bracket right after a URL stays outside the link.
    """
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(str(escape(text[last : match.start()])))
        out.append(f'<a href="{escape(url)}" rel="noreferrer">{escape(url)}</a>')
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out).replace("\n", "<br>\n"))


@bp.before_request
def _development_only() -> None:
    if not services().settings.is_development:
        abort(404)


@bp.get("")
def index() -> str:
    with services().db.transaction() as uow:
        messages = OutboxRepository(uow.session).newest(NEWEST)
    return render_template("dev_outbox.html", messages=messages, item=None)


@bp.get("/<int(max=2147483647):message_pk>")
def show(message_pk: int) -> str:
    with services().db.transaction() as uow:
        record = OutboxRepository(uow.session).get(message_pk)
    if record is None:
        abort(404)
    return render_template(
        "dev_outbox.html", messages=None, item=record, body=linkify(record.body_text)
    )


@bp.get("/<int(max=2147483647):message_pk>/html")
def show_html(message_pk: int) -> Response:
    with services().db.transaction() as uow:
        record = OutboxRepository(uow.session).get(message_pk)
    if record is None or not record.body_html:
        abort(404)
    response = Response(record.body_html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_PART_POLICY
    return response
