"""The sign-in page from its per-process cache (idp/web/login_page.py) is byte for byte
the page ``render_template`` renders, whatever the language, message, pending request
and user ID; values never leak from one request's page into another's."""

from __future__ import annotations

import secrets

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.web import login_page
from tests.conftest import Factory
from tests.helpers import OIDCActions

HOSTILE = "a\"<b>&'c Qx7idpCsrfTokenPlaceholder9Zk"


def _both(
    app: Flask,
    url: str,
    *,
    method: str = "GET",
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    username: str = "",
    message_id: str | None = None,
    interaction_id: str | None = None,
) -> tuple[str, str, str]:
    """(cached page, the same again, the full rendering), in one request."""
    with app.test_request_context(url, method=method, data=data, headers=headers):
        kwargs = {"username": username, "message_id": message_id, "interaction_id": interaction_id}
        first = login_page.render_login_page(**kwargs)  # type: ignore[arg-type]
        second = login_page.render_login_page(**kwargs)  # type: ignore[arg-type]
        full = login_page._render(username, message_id, interaction_id)
    return first, second, full


# Fixed (xdist workers must collect the same parameters): shaped as token_urlsafe(24).
ID = "gA9x-Zq7_Lm3NpR5sT8uVw1yB4cD6eFh"


@pytest.mark.parametrize(
    ("url", "method", "data", "headers", "username", "message_id", "interaction_id"),
    [
        ("/login", "GET", None, None, "", None, None),
        (f"/login?i={ID}", "GET", None, None, HOSTILE, None, ID),
        (f"/login?i={ID}&lang=es", "GET", None, None, "", None, ID),
        ("/login", "GET", None, {"Accept-Language": "es"}, "", "missing_fields", None),
        ("/login", "POST", {"i": ID}, None, HOSTILE, "invalid_credentials", ID),
        ("/login?lang=es", "POST", {"i": ID}, None, HOSTILE, "account_locked", ID),
        ("/login", "POST", {}, None, "x", "email_not_verified", None),
        # Shapes the cache does not keep: rendered in full, the same page all the same.
        (f"/login?i={ID}&extra=1", "GET", None, None, "", None, ID),
        ("/login?i=not%20an%20id", "GET", None, None, "", None, "not an id"),
    ],
    ids=[
        "plain",
        "request-hostile-user-id",
        "request-spanish",
        "accept-language-message",
        "failed-post",
        "locked-post-spanish",
        "not-verified-post",
        "extra-query",
        "not-our-id",
    ],
)
def test_the_cached_page_is_the_rendered_page(
    app: Flask,
    url: str,
    method: str,
    data: dict[str, str] | None,
    headers: dict[str, str] | None,
    username: str,
    message_id: str | None,
    interaction_id: str | None,
) -> None:
    first, second, full = _both(
        app,
        url,
        method=method,
        data=data,
        headers=headers,
        username=username,
        message_id=message_id,
        interaction_id=interaction_id,
    )
    assert first == second == full
    assert "Placeholder" not in full.replace(HOSTILE.split()[-1], "")


def test_uncached_shapes_are_not_kept(app: Flask) -> None:
    _both(app, f"/login?i={ID}&extra=1", interaction_id=ID)
    _both(app, "/login?i=not%20an%20id", interaction_id="not an id")
    assert not app.extensions.get(login_page.CACHE_KEY)


def test_one_request_s_values_never_reach_another_s_page(app: Flask) -> None:
    other = secrets.token_urlsafe(24)
    alice, _, _ = _both(app, f"/login?i={ID}", username="alice", interaction_id=ID)
    bob, _, bob_full = _both(app, f"/login?i={other}", username="bob", interaction_id=other)
    assert len(app.extensions[login_page.CACHE_KEY]) == 1  # one shape, two requests
    assert bob == bob_full
    assert ID in alice and "alice" in alice
    assert ID not in bob and "alice" not in bob
    assert other in bob and 'value="bob"' in bob


def test_pages_of_a_sign_in_come_from_the_cache_with_working_forms(
    app: Flask, client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    """Through the real views: the cached page's CSRF token and request id sign in."""
    factory.account("alice")
    rp = factory.client()
    started = oidc.authorize(oidc.request(rp))
    location = started.headers["Location"]
    wrong = oidc.login(location, password="not the password")
    assert wrong.status_code == 401
    assert app.extensions[login_page.CACHE_KEY]
    done = oidc.login(location)
    assert done.status_code in (302, 303), done.text
