"""Emails arrive in the language the patient used when asking for them, through the real
SMTP server the recovery tests use (tests/recovery/conftest.py)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from idp.web.locale import LANG_COOKIE
from tests.helpers import message_ids
from tests.recovery.conftest import (  # noqa: F401 - the recovery fixtures
    Recovery,
    recovery,
    services,
    text_of,
)

link_flow = pytest.mark.settings(accounts__reset_flow="link")


def _html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _reset_mail(recovery: Recovery) -> EmailMessage:  # noqa: F811
    [sent] = recovery.forgot_password("alice")
    assert message_ids(sent.text) == ["recovery_reset_link_sent"], sent.text
    [mail] = recovery.mail()
    return mail


@link_flow
def test_a_reset_link_asked_for_in_spanish_arrives_in_spanish(recovery: Recovery) -> None:  # noqa: F811
    recovery.patient("alice")
    recovery.client.set_cookie(LANG_COOKIE, "es")
    mail = _reset_mail(recovery)
    # Queued as a task and written after the response: the language went with it.
    assert mail["Subject"] == "Patient Sign-in: restablezca su contraseña"
    text = text_of(mail)
    assert "Abra este enlace para elegir una nueva contraseña:" in text
    assert "Open this link" not in text
    html = _html_of(mail)
    assert '<html lang="es">' in html and "Elija una nueva contraseña" in html
    # The link still works, and the page it opens follows the cookie.
    page = recovery.open_link(recovery.link(mail))
    assert page.status_code == 200 and '<html lang="es">' in page.text


@link_flow
def test_the_same_request_in_english_stays_english(recovery: Recovery) -> None:  # noqa: F811
    recovery.patient("alice")
    mail = _reset_mail(recovery)
    assert mail["Subject"] == "Patient Sign-in: reset your password"
    assert "Open this link to choose a new password:" in text_of(mail)
    assert '<html lang="en">' in _html_of(mail)


@link_flow
def test_accept_language_alone_is_enough(recovery: Recovery) -> None:  # noqa: F811
    recovery.patient("alice")
    recovery.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es-MX,es;q=0.9"
    mail = _reset_mail(recovery)
    assert mail["Subject"] == "Patient Sign-in: restablezca su contraseña"
