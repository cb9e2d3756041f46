"""Choosing credentials: the checks shared by sign-up, first sign-in, the account page
and password reset, so a rule is applied the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from idp.policies.password import PASSWORD_PRESETS, PasswordVerdict, evaluate_password
from idp.policies.security_questions import (
    QuestionChoice,
    QuestionSetVerdict,
    evaluate_question_set,
    normalise_answer,
)
from idp.records import AccountRecord
from idp.store.credentials import CredentialIndex, CredentialKind
from idp.store.security_answers import StoredQuestion

from .methods.password import PasswordHashing


class _HasCredentials(Protocol):
    """A transaction (``UnitOfWork``) seen only for its credentials index."""

    @property
    def credentials(self) -> CredentialIndex: ...


@dataclass(frozen=True, slots=True)
class CredentialRules:
    password_policy: str
    security_questions: int  # 0: questions are turned off
    service_name: str

    def check_password(
        self,
        password: str,
        *,
        context: Iterable[str | None],
        has_second_factor: bool = False,
    ) -> PasswordVerdict:
        return evaluate_password(
            password,
            policy=PASSWORD_PRESETS[self.password_policy],
            context_words=[*context, self.service_name],
            has_second_factor=has_second_factor,
        )

    def check_questions(
        self, choices: Sequence[QuestionChoice], *, username: str, password: str | None
    ) -> QuestionSetVerdict:
        if not self.security_questions:
            return QuestionSetVerdict(())
        forbidden = [username] + ([password] if password else [])
        return evaluate_question_set(
            choices, required=self.security_questions, forbidden_answers=forbidden
        )


def has_second_factor(tx: _HasCredentials, account_id: int) -> bool:
    """An authenticator app or a passkey is enrolled: NIST's 8-character password minimum
    applies instead of 15 (SP 800-63B-4 §3.1.1.2). Recovery codes alone never count."""
    kinds = tx.credentials.kinds(account_id)
    return CredentialKind.TOTP in kinds or CredentialKind.WEBAUTHN in kinds


def account_context(account: AccountRecord, *extra: str | None) -> list[str | None]:
    """Words a password must not contain: user ID, names, email local part, portal names."""
    person = account.person
    words: list[str | None] = [account.username, account.email, *extra]
    if person is not None:
        words += [person.first_name, person.last_name]
    return words


def hash_questions(
    choices: Sequence[QuestionChoice], hashing: PasswordHashing
) -> list[StoredQuestion]:
    """Answers are normalised, then hashed with argon2id like passwords (invariant 5)."""
    return [
        StoredQuestion(
            position=i,
            question_id=choice.question_id,
            custom_text=" ".join((choice.custom_text or "").split()) or None,
            answer_hash=hashing.hash(normalise_answer(choice.answer)),
        )
        for i, choice in enumerate(choices, start=1)
    ]


def answer_matches(stored: StoredQuestion, answer: str, hashing: PasswordHashing) -> bool:
    return hashing.verify(stored.answer_hash, normalise_answer(answer)).ok
