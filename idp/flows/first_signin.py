"""First sign-in of an office-made account: choose a password and security questions.

The FAQ: "Login to the portal, change your password and create your security
questions." The temporary password got the patient this far; nothing else is
reachable (no SSO session exists) until this step is done, so the temporary
password can never be used to reach a portal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from idp.clock import Clock
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.interfaces import Transactions

from .credentials import CredentialRules, account_context, hash_questions
from .methods.password import PasswordHashing

SAME_AS_TEMPORARY = "same_as_temporary"
TERMS_NOT_ACCEPTED = "terms_not_accepted"


@dataclass(frozen=True, slots=True)
class SetupResult:
    reasons: tuple[str, ...] = ()
    account: AccountRecord | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons and self.account is not None


class FirstSigninFlow:
    def __init__(
        self, *, db: Transactions, hashing: PasswordHashing, rules: CredentialRules, clock: Clock
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._rules = rules
        self._clock = clock

    def complete(
        self,
        *,
        account_id: int,
        password: str,
        choices: Sequence[QuestionChoice],
        accept_terms: bool,
        meta: RequestMeta,
    ) -> SetupResult:
        with self._db.transaction() as uow:
            account = uow.accounts.by_id(account_id)
            if account is None or not account.is_active or not account.must_change_password:
                return SetupResult(("setup_not_needed",))
            reasons = list(
                self._rules.check_password(password, context=account_context(account)).reasons
            )
            if self._hashing.verify(account.password_hash, password).ok:
                reasons.append(SAME_AS_TEMPORARY)
            reasons += self._rules.check_questions(
                choices, username=account.username, password=password
            ).reasons
            if not accept_terms:
                reasons.append(TERMS_NOT_ACCEPTED)
            if reasons:
                return SetupResult(tuple(dict.fromkeys(reasons)))
            now = self._clock()
            uow.accounts.set_password(account.id, self._hashing.hash(password), now=now)
            if self._rules.security_questions:
                uow.security_answers.replace(
                    account.id, hash_questions(choices, self._hashing), now=now
                )
            uow.accounts.accept_terms(account.id, now=now)
            if account.email and not account.email_verified:
                # The temporary password reached the patient at this address.
                uow.accounts.set_email(account.id, account.email, verified=True, now=now)
            uow.audit.record(
                AuditEntry(
                    type="first_signin_setup",
                    outcome="success",
                    actor=account.subject,
                    subject=account.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                ),
                now=now,
            )
            return SetupResult((), uow.accounts.by_id(account.id))
