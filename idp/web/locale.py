"""Which language a page is shown in, and the switch that changes it.

The rule (:func:`choose_locale`) is pure so it can be tested on hostile input alone:
the patient's explicit choice (the switch's ``?lang=``, then the cookie that remembers
it) wins over the portal's ``ui_locales`` for the sign-in it started (OpenID Connect
Core §3.1.2.1), which wins over the browser's ``Accept-Language``; anything we do not
speak, or cannot parse, falls through to the next source and finally to English.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Flask, Response, g, request
from flask_babel import Babel, get_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from idp.i18n import (
    DEFAULT_LOCALE,
    SUPPORTED_LOCALES,
    TRANSLATIONS_DIR,
    compile_catalogues,
    format_when,
    translate,
)

LANG_PARAM = "lang"
LANG_COOKIE = "idp_lang"
# A year: the choice is a preference, not a credential.
LANG_COOKIE_MAX_AGE = 365 * 86400
# Longer than any honest header or parameter; past it we do not parse at all.
MAX_HEADER_CHARS = 1024
MAX_UI_LOCALES_CHARS = 256

# A BCP 47 language tag's shape (RFC 5646 §2.1, loosely; "_" as browsers' cookies send it).
_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,6}")

# What each language is called in itself, for the switch.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def supported(tag: str | None) -> str | None:
    """``es``, ``es-MX``, ``ES_us`` → ``es``; anything else (``xx``, ``../..``) → None."""
    if not tag or not _TAG.fullmatch(tag):
        return None
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LOCALES else None


def from_ui_locales(value: str | None) -> str | None:
    """The first supported tag of a space-separated ``ui_locales`` list, in its order."""
    if not value or len(value) > MAX_UI_LOCALES_CHARS:
        return None
    for tag in value.split():
        found = supported(tag)
        if found:
            return found
    return None


def from_accept_language(value: str | None) -> str | None:
    """The best supported language by the header's q-values (RFC 9110 §12.5.4)."""
    if not value or len(value) > MAX_HEADER_CHARS:
        return None
    accepted = parse_accept_header(value, LanguageAccept)
    best: tuple[float, str] | None = None
    for tag, quality in accepted:
        found = supported(tag)
        if found and quality > 0 and (best is None or quality > best[0]):
            best = (quality, found)
    return best[1] if best else None


def choose_locale(
    *,
    explicit: str | None = None,
    remembered: str | None = None,
    ui_locales: str | None = None,
    accept_language: str | None = None,
) -> str:
    return (
        supported(explicit)
        or supported(remembered)
        or from_ui_locales(ui_locales)
        or from_accept_language(accept_language)
        or DEFAULT_LOCALE
    )


def _interaction_ui_locales() -> str | None:
    """``ui_locales`` of the authorization request this sign-in page serves, if any."""
    if "ui_locales" in request.args and request.endpoint and "authorize" in request.endpoint:
        return request.args.get("ui_locales")
    from idp.web.deps import pending_interaction

    try:
        # The form only if it was read without trouble: an error page for a body too
        # large must not fail again here while it renders.
        interaction_id = request.args.get("i") or request.form.get("i")
        if not interaction_id:
            return None
        # Usually already read by the view (the sign-in page): no second round trip.
        interaction = pending_interaction(interaction_id)
    except Exception:  # nor must a store that is down stop a page from rendering
        return None
    return interaction.params.get("ui_locales") if interaction else None


def select_locale() -> str:
    if "idp_locale" not in g:
        g.idp_locale = choose_locale(
            explicit=request.args.get(LANG_PARAM),
            remembered=request.cookies.get(LANG_COOKIE),
            ui_locales=_interaction_ui_locales(),
            accept_language=request.headers.get("Accept-Language"),
        )
    return str(g.idp_locale)


def active_locale() -> str:
    return str(get_locale() or DEFAULT_LOCALE)


def switch_url(locale: str) -> str:
    """This page (same path and query) in ``locale``: the switch's link."""
    return switch_url_from(request.path, switch_args(), locale)


def switch_args() -> list[tuple[str, str]]:
    """This request's query but the language choice: what the switch's links keep."""
    return [(k, v) for k, v in request.args.items(multi=True) if k != LANG_PARAM]


def switch_url_from(path: str, args: list[tuple[str, str]], locale: str) -> str:
    """:func:`switch_url` for a given path and query (the cached sign-in page's links)."""
    return f"{path}?{urlencode([*args, (LANG_PARAM, locale)])}"


def remember_choice(response: Response) -> Response:
    """The switch's choice is kept in a cookie, so every later page follows it."""
    chosen = supported(request.args.get(LANG_PARAM))
    if chosen and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def init_locale(app: Flask) -> None:
    compile_catalogues()
    app.config["BABEL_DEFAULT_LOCALE"] = DEFAULT_LOCALE
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_locale)
    app.after_request(remember_choice)
    app.jinja_env.globals.update(
        active_locale=active_locale,
        # For text that comes from a variable (a curated question, a word from a table):
        # looked up in the catalogue, never %-formatted, so user-written text is safe.
        translate=translate,
        format_when=format_when,
        switch_url=switch_url,
        language_names=LANGUAGE_NAMES,
    )
