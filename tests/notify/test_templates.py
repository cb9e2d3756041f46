"""Message templates: subject from the text template, HTML autoescaped, names checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.notify import TemplateMissing, TemplateRenderer

from .conftest import LINK


def test_email_has_subject_text_and_escaped_html(renderer: TemplateRenderer) -> None:
    rendered = renderer.email("test_message", {"name": '<script>"x"</script>', "link": LINK})
    assert rendered.subject == 'Patient Sign-in: test message for <script>"x"</script>'
    assert rendered.text.startswith('Hello <script>"x"</script>,\n')
    assert LINK in rendered.text
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert f'<a href="{LINK}"' in rendered.html
    assert '<html lang="en">' in rendered.html
    assert "<title>Patient Sign-in: test message for &lt;script&gt;" in rendered.html


def test_subject_is_one_line(renderer: TemplateRenderer) -> None:
    rendered = renderer.email("test_message", {"name": "A\r\nBcc: x@evil.test", "link": LINK})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_sms_template(renderer: TemplateRenderer) -> None:
    assert renderer.sms("test_message", {"code": "123456"}) == (
        "Patient Sign-in test code: 123456. Do not share this code with anyone."
    )


def test_missing_variable_is_an_error_not_a_blank(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateMissing):
        renderer.email("test_message", {"name": "Alice"})


@pytest.mark.parametrize("name", ["no_such_template", "../base", "Test_Message", "", "a/b"])
def test_unknown_or_unsafe_names_are_refused(renderer: TemplateRenderer, name: str) -> None:
    with pytest.raises(TemplateMissing):
        renderer.email(name, {})


def test_text_template_must_set_a_subject(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "bare.txt").write_text("Hello\n")
    (tmp_path / "email" / "bare.html").write_text("<p>Hello</p>\n")
    with pytest.raises(TemplateMissing, match="subject"):
        TemplateRenderer(tmp_path).email("bare", {})
