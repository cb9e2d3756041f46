"""Reading form fields shared by several pages (field names are part of the page contract)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from idp.policies.security_questions import CUSTOM, QuestionChoice

MAX_FIELD = 1024


def field(form: Mapping[str, str], name: str, *, limit: int = MAX_FIELD) -> str:
    """One text field, stripped; oversized input is cut (the validators then refuse it)."""
    return (form.get(name) or "")[: limit + 1].strip()


def question_choices(form: Mapping[str, str], count: int) -> list[QuestionChoice]:
    """Fields ``question_N``, ``answer_N`` and, for an own question, ``custom_question_N``."""
    choices = []
    for n in range(1, count + 1):
        question_id = field(form, f"question_{n}", limit=32)
        choices.append(
            QuestionChoice(
                question_id=question_id,
                answer=field(form, f"answer_{n}", limit=200),
                custom_text=field(form, f"custom_question_{n}", limit=300)
                if question_id == CUSTOM
                else None,
            )
        )
    return choices


def question_values(choices: Sequence[QuestionChoice]) -> dict[str, str]:
    """What a refused form shows again of the security questions being chosen: each
    question, an own question's text and its answer, so that a refused password does not
    make the patient type three answers again (issue 14, item 6). New answers are typed
    in clear and are not yet a credential; passwords and codes are never echoed, and every
    page is ``Cache-Control: no-store``."""
    values = {}
    for n, choice in enumerate(choices, start=1):
        values[f"question_{n}"] = choice.question_id
        values[f"custom_question_{n}"] = choice.custom_text or ""
        values[f"answer_{n}"] = choice.answer
    return values
