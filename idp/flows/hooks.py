"""Hooks: what happens after a journey succeeds, in order, in the change's transaction.

Kratos calls these "post hooks" (``selfservice/hook/session_issuer.go``). Before
them every journey wrote its own audit builder and its own "clear the counters,
email the owner" tail, and a tail forgotten was a silent gap (an unaudited sign-in,
a recovery code used without the owner knowing). A flow now names its hooks once:

    AUDIT -> NOTIFY -> RESET_LOCKOUT -> (the web layer rotates the session)

Audit and notification share the transaction of the change (DESIGN.md invariant 9;
the outbox row commits or rolls back with it). Settling lockout reservations as
successes touches the ephemeral store; it runs last of the flow's hooks so a
failing audit write leaves the counters as they were. Rotating the browser's
session is the last step and belongs to ``idp.web.session_issuer``: cookies are
web-layer state, and it always ends the browser's previous session first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from idp.records import AccountRecord, AuditEntry, RequestMeta


class AuditWriter(Protocol):
    def record(self, entry: AuditEntry, *, now: datetime) -> Any: ...


class HookTx(Protocol):
    """The part of a durable transaction hooks use: the audit log (and the outbox,
    through the notifier, which takes the whole transaction)."""

    @property
    def audit(self) -> AuditWriter: ...


@dataclass(slots=True)
class SuccessContext:
    """One success, as every hook sees it."""

    tx: Any  # the change's transaction (a UnitOfWork); typed by HookTx where read
    account: AccountRecord
    meta: RequestMeta
    now: datetime
    event: str  # the audit event type: "login", "first_signin_setup", ...
    details: Mapping[str, Any] = field(default_factory=dict)
    # What the hooks must settle: lockout reservations of the checks that passed.
    settle: list[Callable[[], None]] = field(default_factory=list)


class Hook(Protocol):
    def __call__(self, ctx: SuccessContext) -> None: ...


def run_hooks(hooks: Sequence[Hook], ctx: SuccessContext) -> None:
    for hook in hooks:
        hook(ctx)


class AuditHook:
    """The success event, in the transaction of the change it describes."""

    def __call__(self, ctx: SuccessContext) -> None:
        tx: HookTx = ctx.tx
        tx.audit.record(
            AuditEntry(
                type=ctx.event,
                outcome="success",
                actor=ctx.account.subject,
                subject=ctx.account.subject,
                ip=ctx.meta.ip,
                user_agent=ctx.meta.user_agent,
                details=dict(ctx.details),
            ),
            now=ctx.now,
        )


class NotifyHook:
    """Email the account's verified address when ``when(ctx)`` says so (ASVS 6.3.7).

    ``send(tx, to, template, context, now)`` is the notifier's ``email``; it queues
    in the outbox within the same transaction.
    """

    def __init__(
        self,
        send: Callable[..., Any],
        *,
        template: str,
        when: Callable[[SuccessContext], bool],
        context: Callable[[SuccessContext], Mapping[str, Any]] = lambda ctx: {},
    ) -> None:
        self._send = send
        self._template = template
        self._when = when
        self._context = context

    def __call__(self, ctx: SuccessContext) -> None:
        account = ctx.account
        if not self._when(ctx) or not account.email or not account.email_verified:
            return
        self._send(
            ctx.tx,
            to=account.email,
            template=self._template,
            context=dict(self._context(ctx)),
            now=ctx.now,
        )


class ResetLockoutHook:
    """Settle the journey's lockout reservations as successes (counters start afresh)."""

    def __call__(self, ctx: SuccessContext) -> None:
        while ctx.settle:
            ctx.settle.pop(0)()


class PortalSignOut(Protocol):
    """Tell the portals a session signed in to that it has ended (Back-Channel Logout).

    Called wherever sessions end (sign-out, sign out everywhere, a password change or
    reset, closing the account), before they end and inside the change's transaction:
    the logout tokens are queued in the outbox and commit or roll back with it. Returns
    a notice id the web layer can show the delivery status of, or None when no portal
    needs telling. ``keys=None`` means every live session of ``subject``.
    """

    def sessions_ending(
        self, uow: Any, *, subject: str, keys: Sequence[str] | None, now: datetime
    ) -> str | None: ...
