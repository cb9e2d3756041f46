"""``idp staff add|list|remove`` and who a command acts as (issue 11 items 1 and 5).

Every staff command of the ``idp`` line calls the same operations as the console and
the JSON admin API (``services.staff``), as a :class:`StaffPrincipal`:

- ``--staff NAME`` naming a staff account's user ID acts with that account's role
  and portals, exactly as that person would in the console;
- any other ``--staff NAME`` (or none) is the operator at the server's shell, who
  already holds the database and the keys: the admin role, audited as
  ``staff:NAME`` (``staff:cli`` when no name is given), as before staff accounts.

A refused operation prints ``error: ...`` and exits 2; nothing is written.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from idp.flows.staff.access import principal_of
from idp.flows.staff.errors import Refusal, StaffError
from idp.flows.staff.inputs import check_name
from idp.policies.staff_roles import Role, StaffPrincipal


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def note_refusal(services: Any, exc: StaffError) -> None:
    """A refused role (403) goes on the record (``staff_refused``), as on the console
    and the API; other refusals (bad input, not found) are only reported."""
    if isinstance(exc, Refusal):
        services.staff.refusals.record_forbidden(exc, surface="cli")


def refused_or_fail(services: Any, exc: StaffError) -> NoReturn:
    """Stop with the operation's message, the refusal on the record first."""
    note_refusal(services, exc)
    fail(exc.message)


def cli_principal(
    services: Any, staff_name: str | None, *, default_actor: str = "staff:cli"
) -> StaffPrincipal:
    """The principal a command acts as (see the module docstring)."""
    if staff_name is None:
        return StaffPrincipal(actor=default_actor, role=Role.ADMIN)
    try:
        name = check_name(staff_name)
    except StaffError as exc:
        fail(f"--staff: {exc.message}")
    record = services.staff.directory.by_username(name)
    if record is not None:
        return principal_of(record)
    return StaffPrincipal(actor=f"staff:{name}", role=Role.ADMIN)


def _row(record: Any) -> dict[str, Any]:
    return {
        "username": record.username,
        "subject": record.subject,
        "role": record.role,
        "portals": list(record.portals),
        "since": record.created_at.isoformat(),
        "by": record.created_by,
    }


def register(main: click.Group) -> None:
    """Attach ``idp staff`` to the command line."""

    @main.group(help="Staff accounts and their roles (admin, support, practice, auditor).")
    def staff() -> None:
        pass

    @staff.command(
        "add",
        help="Give an existing account a staff role (replacing any role it had). The "
        "practice role needs one --portal per practice it works for. Staff always sign "
        "in with a second factor.",
    )
    @click.option("--username", required=True, help="The account's user ID.")
    @click.option("--role", required=True, help="admin, support, practice or auditor.")
    @click.option("--portal", "portals", multiple=True, help="Portal slug (practice role).")
    @click.option("--staff", "staff_name", help="Who is granting it (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def staff_add(
        username: str, role: str, portals: tuple[str, ...], staff_name: str | None, as_json: bool
    ) -> None:
        from idp.cli import _emit, _services, _settings

        with _services(_settings()) as services:
            try:
                record = services.staff.directory.add(
                    cli_principal(services, staff_name),
                    username=username,
                    role=role,
                    portals=portals,
                )
            except StaffError as exc:
                refused_or_fail(services, exc)
        where = f" for {', '.join(record.portals)}" if record.portals else ""
        _emit(_row(record), as_json, f"{record.username} is now {record.role}{where}")

    @staff.command("list", help="Every staff account with its role and portals.")
    @click.option("--staff", "staff_name", help="Who is asking (audited as that role).")
    @click.option("--json", "as_json", is_flag=True)
    def staff_list(staff_name: str | None, as_json: bool) -> None:
        from idp.cli import _emit, _services, _settings

        with _services(_settings()) as services:
            try:
                records = services.staff.directory.listing(cli_principal(services, staff_name))
            except StaffError as exc:
                refused_or_fail(services, exc)
        rows = [_row(r) for r in records]
        text = "\n".join(
            f"{r['username']:<24} {r['role']:<9} {','.join(r['portals']) or '-'}" for r in rows
        )
        _emit(rows, as_json, text or "no staff accounts")

    @staff.command("remove", help="Take the staff role away (the account stays).")
    @click.option("--username", required=True, help="The account's user ID.")
    @click.option("--staff", "staff_name", help="Who is removing it (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def staff_remove(username: str, staff_name: str | None, as_json: bool) -> None:
        from idp.cli import _emit, _services, _settings

        with _services(_settings()) as services:
            try:
                record = services.staff.directory.remove(
                    cli_principal(services, staff_name), username=username
                )
            except StaffError as exc:
                refused_or_fail(services, exc)
        _emit(_row(record), as_json, f"{record.username} is no longer staff ({record.role})")
