"""A practice's proxy terms on the command line: ``idp portals add`` options and
``idp portals edit`` (issue 10 item 3).

The ages and zone are checked by :func:`idp.flows.proxy_terms.check_terms` before
anything is written; a change is audited (``portal_proxy_terms_changed``) in the same
transaction. Access follows at once: nothing about a level is stored, every decision
reads the practice's terms at the moment it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from idp.policies.proxy import PROXY_PRESETS
from idp.records import AuditEntry, PortalRecord

TERMS_HELP = {
    "proxy_preset": "Teen age by preset: "
    + ", ".join(f"{k} ({v.teen_age})" for k, v in PROXY_PRESETS.items())
    + " (default teen-13).",
    "teen_age": "From this birthday a parent's access is limited (state law: 12, 13 or 14).",
    "majority_age": "At this birthday a minor's grant ends (default 18).",
    "adult_grant_months": "An adult patient's own grant lapses after this many months "
    "unless renewed (default 18).",
    "time_zone": "IANA time zone of the practice (default UTC): birthdays and expiries "
    "begin at its midnight.",
}


def terms_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The five options, for ``add`` and ``edit``; unset means 'keep' (or the default)."""
    for name, flag, kind in reversed(
        [
            ("proxy_preset", "--proxy-preset", click.Choice(sorted(PROXY_PRESETS))),
            ("teen_age", "--teen-age", int),
            ("majority_age", "--majority-age", int),
            ("adult_grant_months", "--adult-grant-months", int),
            ("time_zone", "--time-zone", str),
        ]
    ):
        command = click.option(flag, name, type=kind, default=None, help=TERMS_HELP[name])(command)
    return command


def terms_row(portal: PortalRecord) -> dict[str, Any]:
    return {
        "teen_age": portal.teen_age,
        "majority_age": portal.majority_age,
        "adult_grant_months": portal.adult_grant_months,
        "time_zone": portal.time_zone,
    }


def apply_terms(
    uow: Any, portal: PortalRecord, options: dict[str, Any], *, actor: str
) -> PortalRecord:
    """Check and store the options given (others keep the portal's values); audited."""
    from idp.cli import _fail, _now
    from idp.flows.proxy_terms import TermsRefusal, check_terms, preset_teen_age

    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return portal
    if "proxy_preset" in given and "teen_age" in given:
        _fail("give --proxy-preset or --teen-age, not both")
    current = terms_row(portal)
    try:
        if "proxy_preset" in given:
            given["teen_age"] = preset_teen_age(given.pop("proxy_preset"))
        terms = check_terms(**{**current, **given})
    except TermsRefusal as exc:
        _fail(f"--{exc.field.replace('_', '-')}: {exc}")
    updated = uow.portals.set_proxy_terms(
        portal.id,
        teen_age=terms.teen_age,
        majority_age=terms.majority_age,
        adult_grant_months=terms.adult_grant_months,
        time_zone=terms.time_zone,
    )
    uow.audit.record(
        AuditEntry(
            type="portal_proxy_terms_changed",
            outcome="success",
            actor=actor,
            subject=f"portal:{portal.slug}",
            details={"before": current, "after": terms_row(updated)},
        ),
        now=_now(),
    )
    return updated  # type: ignore[no-any-return]


def register(portals: click.Group) -> None:
    @portals.command(
        "edit",
        help="Change a practice's proxy terms: teen age, age of majority, adult-grant "
        "period and time zone. Access follows at once (nothing is stored per grant).",
    )
    @click.argument("slug")
    @terms_options
    @click.option("--staff", default="cli", show_default=True, help="Who is changing it (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def portals_edit(slug: str, staff: str, as_json: bool, **options: Any) -> None:
        from idp.cli import _db, _emit, _fail, _settings, _staff_actor

        actor = _staff_actor(staff)
        if all(v is None for v in options.values()):
            _fail(
                "nothing to change: give at least one of "
                + ", ".join("--" + k.replace("_", "-") for k in TERMS_HELP)
            )
        with _db(_settings()) as database, database.transaction() as uow:
            portal = uow.portals.by_slug(slug) if len(slug) <= 64 else None
            if portal is None:
                _fail(f"no portal with slug {slug!r}")
            portal = apply_terms(uow, portal, options, actor=actor)
        row = {"slug": portal.slug, "name": portal.name, **terms_row(portal)}
        _emit(row, as_json, f"portal {portal.slug}: " + _terms_text(portal))


def _terms_text(portal: PortalRecord) -> str:
    return (
        f"teen {portal.teen_age}, majority {portal.majority_age}, "
        f"adult grants {portal.adult_grant_months} months, {portal.time_zone}"
    )


def list_text(portal: PortalRecord) -> str:
    return f"{portal.slug}  {portal.name}  ({_terms_text(portal)})"
