"""The locale rule alone: each source in its order, and hostile values falling back to en."""

from __future__ import annotations

import pytest

from idp.web.locale import choose_locale, from_accept_language, from_ui_locales, supported


def test_english_without_any_source() -> None:
    assert choose_locale() == "en"


def test_each_source_in_its_order() -> None:
    everything = {
        "explicit": "es",
        "remembered": "en",
        "ui_locales": "en",
        "accept_language": "en",
    }
    assert choose_locale(**everything) == "es"
    assert choose_locale(**{**everything, "explicit": None, "remembered": "es"}) == "es"
    assert choose_locale(explicit="en", remembered="es") == "en"
    assert choose_locale(ui_locales="es-MX en", accept_language="en-US") == "es"
    assert choose_locale(ui_locales="fr", accept_language="es;q=0.5, fr") == "es"
    assert choose_locale(accept_language="de, es-419;q=0.8, en;q=0.7") == "es"
    assert choose_locale(accept_language="de, en;q=0.9, es;q=0.8") == "en"


def test_ui_locales_keeps_the_portals_order() -> None:
    assert from_ui_locales("fr-CA es en") == "es"
    assert from_ui_locales("en es") == "en"


@pytest.mark.parametrize(
    "hostile",
    [
        "xx",
        "../../etc/passwd",
        "<script>alert(1)</script>",
        "x-es",
        "",
        " ",
        "e" * 10_000,
        "ES-" + "x" * 40,
        "\x00es",
        "*",
    ],
)
def test_hostile_values_fall_back_to_english(hostile: str) -> None:
    assert choose_locale(explicit=hostile, remembered=hostile) == "en"
    assert choose_locale(ui_locales=hostile) == "en"
    assert choose_locale(accept_language=hostile) == "en"


def test_a_huge_accept_language_is_not_parsed() -> None:
    huge = ", ".join(f"x{i};q=0.1" for i in range(5000)) + ", es"
    assert from_accept_language(huge) is None
    assert choose_locale(accept_language=huge) == "en"


def test_q_zero_means_not_acceptable() -> None:
    assert from_accept_language("es;q=0, en;q=0.1") == "en"
    assert from_accept_language("es;q=0") is None


def test_region_and_case_are_ignored() -> None:
    assert supported("ES_us") == "es"
    assert supported("en-GB") == "en"
    assert supported("esx") is None
