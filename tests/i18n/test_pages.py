"""Every source of the page language, end to end through the real pages (issue 14 item 5)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from idp.web.locale import LANG_COOKIE
from tests.conftest import Factory
from tests.helpers import OIDCActions, csrf_token

SPANISH_SIGN_IN = "<h1>Iniciar sesión</h1>"
ENGLISH_SIGN_IN = "<h1>Sign in</h1>"


def _lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]*)"', html)
    assert match, html[:200]
    return match.group(1)


def _login_location(oidc: OIDCActions, factory: Factory, ui_locales: str) -> str:
    rp = factory.client()
    started = oidc.authorize(oidc.request(rp, extra={"ui_locales": ui_locales}))
    assert started.status_code in (302, 303), started.text
    return started.headers["Location"]


def test_ui_locales_of_the_authorization_request_gives_the_spanish_sign_in(
    client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    factory.account("alice")
    location = _login_location(oidc, factory, "fr-CA es-MX en")
    page = client.get(location)
    assert page.status_code == 200
    assert _lang(page.text) == "es" and SPANISH_SIGN_IN in page.text
    # The pages after it, for the same request, stay in Spanish: a wrong password too.
    wrong = oidc.login(location, password="not the password")
    assert _lang(wrong.text) == "es"
    assert "El ID de usuario o la contraseña que escribió no son correctos." in wrong.text
    # No cookie: the portal's wish is for this sign-in only.
    assert LANG_COOKIE not in (wrong.headers.get("Set-Cookie") or "")
    assert ENGLISH_SIGN_IN in client.get("/login").text


def test_accept_language_is_honoured(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "de-DE, es;q=0.8, en;q=0.5"})
    assert _lang(page.text) == "es" and SPANISH_SIGN_IN in page.text
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,es;q=0.8"})
    assert _lang(page.text) == "en" and ENGLISH_SIGN_IN in page.text


def test_the_switch_is_remembered_and_beats_every_other_source(
    client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    chosen = client.get("/login?lang=es", headers={"Accept-Language": "en"})
    assert SPANISH_SIGN_IN in chosen.text
    cookie = chosen.headers["Set-Cookie"]
    assert f"{LANG_COOKIE}=es" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Remembered: later pages without ?lang= follow it, over Accept-Language and ui_locales.
    forgot = client.get("/forgot-password", headers={"Accept-Language": "en"})
    assert "<h1>¿Olvidó su contraseña?</h1>" in forgot.text
    location = _login_location(oidc, factory, "en")
    assert SPANISH_SIGN_IN in client.get(location).text
    # Switching back is remembered too.
    back = client.get("/login?lang=en")
    assert ENGLISH_SIGN_IN in back.text and f"{LANG_COOKIE}=en" in back.headers["Set-Cookie"]
    assert ENGLISH_SIGN_IN in client.get("/login", headers={"Accept-Language": "es"}).text


def test_the_switch_keeps_the_page_and_its_query(client: FlaskClient) -> None:
    page = client.get("/login?i=abc&x=1&lang=en")
    links = dict(re.findall(r'<a href="([^"]+)" lang="(en|es)" hreflang="\2"', page.text))
    assert links == {
        "/login?i=abc&amp;x=1&amp;lang=en": "en",
        "/login?i=abc&amp;x=1&amp;lang=es": "es",
    }
    nav = re.search(r'<nav class="language-switch" aria-label="([^"]+)">', page.text)
    assert nav and nav.group(1) == "Language"
    assert 'aria-current="true">English<' in page.text
    spanish = client.get("/login?lang=es")
    assert 'aria-label="Idioma"' in spanish.text and 'aria-current="true">Español<' in spanish.text


def test_hostile_language_values_fall_back_to_english_without_error(
    client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    for value in ("xx", "../../etc/passwd", "e" * 500, "<b>es</b>", "es-" + "x" * 40):
        page = client.get("/login", query_string={"lang": value})
        assert page.status_code == 200 and _lang(page.text) == "en", value
        assert LANG_COOKIE not in (page.headers.get("Set-Cookie") or "")
    client.set_cookie(LANG_COOKIE, "../../etc")
    assert _lang(client.get("/login").text) == "en"
    client.delete_cookie(LANG_COOKIE)
    location = _login_location(oidc, factory, "../../etc")
    assert _lang(client.get(location).text) == "en"
    huge = ", ".join(f"x-{i};q=0.{i % 9 + 1}" for i in range(2000)) + ", es"
    page = client.get("/login", headers={"Accept-Language": huge})
    assert page.status_code == 200 and _lang(page.text) == "en"


def test_discovery_lists_the_languages_we_speak(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["ui_locales_supported"] == ["en", "es"]


def _get_pages(app: Flask) -> list[str]:
    """Every GET route without path arguments: the pages a visitor can open directly."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint != "static":
            paths.append(rule.rule)
    return sorted(paths)


# English that must not survive on a Spanish page: the switch's label and the sign-in
# button, both from the base templates, and the form every page shares.
ENGLISH_SENTINELS = ('aria-label="Language"', ">Sign in<", ">Forgot your password?<")


def test_every_reachable_page_in_spanish_has_no_english_sentinel(
    app: Flask, client: FlaskClient, oidc: OIDCActions, factory: Factory
) -> None:
    factory.account("alice")
    checked = 0

    def check_all() -> int:
        seen = 0
        for path in _get_pages(app):
            page = client.get(path, query_string={"lang": "es"})
            if page.status_code != 200 or not page.mimetype == "text/html":
                continue
            assert _lang(page.text) == "es", path
            for sentinel in ENGLISH_SENTINELS:
                assert sentinel not in page.text, (path, sentinel)
            seen += 1
        return seen

    checked += check_all()
    login = client.get("/login")
    signed_in = client.post(
        "/login",
        data={
            "username": "alice",
            "password": "correct horse battery staple",
            "csrf_token": csrf_token(login.text),
        },
    )
    assert signed_in.status_code in (302, 303)
    checked += check_all()
    assert checked >= 20


def test_an_error_page_for_a_body_too_large_is_in_spanish_too(client: FlaskClient) -> None:
    """The locale rule reads the form for ``i``; a body it cannot read must not break it."""
    refused = client.post(
        "/login",
        data={"i": "x" * 100_000},
        headers={"Accept-Language": "es"},
    )
    assert refused.status_code == 413
    assert _lang(refused.text) == "es" and "La solicitud era demasiado grande." in refused.text
