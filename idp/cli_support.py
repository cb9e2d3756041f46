"""Support-desk commands added to ``idp users`` (issue 4): reset links and email changes;
(issue 9) removing the second factors of a patient who lost them all; (issue 11) closing
and reopening an account. Each calls the same staff operation as the console and the
JSON admin API (``services.staff.support``, :mod:`idp.flows.staff.support`).

The portal FAQ's two support paths: "I don't remember my secret question" (staff send
a direct reset link) and "I no longer have access to my email" (staff update the
address after checking the caller's identity). Both name the staff member and the
reason, which go into the audit event (actor ``staff:<NAME>``) written in the same
transaction as the change (security invariant 9). ``--staff`` naming a staff account
acts with that account's role (``idp.cli_staff.cli_principal``). Bad input stops with
exit status 2 before anything is written.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

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


def _desk_call(staff_name: str, call: Any) -> Any:
    """Run one support operation as ``--staff``; a refusal exits 2 with its message."""
    from idp.cli import _services, _settings
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError

    _staff(staff_name)
    with _services(_settings()) as services:
        try:
            result = call(services.staff.support, cli_principal(services, staff_name))
        except StaffError as exc:
            refused_or_fail(services, exc)
        # This process ends now: send what was queued rather than wait for a worker.
        services.dispatcher.send_due()
    return result


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
        from idp.cli import _emit, _link_settings, _services

        _staff(staff_name)
        _reason(reason)
        # Links are built on the recorded issuer (_link_settings), not the default one.
        from idp.cli_staff import cli_principal, refused_or_fail
        from idp.flows.staff.errors import StaffError

        with _services(_link_settings()) as services:
            try:
                issued = services.staff.support.send_reset_link(
                    cli_principal(services, staff_name),
                    username,
                    reason=reason,
                    email=send_email,
                )
            except StaffError as exc:
                refused_or_fail(services, exc)
            services.dispatcher.send_due()
        result: dict[str, Any] = {
            "username": issued.username,
            "expires_in": issued.ttl,
            "expires_at": issued.expires_at.isoformat(),
        }
        if issued.sent_to:
            result["sent_to"] = issued.sent_to
            text = f"reset link for {issued.username} sent to {issued.sent_to}"
        else:
            result["link"] = issued.link
            text = f"{issued.link}\n(single use, valid {issued.ttl // 60} minutes)"
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
        from idp.cli import _emit

        _reason(reason)
        done = _desk_call(
            staff_name,
            lambda desk, who: desk.change_email(who, username, email=new_email, reason=reason),
        )
        _emit(
            {"username": done.username, "email": done.email, "email_verified": True},
            as_json,
            f"email of {done.username} changed; a notice went to the old address"
            if done.notice_to_old
            else f"email of {done.username} set",
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
        from idp.cli import _emit

        _reason(reason)
        done = _desk_call(
            staff_name, lambda desk, who: desk.reset_mfa(who, username, reason=reason)
        )
        _emit(
            {
                "username": username,
                "removed": {
                    "authenticator_apps": done.apps,
                    "passkeys": done.passkeys,
                    "recovery_codes": done.recovery_codes,
                },
                "notified": list(done.notified),
            },
            as_json,
            f"second factors of {username} removed ({done.removed}); "
            f"notice sent by {', '.join(done.notified) or 'no channel: no address on file'}",
        )


def close_reopen_commands(users: click.Group) -> None:
    @users.command(
        "close",
        help="Close an account for the patient (sessions, tokens, consents and emailed "
        "links end; nothing is deleted; the practices' links stay for a reopening).",
    )
    @click.argument("username")
    @click.option("--staff", "staff_name", required=True, help="Who is closing it (audited).")
    @click.option("--reason", required=True, help="Why (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def users_close(username: str, staff_name: str, reason: str, as_json: bool) -> None:
        from idp.cli import _emit

        _reason(reason)
        done = _desk_call(
            staff_name, lambda desk, who: desk.close_account(who, username, reason=reason)
        )
        _emit({"username": done.username, "status": "closed"}, as_json, f"{done.username} closed")

    @users.command("reopen", help="Let a closed account sign in again.")
    @click.argument("username")
    @click.option("--staff", "staff_name", required=True, help="Who is reopening it (audited).")
    @click.option("--reason", required=True, help="Why (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def users_reopen(username: str, staff_name: str, reason: str, as_json: bool) -> None:
        from idp.cli import _emit

        _reason(reason)
        done = _desk_call(
            staff_name, lambda desk, who: desk.reopen_account(who, username, reason=reason)
        )
        _emit({"username": done.username, "status": "active"}, as_json, f"{done.username} reopened")


def register(users: click.Group) -> None:
    """Attach the support commands to the ``idp users`` group."""
    reset_link_command(users)
    change_email_command(users)
    mfa_reset_command(users)
    close_reopen_commands(users)
