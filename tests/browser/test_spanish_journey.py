"""Forgot password in Spanish, end to end in headless Chromium (issue 14 item 5).

The same live provider and SMTP server as the English journey
(test_forgot_password_journey.py). The patient opens the sign-in page in English,
chooses "Español" in the language switch (a plain link, no JavaScript needed), and
every later page, and both emails, are in Spanish; the choice survives a new page
load through its cookie.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from idp.flows.credentials import hash_questions
from idp.flows.methods.password import PasswordHashing
from idp.policies.security_questions import QuestionChoice
from tests.live import LiveProvider
from tests.notify.conftest import SmtpServer

from .audit import AXE, axe_violations
from .conftest import chromium
from .test_forgot_password_journey import (  # noqa: F401 - the module's live provider and mail
    ANSWER,
    LINK_RE,
    NEW_PASSWORD,
    TIMEOUT_MS,
    _wait_for_mail,
    live,
    smtp,
)

pytestmark = [pytest.mark.browser, pytest.mark.live]


def _sign_in(page: Page, username: str, password: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").click()


def test_forgot_password_in_spanish_from_the_language_switch(
    live: LiveProvider,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    patient = live.add_account(first_name="Rosa", last_name="Parra")
    hashing = PasswordHashing(live.password_hashing)
    with live.db.transaction() as uow:
        account = uow.accounts.by_username(patient.username)
        assert account is not None
        uow.security_answers.replace(
            account.id,
            hash_questions([QuestionChoice("first_concert", ANSWER)], hashing),
            now=datetime.now(UTC),
        )
    already = len(smtp.mailbox.messages)

    with chromium() as browser:
        context = browser.new_context(locale="en-US", java_script_enabled=False)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            # 1. English by the browser's language; the switch is a labelled, big-enough link.
            page.goto(live.url + "/login?from=portal")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            switch = page.get_by_role("navigation", name="Language")
            spanish = switch.get_by_role("link", name="Español")
            box = spanish.bounding_box()
            assert box and box["height"] >= 44 and box["width"] >= 44
            spanish.focus()
            expect(spanish).to_be_focused()
            spanish.click()
            # Same page, same query, now in Spanish.
            assert re.search(r"/login\?from=portal&lang=es$", page.url), page.url
            expect(page.locator("html")).to_have_attribute("lang", "es")
            expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()

            # 2. Remembered: a page opened afresh, without ?lang=, is in Spanish.
            page.goto(live.url + "/login")
            page.get_by_role("link", name="¿Olvidó su contraseña?").click()
            expect(page.get_by_role("heading", name="¿Olvidó su contraseña?")).to_be_visible()
            page.get_by_label("ID de usuario").fill(patient.username)
            page.get_by_role("button", name="Continuar").click()
            page.get_by_label("¿Cuál fue el primer concierto al que asistió?").fill(ANSWER.lower())
            page.get_by_label("Contraseña nueva", exact=True).fill(NEW_PASSWORD)
            page.get_by_label("Repita la contraseña nueva").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Continuar").click()
            expect(page.get_by_role("heading", name="Revise su correo electrónico")).to_be_visible()

            # 3. The confirmation email is in Spanish, over real SMTP.
            mail = _wait_for_mail(smtp.mailbox, already + 1)[already]
            assert mail["To"] == patient.email
            assert str(mail["Subject"]).endswith(": confirme su nueva contraseña")
            text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert "Confirmar mi contraseña" in text
            link = LINK_RE.search(text)
            assert link, text

            # 4. The link's page and the result, in Spanish.
            page.goto(link.group(0))
            expect(page.locator("html")).to_have_attribute("lang", "es")
            page.get_by_role("button", name="Confirmar mi contraseña").click()
            expect(page.get_by_role("heading", name="Contraseña cambiada")).to_be_visible()
            notice = _wait_for_mail(smtp.mailbox, already + 2)[already + 1]
            assert str(notice["Subject"]).endswith(": se restableció su contraseña")

            # 5. Sign in with the new password; a wrong one is refused in Spanish.
            page.goto(live.url + "/login")
            _sign_in(page, patient.username, patient.password)
            expect(page.locator("[data-message-id=invalid_credentials] li")).to_have_text(
                "El ID de usuario o la contraseña que escribió no son correctos."
            )
            _sign_in(page, patient.username, NEW_PASSWORD)
            page.wait_for_url(lambda url: "/login" not in url)
            expect(page.locator("html")).to_have_attribute("lang", "es")
        finally:
            context.close()


def test_axe_finds_no_violation_on_spanish_patient_pages(live: LiveProvider) -> None:  # noqa: F811
    """The switch and the Spanish pages pass axe-core too (lang attribute, labels, contrast)."""
    if not AXE.exists():
        message = "axe-core is missing: run `make axe` (npm ci --prefix tests/browser/axe)"
        if os.environ.get("IDP_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with chromium() as browser:
        # Our CSP refuses inline scripts, and Playwright injects axe as one.
        context = browser.new_context(bypass_csp=True, locale="es-ES")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        found = {}
        try:
            for path in ("/login", "/forgot-password", "/forgot-user-id", "/signup", "/terms"):
                page.goto(live.url + path)
                expect(page.locator("html")).to_have_attribute("lang", "es")
                violations = axe_violations(page)
                if violations:
                    found[path] = violations
        finally:
            context.close()
    assert found == {}
