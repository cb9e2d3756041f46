"""The development outbox page: lists and shows messages, links clickable, dev only."""

from __future__ import annotations

from flask import Flask

from idp.app import create_app
from idp.notify import DevelopmentOutbox, Dispatcher, Notifier
from idp.services import Services
from idp.web import dev_outbox

from .conftest import LINK, T0, queue_email


def _app(services: Services) -> Flask:
    return create_app(services=services)  # registers the page in development (and test)


def test_lists_and_shows_messages_with_clickable_links(
    services: Services, notifier: Notifier
) -> None:
    queue_email(services, notifier, name="<b>Eve</b>")
    Dispatcher(services.db, {"email": DevelopmentOutbox()}, clock=lambda: T0).send_due(T0)
    client = _app(services).test_client()

    listing = client.get("/dev/outbox")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert "alice@example.test" in page
    assert "Patient Sign-in: test message for &lt;b&gt;Eve&lt;/b&gt;" in page
    assert "<b>Eve</b>" not in page

    [pk] = [
        line.split("/dev/outbox/")[1].split('"')[0]
        for line in page.splitlines()
        if 'href="/dev/outbox/' in line
    ]
    shown = client.get(f"/dev/outbox/{pk}")
    assert shown.status_code == 200
    body = shown.get_data(as_text=True)
    assert f'<a href="{LINK}" rel="noreferrer">{LINK}</a>' in body
    assert "Hello &lt;b&gt;Eve&lt;/b&gt;,<br>" in body
    assert 'data-status="sent"' in body

    html = client.get(f"/dev/outbox/{pk}/html")
    assert html.status_code == 200
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    assert f'href="{LINK}"' in html.get_data(as_text=True)


def test_unknown_message_is_404(services: Services) -> None:
    client = _app(services).test_client()
    assert client.get("/dev/outbox/999999").status_code == 404
    # Past PostgreSQL's integer: a 404 from the route, not a 500 from the database.
    assert client.get("/dev/outbox/6552884588/html").status_code == 404
    assert client.head("/dev/outbox/6552884588").status_code == 404


def test_not_served_outside_development(services: Services) -> None:
    services.settings = services.settings.with_overrides(environment="production")
    client = _app(services).test_client()
    assert client.get("/dev/outbox").status_code == 404
    assert client.get("/dev/outbox/1").status_code == 404


def test_linkify_keeps_trailing_punctuation_out() -> None:
    html = dev_outbox.linkify('See https://a.test/x?y=1&z=2. Or "http://b.test".\n<tag>')
    assert str(html) == (
        'See <a href="https://a.test/x?y=1&amp;z=2" rel="noreferrer">https://a.test/x?y=1&amp;z=2'
        '</a>. Or &#34;<a href="http://b.test" rel="noreferrer">http://b.test</a>&#34;.<br>\n'
        "&lt;tag&gt;"
    )
