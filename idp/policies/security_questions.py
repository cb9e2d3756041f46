"""Security questions: the curated list, how answers are normalised, what a set must hold.

The portal FAQs promise security questions; NIST SP 800-63B-4 and ASVS 6.4.2
do not accept them as an authenticator (standards.md §2). So here they are only
a recovery aid: answers are normalised and hashed with argon2id like passwords,
wrong answers count toward the lockout, and a deployment can turn them off.

Questions are chosen to have answers that are stable, memorable and not found
on a social-media profile (no "mother's maiden name", no "city of birth").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from idp.i18n import N_

CURATED_QUESTIONS: dict[str, str] = {
    "first_concert": N_("What was the first concert you went to?"),
    "childhood_friend": N_("What was the first name of your childhood best friend?"),
    "first_job_street": N_("On what street was your first job?"),
    "favorite_teacher": N_("What was the last name of your favorite teacher?"),
    "first_pet_toy": N_("What was your first pet's favorite toy?"),
    "dream_job": N_("What did you want to be when you grew up?"),
    "first_car_color": N_("What was the make and color of your first car?"),
    "grandparent_town": N_("In what town did one of your grandparents live?"),
    "childhood_nickname": N_("What was your childhood nickname?"),
    "first_book": N_("What is the first book you remember reading?"),
}
CUSTOM = "custom"

MIN_ANSWER = 3
MAX_ANSWER = 100
MIN_CUSTOM_QUESTION = 10
MAX_CUSTOM_QUESTION = 200

# Reason codes.
WRONG_COUNT = "wrong_question_count"
UNKNOWN_QUESTION = "unknown_question"
DUPLICATE_QUESTION = "duplicate_question"
ANSWER_TOO_SHORT = "answer_too_short"
ANSWER_TOO_LONG = "answer_too_long"
ANSWER_REPEATED = "answer_repeated"
ANSWER_IS_CREDENTIAL = "answer_is_credential"
CUSTOM_QUESTION_INVALID = "custom_question_invalid"


@dataclass(frozen=True, slots=True)
class QuestionChoice:
    question_id: str  # a key of CURATED_QUESTIONS, or "custom"
    answer: str
    custom_text: str | None = None


@dataclass(frozen=True, slots=True)
class QuestionSetVerdict:
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def normalise_answer(answer: str) -> str:
    """Case, spacing, punctuation and Unicode form do not matter ("St. Louis" = "st louis")."""
    text = unicodedata.normalize("NFKC", answer).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    text = text.replace("_", " ")
    return " ".join(text.split())


def question_text(choice_id: str, custom_text: str | None) -> str:
    if choice_id == CUSTOM:
        return custom_text or ""
    return CURATED_QUESTIONS.get(choice_id, "")


def evaluate_question_set(
    choices: Sequence[QuestionChoice],
    *,
    required: int,
    forbidden_answers: Sequence[str] = (),
) -> QuestionSetVerdict:
    """All reasons a set of questions and answers is refused.

    ``forbidden_answers`` holds the user ID and password: an answer equal to
    either would turn a recovery aid into a copy of the credential.
    """
    reasons: list[str] = []

    def add(code: str) -> None:
        if code not in reasons:
            reasons.append(code)

    if len(choices) != required:
        add(WRONG_COUNT)
    seen_questions: set[str] = set()
    seen_answers: set[str] = set()
    forbidden = {normalise_answer(f) for f in forbidden_answers if f}
    for choice in choices:
        if choice.question_id == CUSTOM:
            text = " ".join((choice.custom_text or "").split())
            if not MIN_CUSTOM_QUESTION <= len(text) <= MAX_CUSTOM_QUESTION:
                add(CUSTOM_QUESTION_INVALID)
            key = "custom:" + text.casefold()
        elif choice.question_id in CURATED_QUESTIONS:
            key = choice.question_id
        else:
            add(UNKNOWN_QUESTION)
            continue
        if key in seen_questions:
            add(DUPLICATE_QUESTION)
        seen_questions.add(key)
        answer = normalise_answer(choice.answer)
        if len(answer) < MIN_ANSWER:
            add(ANSWER_TOO_SHORT)
        if len(choice.answer) > MAX_ANSWER:
            add(ANSWER_TOO_LONG)
        if answer and answer in seen_answers:
            add(ANSWER_REPEATED)
        if answer and answer in forbidden:
            add(ANSWER_IS_CREDENTIAL)
        seen_answers.add(answer)
    return QuestionSetVerdict(tuple(reasons))
