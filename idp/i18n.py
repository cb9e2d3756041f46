"""The languages the provider speaks and their message catalogues.

Framework-free so that the Flask pages, the email/SMS renderer and the CLI share one
set of catalogues. The ``.po`` files under ``translations/`` are the source of truth
(reviewed in version control); the binary ``.mo`` files are build output, compiled
here whenever one is missing or older than its ``.po``, so a stale binary can never
be served.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from idp.settings import PROJECT_ROOT

log = logging.getLogger("idp.i18n")

DEFAULT_LOCALE = "en"
# English is the source language (the msgids); every other one needs a catalogue.
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "es")
TRANSLATIONS_DIR = PROJECT_ROOT / "translations"
DOMAIN = "messages"


def N_(text: str) -> str:
    """Mark a module-level string for extraction; it is translated where it is shown."""
    return text


def compile_catalogues(root: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older; returns those written.

    Written to a temporary file and renamed, so a process reading the catalogue while
    another compiles it sees the old or the new one, never half of one.
    """
    written: list[Path] = []
    for po_path in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        try:
            fd, tmp = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
        except OSError as exc:
            # A read-only install (an image built without `make setup`): serve what is
            # there, and say why the language may be stale rather than refuse to start.
            log.warning("cannot compile %s (%s); build catalogues at install", po_path, exc)
            continue
        try:
            with os.fdopen(fd, "wb") as mo_file:
                write_mo(mo_file, catalog)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; every worker must read it
            os.replace(tmp, mo_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("compiled %s", mo_path)
        written.append(mo_path)
    _translations.cache_clear()
    return written


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def _translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE or locale not in SUPPORTED_LOCALES:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)


def translations(locale: str) -> NullTranslations:
    return _translations(supported_or_default(locale))


def supported_or_default(locale: str | None) -> str:
    return locale if locale in SUPPORTED_LOCALES else DEFAULT_LOCALE


# The language of a message being rendered outside a request (the outbox worker, the CLI).
_message_locale: ContextVar[str | None] = ContextVar("idp_message_locale", default=None)


@contextmanager
def message_locale(locale: str | None) -> Any:
    """Render messages in ``locale`` (unsupported or missing: English) inside the block."""
    token = _message_locale.set(supported_or_default(locale))
    try:
        yield
    finally:
        _message_locale.reset(token)


def current_message_locale() -> str | None:
    """The language set by :func:`message_locale`, or None outside such a block."""
    return _message_locale.get()


def active_locale() -> str:
    """The language to write in now: a :func:`message_locale` block's, else the page's.

    Outside both (the CLI, a background thread) English.
    """
    chosen = _message_locale.get()
    if chosen is not None:
        return chosen
    from flask import current_app, has_request_context

    if has_request_context() and "babel" in current_app.extensions:
        from flask_babel import get_locale

        return supported_or_default(str(get_locale()))
    return DEFAULT_LOCALE


def translate(text: str) -> str:
    """``text`` (an English msgid) in the active language."""
    return translations(active_locale()).ugettext(text)


# A date as each language writes it, by the strftime pattern the English text uses.
# English keeps strftime (the texts and tests were written against it); another
# language gets its month names and word order from CLDR through Babel.
_DATE_PATTERNS: dict[str, dict[str, str]] = {
    "es": {
        "%d %b %Y": "d MMM y",
        "%d %B %Y": "d 'de' MMMM 'de' y",
        "%d %b %Y, %H:%M UTC": "d MMM y, HH:mm 'UTC'",
        "%d %b %Y %H:%M UTC": "d MMM y, HH:mm 'UTC'",
        "%d %B %Y at %H:%M UTC": "d 'de' MMMM 'de' y 'a las' HH:mm 'UTC'",
    }
}


def format_when(moment: date | datetime, pattern: str) -> str:
    """``moment`` written with ``pattern`` (strftime, as in English) in the active language."""
    cldr = _DATE_PATTERNS.get(active_locale(), {}).get(pattern)
    if cldr is None:
        return moment.strftime(pattern)
    if isinstance(moment, datetime):
        return format_datetime(moment, cldr, locale=active_locale())
    return format_date(moment, cldr, locale=active_locale())
