"""A text message arrives in Spanish when the patient asked in Spanish, through the real
webhook SMS gateway of the matching sign-up tests (tests/matching_signup/conftest.py)."""

from __future__ import annotations

from idp.web.locale import LANG_COOKIE
from tests.matching_signup.conftest import (  # noqa: F401 - the sign-up fixtures
    PHONE,
    MatchingActions,
    code_in,
    services,
    signup,
    smtp_server,
    webhook_server,
)


def test_the_phone_code_is_texted_in_spanish(signup: MatchingActions) -> None:  # noqa: F811
    signup.client.set_cookie(LANG_COOKIE, "es")
    flow_id = signup.phone_step(signup.sign_up())
    sent = signup.send_code(flow_id)
    assert sent.status_code == 200 and '<html lang="es">' in sent.text
    [text] = signup.texts()
    assert text["to"] == PHONE
    code = code_in(text)
    assert text["body"] == (
        f"Código de Patient Sign-in: {code}. Confirma su número de teléfono y es válido "
        "durante 10 minutos. No lo comparta. Si usted no lo pidió, ignore este mensaje."
    )


def test_the_phone_code_is_texted_in_english_by_default(signup: MatchingActions) -> None:  # noqa: F811
    flow_id = signup.phone_step(signup.sign_up())
    signup.send_code(flow_id)
    [text] = signup.texts()
    assert text["body"].startswith("Patient Sign-in code: ")
