"""Message templates: plain text and HTML for email, plain text for SMS.

Files live under ``templates/``: ``email/<name>.txt`` (which sets the subject
with ``{% set subject = … %}``), ``email/<name>.html`` (usually extending
``email/base.html``) and ``sms/<name>.txt``. HTML is autoescaped, so a name such
as ``<b>Eve</b>`` arrives as text; undefined variables are errors, not blanks.

A standalone Jinja environment: nothing here depends on Flask, so flows, the
CLI and background dispatchers render alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from idp.i18n import DEFAULT_LOCALE, current_message_locale, message_locale, translations

# Stable snake_case names; also keeps a name from walking out of the template folder.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class TemplateMissing(LookupError):
    """A message template is missing or incomplete (a deployment error, not user input)."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _check(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TemplateMissing(f"template names are snake_case, got {name!r}")
    return name


def _tidy(text: str) -> str:
    return text.strip() + "\n"


def _language() -> str:
    return current_message_locale() or DEFAULT_LOCALE


def _gettext(text: str) -> str:
    return translations(_language()).ugettext(text)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language()).ungettext(singular, plural, n)


class TemplateRenderer:
    def __init__(self, root: Path, *, globals: Mapping[str, Any] | None = None) -> None:
        loader = FileSystemLoader(str(root))
        common: dict[str, Any] = {
            "undefined": StrictUndefined,
            "auto_reload": False,
            "extensions": ["jinja2.ext.i18n"],
        }
        self._html = Environment(loader=loader, autoescape=True, **common)
        self._text = Environment(
            loader=loader, autoescape=False, trim_blocks=True, lstrip_blocks=True, **common
        )
        for env in (self._html, self._text):
            env.globals.update(globals or {})
            # The language is read at each call, from message_locale(): one environment
            # serves every language and every thread.
            env.globals["translate"] = _gettext
            env.install_gettext_callables(  # type: ignore[attr-defined]
                _gettext, _ngettext, newstyle=True
            )

    def email(
        self, name: str, context: Mapping[str, Any], *, locale: str = DEFAULT_LOCALE
    ) -> RenderedEmail:
        _check(name)
        with message_locale(locale):
            return self._email(name, context)

    def _email(self, name: str, context: Mapping[str, Any]) -> RenderedEmail:
        try:
            module = self._text.get_template(f"email/{name}.txt").make_module(dict(context))
            subject = getattr(module, "subject", None)
            if not isinstance(subject, str) or not subject.strip():
                raise TemplateMissing(f"email/{name}.txt must {{% set subject = ... %}}")
            # One line: a header must never carry a line break (header injection).
            subject = " ".join(subject.split())
            html = self._html.get_template(f"email/{name}.html").render(
                dict(context), subject=subject, lang=_language()
            )
        except TemplateError as exc:
            raise TemplateMissing(f"email template {name!r}: {exc}") from exc
        return RenderedEmail(subject=subject, text=_tidy(str(module)), html=_tidy(html))

    def sms(self, name: str, context: Mapping[str, Any], *, locale: str = DEFAULT_LOCALE) -> str:
        _check(name)
        try:
            with message_locale(locale):
                return self._text.get_template(f"sms/{name}.txt").render(dict(context)).strip()
        except TemplateError as exc:
            raise TemplateMissing(f"sms template {name!r}: {exc}") from exc
