"""The help desk's patient operations: unlock, reset link, email change, MFA reset,
close and reopen (issue 11 item 1, the ``support`` role; ``admin`` too).

Each takes the principal and the patient's user ID, refuses bad input and a role that
does not cover it before anything is written (:class:`~.errors.StaffError`), and makes
its change and the audit event (staff actor, role, reason) in one transaction.
Ephemeral effects that cannot join the transaction (a lockout cleared, sessions ended)
happen after the commit, so a refused or failed request leaves them alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from idp.clock import Clock
from idp.i18n import format_when, translate
from idp.notify import InvalidEmailAddress, Notifier, check_email_address
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import AccountRecord, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from ..mfa_reset import FactorsReset, reset_second_factors
from ..recovery_common import RECOVERABLE, mask_email
from .access import authorize, staff_event
from .errors import Conflict, InvalidInput, NotFound
from .inputs import check_reason, check_username

RESET_PURPOSE = "reset_password"
# Every emailed link of an account (account_settings.LINK_PURPOSES): closing ends them all.
LINK_PURPOSES = ("change_email", RESET_PURPOSE, "verify_email")


class Unlocker(Protocol):
    def unlock(self, key: str) -> None: ...


class SessionEnder(Protocol):
    def end_all_for(self, subject: str, *, now: float) -> None: ...


class GrantRevoker(Protocol):
    def revoke_grant(self, grant_id: str) -> Any: ...


class ResetLinks(Protocol):
    """The forgot-password flow's link issuing (``ForgotPasswordFlow``)."""

    def issue_link(
        self, uow: Any, account: AccountRecord, data: dict[str, Any], *, now: datetime
    ) -> str: ...

    def email_link(
        self, uow: Any, account: AccountRecord, token: str, data: Any, *, now: datetime
    ) -> None: ...

    def link_url(self, token: str, data: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class ResetLinkIssued:
    username: str
    expires_at: datetime
    ttl: int
    link: str | None  # printed for the staff member to pass on; None when emailed
    sent_to: str | None  # the masked address it was emailed to


@dataclass(frozen=True, slots=True)
class EmailChanged:
    username: str
    email: str
    notice_to_old: bool


class SupportDesk:
    def __init__(
        self,
        *,
        db: Transactions,
        clock: Clock,
        notifier: Notifier,
        attempts: Unlocker,
        sessions: SessionEnder,
        grants: GrantRevoker,
        reset_links: Callable[[], ResetLinks],
        reset_link_ttl: int,
        reindex: Callable[[Any, int], object],
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        self._attempts = attempts
        self._sessions = sessions
        self._grants = grants
        self._reset_links = reset_links
        self._reset_link_ttl = reset_link_ttl
        # Keeps the identity-matching index in step with a changed email (a store detail).
        self._reindex = reindex

    # --- unlock ------------------------------------------------------------------------------

    def unlock(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
        reason_required: bool = True,
    ) -> AccountRecord:
        """End every lock of the user ID (unknown browsers, its devices, the hard cap).

        ``reason_required=False`` only for ``idp users unlock U``, which scripts call
        without one (issue 11 item 5 keeps every command as it was).
        """
        authorize(principal, Operation.UNLOCK)
        why = check_reason(reason, required=reason_required)
        username = check_username(username)
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            now = self._clock()
            if account.status == "locked":
                uow.accounts.set_status(account.id, "active", now=now)
            uow.audit.record(
                staff_event(
                    principal,
                    "account_unlocked",
                    Operation.UNLOCK,
                    subject=account.subject,
                    reason=why,
                    meta=meta,
                ),
                now=now,
            )
            # Inside the block: a commit that fails afterwards leaves a cleared counter
            # only, which is what the staff member asked for; never the reverse.
            self._attempts.unlock(username_key(account.username))
        return account

    # --- reset link --------------------------------------------------------------------------

    def send_reset_link(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        reason: str | None,
        email: bool,
        meta: RequestMeta | None = None,
    ) -> ResetLinkIssued:
        """A one-time link to choose a new password; printed for staff or emailed."""
        authorize(principal, Operation.SEND_RESET_LINK)
        why = check_reason(reason)
        username = check_username(username)
        flow = self._reset_links()
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            if account.status not in RECOVERABLE:
                raise Conflict(
                    translate("account {username} is {status}; it cannot be reset").format(
                        username=account.username, status=account.status
                    )
                )
            if email and not (account.email and account.email_verified):
                raise Conflict(
                    translate("account {username} has no verified email").format(
                        username=account.username
                    )
                )
            now = self._clock()
            data = {"mode": "choose", "issued_by": principal.actor}
            token = flow.issue_link(uow, account, data, now=now)
            if email:
                flow.email_link(uow, account, token, data, now=now)
            uow.audit.record(
                staff_event(
                    principal,
                    "reset_link_issued",
                    Operation.SEND_RESET_LINK,
                    subject=account.subject,
                    reason=why,
                    meta=meta,
                    delivery="email" if email else "printed",
                    purpose=RESET_PURPOSE,
                ),
                now=now,
            )
        return ResetLinkIssued(
            username=account.username,
            expires_at=now + timedelta(seconds=self._reset_link_ttl),
            ttl=self._reset_link_ttl,
            link=None if email else flow.link_url(token, data),
            sent_to=mask_email(account.email) if email and account.email else None,
        )

    # --- email change ------------------------------------------------------------------------

    def change_email(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        email: str,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> EmailChanged:
        """Set a verified address after staff checked the caller; the old one is told."""
        authorize(principal, Operation.CHANGE_EMAIL)
        why = check_reason(reason)
        username = check_username(username)
        try:
            address = check_email_address(email)
        except InvalidEmailAddress:
            raise InvalidInput(
                translate("the email must be one plain address such as name@example.org")
            ) from None
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            if account.status == "closed":
                raise Conflict(
                    translate("account {username} is closed").format(username=account.username)
                )
            old = account.email
            if old and old.casefold() == address.casefold() and account.email_verified:
                raise Conflict(
                    translate("{address} is already the verified address of {username}").format(
                        address=address, username=account.username
                    )
                )
            now = self._clock()
            uow.accounts.set_email(account.id, address, verified=True, now=now)
            self._reindex(uow, account.id)
            # Reset links went to the old mailbox, which may be the lost one.
            uow.action_tokens.revoke(account.id, RESET_PURPOSE, now=now)
            notice = bool(old and old.casefold() != address.casefold())
            if notice:
                assert old is not None
                self._notifier.email(
                    uow,
                    to=old,
                    template="email_changed_by_staff",
                    context={
                        "username": account.username,
                        "new_email": mask_email(address),
                        "changed_at": now.strftime("%Y-%m-%d %H:%M UTC"),
                    },
                    now=now,
                )
            uow.audit.record(
                staff_event(
                    principal,
                    "email_changed",
                    Operation.CHANGE_EMAIL,
                    subject=account.subject,
                    reason=why,
                    meta=meta,
                    verified=True,
                    notice_to_old=bool(old) or None,
                ),
                now=now,
            )
        return EmailChanged(username=account.username, email=address, notice_to_old=notice)

    # --- MFA reset ---------------------------------------------------------------------------

    def reset_mfa(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> FactorsReset:
        """Remove every second factor (issue 9 item 8); the patient hears everywhere."""
        authorize(principal, Operation.MFA_RESET)
        why = check_reason(reason)
        username = check_username(username)
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            if account.status == "closed":
                raise Conflict(
                    translate("account {username} is closed").format(username=account.username)
                )
            done = reset_second_factors(
                uow,
                account,
                staff=principal.actor.removeprefix("staff:"),
                reason=why or "",
                notifier=self._notifier,
                now=self._clock(),
                audit=lambda entry: staff_event(
                    principal,
                    entry.type,
                    Operation.MFA_RESET,
                    subject=entry.subject,
                    reason=why,
                    meta=meta,
                    **{k: v for k, v in entry.details.items() if k != "reason"},
                ),
            )
            if done is None:
                raise Conflict(
                    translate("account {username} has no second factor").format(
                        username=account.username
                    )
                )
        return done

    # --- close and reopen --------------------------------------------------------------------

    def close_account(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> AccountRecord:
        """Close as the patient's own "close account" does (sessions, tokens, consents
        and emailed links end; nothing is deleted), except that the practices' links
        stay, so that :meth:`reopen_account` gives the patient back what they had."""
        authorize(principal, Operation.CLOSE_ACCOUNT)
        why = check_reason(reason)
        username = check_username(username)
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            if account.status == "closed":
                raise Conflict(
                    translate("account {username} is already closed").format(
                        username=account.username
                    )
                )
            now = self._clock()
            uow.accounts.close(account.id, now=now)
            families: Sequence[str] = uow.refresh_tokens.revoke_for_account(account.id, now=now)
            consents = uow.consents.revoke_for_account(account.id, now=now)
            for purpose in LINK_PURPOSES:
                uow.action_tokens.revoke(account.id, purpose, now=now)
            if account.email and account.email_verified:
                self._notifier.email(
                    uow,
                    to=account.email,
                    template="account_closed",
                    context={
                        "name": account.person.first_name if account.person else account.username,
                        "username": account.username,
                        "when": format_when(now, "%d %B %Y at %H:%M UTC"),
                        "ip": None,
                    },
                    now=now,
                )
            uow.audit.record(
                staff_event(
                    principal,
                    "account_closed",
                    Operation.CLOSE_ACCOUNT,
                    subject=account.subject,
                    reason=why,
                    meta=meta,
                    initiated_by="staff",
                    token_families_revoked=len(families),
                    consents_revoked=consents,
                ),
                now=now,
            )
        self._sessions.end_all_for(account.subject, now=now.timestamp())
        for family in families:
            self._grants.revoke_grant(family)
        return account

    def reopen_account(
        self,
        principal: StaffPrincipal,
        username: str,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> AccountRecord:
        """Let a closed account sign in again (a closure by mistake, or the patient's
        change of mind). Tokens and consents ended by the closure stay ended."""
        authorize(principal, Operation.REOPEN_ACCOUNT)
        why = check_reason(reason)
        username = check_username(username)
        with self._db.transaction() as uow:
            account = self._account(uow, username)
            if account.status != "closed":
                raise Conflict(
                    translate("account {username} is not closed").format(username=account.username)
                )
            now = self._clock()
            uow.accounts.reopen(account.id, now=now)
            uow.audit.record(
                staff_event(
                    principal,
                    "account_reopened",
                    Operation.REOPEN_ACCOUNT,
                    subject=account.subject,
                    reason=why,
                    meta=meta,
                ),
                now=now,
            )
        return account

    # --- shared ------------------------------------------------------------------------------

    @staticmethod
    def _account(uow: Any, username: str) -> AccountRecord:
        account: AccountRecord | None = uow.accounts.by_username(username)
        if account is None:
            raise NotFound(translate("no account {username}").format(username=repr(username)))
        return account
