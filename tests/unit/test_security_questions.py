"""Security question sets and answer normalisation."""

from __future__ import annotations

import pytest

from idp.policies.security_questions import (
    ANSWER_IS_CREDENTIAL,
    ANSWER_REPEATED,
    ANSWER_TOO_SHORT,
    CURATED_QUESTIONS,
    CUSTOM,
    CUSTOM_QUESTION_INVALID,
    DUPLICATE_QUESTION,
    UNKNOWN_QUESTION,
    WRONG_COUNT,
    QuestionChoice,
    evaluate_question_set,
    normalise_answer,
    question_text,
)

Q = list(CURATED_QUESTIONS)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("St. Louis", "st louis"),
        ("  ST LOUIS  ", "st louis"),
        ("st-louis", "stlouis"),
        ("Ｍｒｓ．　Ｄａｌｌｏｗａｙ", "mrs dalloway"),  # full-width, NFKC
        ("Zoë", "zoë"),
        ("O'Brien", "obrien"),
    ],
)
def test_answers_are_normalised(typed: str, stored: str) -> None:
    assert normalise_answer(typed) == stored


def _set(*answers: str, questions: list[str] | None = None) -> list[QuestionChoice]:
    qs = questions or Q
    return [QuestionChoice(q, a) for q, a in zip(qs, answers, strict=False)]


@pytest.mark.parametrize(
    ("choices", "reasons"),
    [
        (_set("Metallica", "Jordan", "Elm Street"), ()),
        (_set("Metallica", "Jordan"), (WRONG_COUNT,)),
        (_set("Metallica", "Jordan", "Elm", questions=[Q[0], Q[0], Q[1]]), (DUPLICATE_QUESTION,)),
        (_set("Metallica", "Jordan", "x"), (ANSWER_TOO_SHORT,)),
        (_set("Metallica", "metallica!", "Elm Street"), (ANSWER_REPEATED,)),
        (_set("Metallica", "Jordan", "jdoe77"), (ANSWER_IS_CREDENTIAL,)),
        (
            [QuestionChoice("mothers_maiden_name", "Smith"), *_set("Jordan", "Elm Street")],
            (UNKNOWN_QUESTION,),
        ),
        (
            [QuestionChoice(CUSTOM, "Rex", "Dog?"), *_set("Jordan", "Elm Street")],
            (CUSTOM_QUESTION_INVALID,),
        ),
        (
            [
                QuestionChoice(CUSTOM, "Rex", "Name of my grandmother's dog?"),
                *_set("Jordan", "Elm Street"),
            ],
            (),
        ),
    ],
)
def test_question_sets(choices: list[QuestionChoice], reasons: tuple[str, ...]) -> None:
    verdict = evaluate_question_set(choices, required=3, forbidden_answers=("jdoe77", "pw"))
    assert verdict.reasons == reasons


def test_question_text() -> None:
    assert question_text(Q[0], None) == CURATED_QUESTIONS[Q[0]]
    assert question_text(CUSTOM, "My own?") == "My own?"
    assert question_text("nope", None) == ""
