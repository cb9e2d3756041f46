"""Support-desk commands added to ``idp users`` (issue 4): reset links and email changes;
and (issue 9) removing the second factors of a patient who lost them all.

The portal FAQ's two support paths: "I don't remember my secret question" (staff send
a direct reset link) and "I no longer have access to my email" (staff update the
address after checking the caller's identity). Both name the staff member and the
reason, which go into the audit event (actor ``staff:<NAME>``) written in the same
transaction as the change (security invariant 9). Bad input stops with exit status 2
before anything is written.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import NoReturn

import click

MAX_STAFF = 64
MIN_REASON = 3
MAX_REASON = 500


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _staff(name: str) -> str:
    value = " ".join(name.split())
    if not value or len(value) > MAX_STAFF or any(ord(c) < 32 or ord(c) == 127 for c in name):
        _fail(f"--staff must be the staff member's name (1-{MAX_STAFF} printable characters)")
    return value


def _reason(text: str) -> str:
    value = " ".join(text.split())
    if not MIN_REASON <= len(value) <= MAX_REASON or any(
        ord(c) < 32 and c not in "\t\n" for c in text
    ):
        _fail(f"--reason must say why ({MIN_REASON}-{MAX_REASON} printable characters)")
    return value


def reset_link_command(users: click.Group) -> None:
    @users.command(
        "reset-link",
        help="Issue a one-time link to choose a new password (FAQ: \"I don't remember my "
        'secret question"). Prints the link, or with --email sends it to the verified '
        "address. Any earlier reset link stops working.",
    )
    @click.argument("username")
    @click.option("--staff", "staff_name", required=True, help="Who is issuing it (audited).")
    @click.option("--reason", required=True, help="Why, e.g. the support ticket (audited).")
    @click.option("--email", "send_email", is_flag=True, help="Email it instead of printing it.")
    @click.option("--json", "as_json", is_flag=True)
    def users_reset_link(
        username: str, staff_name: str, reason: str, send_email: bool, as_json: bool
    ) -> None:
        from idp.cli import _emit, _link_settings, _now, _services
        from idp.flows.forgot_password import PURPOSE, ForgotPasswordFlow
        from idp.flows.recovery_common import RECOVERABLE, RecoveryDeps, audit_entry, mask_email
        from idp.records import RequestMeta

        staff, why = _staff(staff_name), _reason(reason)
        with _services(_link_settings()) as services:
            flow = ForgotPasswordFlow(RecoveryDeps.from_services(services))
            now = _now()
            with services.db.transaction() as uow:
                account = uow.accounts.by_username(username)
                if account is None:
                    _fail(f"no account {username!r}")
                if account.status not in RECOVERABLE:
                    _fail(f"account {account.username} is {account.status}; it cannot be reset")
                if send_email and not (account.email and account.email_verified):
                    _fail(f"account {account.username} has no verified email; omit --email")
                data = {"mode": "choose", "issued_by": f"staff:{staff}"}
                token = flow.issue_link(uow, account, data, now=now)
                if send_email:
                    flow.email_link(uow, account, token, data, now=now)
                uow.audit.record(
                    audit_entry(
                        "reset_link_issued",
                        "success",
                        account,
                        RequestMeta(),
                        actor=f"staff:{staff}",
                        reason=why,
                        delivery="email" if send_email else "printed",
                        purpose=PURPOSE,
                    ),
                    now=now,
                )
            if send_email:
                # This process ends now: send here rather than wait for a worker.
                services.dispatcher.send_due()
            ttl = services.settings.accounts.reset_link_ttl
        expires = (now + timedelta(seconds=ttl)).isoformat()
        result = {"username": account.username, "expires_in": ttl, "expires_at": expires}
        if send_email:
            assert account.email is not None
            result["sent_to"] = mask_email(account.email)
            text = f"reset link for {account.username} sent to {result['sent_to']}"
        else:
            result["link"] = flow.link_url(token, data)
            text = f"{result['link']}\n(single use, valid {ttl // 60} minutes)"
        _emit(result, as_json, text)


def change_email_command(users: click.Group) -> None:
    @users.command(
        "change-email",
        help="Change an account's email after checking the caller's identity (FAQ: \"I don't "
        'have access to the email I used"). The new address counts as verified; the old '
        "one gets a notice; reset links sent to the old one stop working.",
    )
    @click.argument("username")
    @click.option("--email", "new_email", required=True, help="The new address.")
    @click.option("--staff", "staff_name", required=True, help="Who checked and changed it.")
    @click.option("--reason", required=True, help="Why, e.g. how identity was checked.")
    @click.option("--json", "as_json", is_flag=True)
    def users_change_email(
        username: str, new_email: str, staff_name: str, reason: str, as_json: bool
    ) -> None:
        from idp.cli import _emit, _now, _services, _settings
        from idp.flows.forgot_password import PURPOSE
        from idp.flows.recovery_common import audit_entry, mask_email
        from idp.notify import InvalidEmailAddress, check_email_address
        from idp.records import RequestMeta
        from idp.store.candidates import reindex_account

        staff, why = _staff(staff_name), _reason(reason)
        try:
            address = check_email_address(new_email)
        except InvalidEmailAddress:
            _fail("--email must be one plain address such as name@example.org")
        with _services(_settings()) as services:
            now = _now()
            with services.db.transaction() as uow:
                account = uow.accounts.by_username(username)
                if account is None:
                    _fail(f"no account {username!r}")
                if account.status == "closed":
                    _fail(f"account {account.username} is closed")
                old = account.email
                if old and old.casefold() == address.casefold() and account.email_verified:
                    _fail(f"{address} is already the verified address of {account.username}")
                uow.accounts.set_email(account.id, address, verified=True, now=now)
                reindex_account(uow, account.id, services.settings.secret_key)
                # Reset links went to the old mailbox, which may be the lost one.
                uow.action_tokens.revoke(account.id, PURPOSE, now=now)
                if old and old.casefold() != address.casefold():
                    services.notifier.email(
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
                    audit_entry(
                        "email_changed",
                        "success",
                        account,
                        RequestMeta(),
                        actor=f"staff:{staff}",
                        reason=why,
                        verified=True,
                        notice_to_old=bool(old) or None,
                    ),
                    now=now,
                )
            services.dispatcher.send_due()
        _emit(
            {"username": account.username, "email": address, "email_verified": True},
            as_json,
            f"email of {account.username} changed; a notice went to the old address"
            if old
            else f"email of {account.username} set",
        )


def mfa_reset_command(users: click.Group) -> None:
    @users.command(
        "mfa-reset",
        help="Remove every second factor of an account (authenticator apps, passkeys, "
        "recovery codes) after checking the caller's identity, when all of them are lost. "
        "Audited with the staff name and reason; the patient is told at every address on "
        "file (email and text).",
    )
    @click.argument("username")
    @click.option("--staff", "staff_name", required=True, help="Who checked and removed them.")
    @click.option("--reason", required=True, help="Why, e.g. how identity was checked.")
    @click.option("--json", "as_json", is_flag=True)
    def users_mfa_reset(username: str, staff_name: str, reason: str, as_json: bool) -> None:
        from idp.cli import _emit, _now, _services, _settings
        from idp.flows.mfa_reset import reset_second_factors

        staff, why = _staff(staff_name), _reason(reason)
        with _services(_settings()) as services:
            now = _now()
            with services.db.transaction() as uow:
                account = uow.accounts.by_username(username)
                if account is None:
                    _fail(f"no account {username!r}")
                if account.status == "closed":
                    _fail(f"account {account.username} is closed")
                done = reset_second_factors(
                    uow, account, staff=staff, reason=why, notifier=services.notifier, now=now
                )
                if done is None:
                    _fail(f"account {account.username} has no second factor")
            # This process ends now: send here rather than wait for a worker.
            services.dispatcher.send_due()
        _emit(
            {
                "username": account.username,
                "removed": {
                    "authenticator_apps": done.apps,
                    "passkeys": done.passkeys,
                    "recovery_codes": done.recovery_codes,
                },
                "notified": list(done.notified),
            },
            as_json,
            f"second factors of {account.username} removed ({done.removed}); "
            f"notice sent by {', '.join(done.notified) or 'no channel: no address on file'}",
        )


def register(users: click.Group) -> None:
    """Attach the support commands to the ``idp users`` group."""
    reset_link_command(users)
    change_email_command(users)
    mfa_reset_command(users)
