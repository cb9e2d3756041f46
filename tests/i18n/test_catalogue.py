"""The Spanish catalogue is complete and the template is current, so new English text
without a translation fails the build (issue 14 item 5).

Fix a failure with ``make messages``, then translate the new entries of
``translations/es/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from idp.i18n import SUPPORTED_LOCALES, TRANSLATIONS_DIR, compile_catalogues, translations
from idp.settings import PROJECT_ROOT

POT = TRANSLATIONS_DIR / "messages.pot"
# %(name)s and {name} placeholders, and a literal %% (templates format every message).
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)s|\{[a-z_]+\}|%%")
TRANSLATED = [locale for locale in SUPPORTED_LOCALES if locale != "en"]


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_template_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "translate",
            "--no-location",
            "--omit-header",
            "-o",
            str(fresh),
            "idp",
            "templates",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    extracted, committed = _ids(_read(fresh)), _ids(_read(POT))
    assert extracted - committed == set(), "new texts: run `make messages` and translate them"
    assert committed - extracted == set(), "texts no longer used: run `make messages`"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_text_is_translated(locale: str) -> None:
    po = _read(TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po", locale)
    assert _ids(po) == _ids(_read(POT))
    problems = []
    for message in po:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(("untranslated or fuzzy", message.id))
            continue
        source = message.id if isinstance(message.id, str) else message.id[-1]
        for text in strings:
            if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(source)):
                problems.append(("placeholders differ", message.id))
    assert problems == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_compiled_catalogue_is_the_committed_one(locale: str) -> None:
    """The .mo is built from the .po (never committed), and rebuilt when older than it."""
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    mo_path = po_path.with_suffix(".mo")
    compile_catalogues()
    assert mo_path.stat().st_mtime >= po_path.stat().st_mtime
    assert translations(locale).ugettext("Sign in") == "Iniciar sesión"
    tracked = subprocess.run(
        ["git", "ls-files", "--", str(mo_path)], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert tracked.stdout.strip() == ""


def test_a_missing_or_stale_binary_is_rebuilt_from_the_po(tmp_path: Path) -> None:
    from babel.messages.mofile import read_mo

    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "messages.po"
    po.write_text('msgid "Sign in"\nmsgstr "Entrar"\n', encoding="utf-8")
    assert compile_catalogues(tmp_path) == [folder / "messages.mo"]
    assert compile_catalogues(tmp_path) == []  # fresh: left alone
    po.write_text('msgid "Sign in"\nmsgstr "Iniciar sesión"\n', encoding="utf-8")
    mo = folder / "messages.mo"
    os.utime(mo, (0, 0))  # older than the .po, as after a `git pull`
    assert compile_catalogues(tmp_path) == [mo]
    with mo.open("rb") as file:
        assert read_mo(file).get("Sign in").string == "Iniciar sesión"
    assert oct(mo.stat().st_mode & 0o777) == "0o644"
