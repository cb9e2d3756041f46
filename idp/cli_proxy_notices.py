"""``idp proxy notify-transitions``, ``idp proxy flags`` and ``idp patients claim``
(issue 10 items 1, 4 and 7): the periodic notifier, staff's list of minors' accounts
sharing contact details with a representative, and a teen claiming their own record.

Bad input stops with exit status 2 and a message naming the problem, before anything
is written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import click

from idp.cli_proxy import _portal, _refused
from idp.flows.patients import ProxyRefusal
from idp.flows.proxy_views import GrantView, grant_row, is_shared_minor_account


def _flag_text(view: GrantView) -> str:
    return (
        f"{view.grant.id}  {view.portal.slug}  {view.patient_id}  "
        f"patient account shares an email or phone with {view.representative_username}"
    )


def register(main: click.Group) -> None:
    proxy = cast(click.Group, main.commands["proxy"])
    patients = cast(click.Group, main.commands["patients"])

    @proxy.command(
        "notify-transitions",
        help="Tell both sides of every grant when a birthday or a period changes what the "
        "representative may see (teen age, majority, adult grant's end), mark ended grants "
        "expired (as `idp proxy expire`), and flag to staff minors' accounts sharing an "
        "email or phone with a representative. What was sent is kept in each grant's "
        "history, so running it again sends nothing new: schedule it daily, e.g. "
        "shortly after midnight in the practices' time zones. Access itself never waits "
        "for it: every token is judged at its own moment.",
    )
    @click.option(
        "--lookback-days",
        type=click.IntRange(1, 366),
        default=14,
        show_default=True,
        help="Tell changes that happened up to this many days ago (the job was not run).",
    )
    @click.option("--json", "as_json", is_flag=True)
    def proxy_notify_transitions(lookback_days: int, as_json: bool) -> None:
        from idp.cli import _emit, _link_settings, _services
        from idp.flows.proxy_notices import ProxyNoticeFlow

        with _services(_link_settings()) as services:
            report = ProxyNoticeFlow.from_services(services).run(
                lookback=timedelta(days=lookback_days)
            )
            services.dispatcher.send_due()
        data = {"expired": report.expired, "notified": report.notified, "flagged": report.flagged}
        _emit(
            data,
            as_json,
            f"{report.notified} change(s) told, {report.expired} grant(s) expired, "
            f"{report.flagged} newly flagged",
        )

    @proxy.command(
        "flags",
        help="Live grants whose patient is a minor with an own account sharing an email or "
        "phone with the representative: the parent may be reading the teen's mail.",
    )
    @click.option("--portal", "portal_slug", help="Only this practice (default: every one).")
    @click.option("--json", "as_json", is_flag=True)
    def proxy_flags(portal_slug: str | None, as_json: bool) -> None:
        from idp.cli import _emit, _services, _settings
        from idp.flows.proxy_grants import ProxyGrantFlow

        with _services(_settings()) as services:
            flow = ProxyGrantFlow.from_services(services)
            if portal_slug is not None:
                portals = [_portal(services, portal_slug)]
            else:
                with services.db.transaction() as uow:
                    portals = uow.portals.list()
            now = services.clock()
            views = [
                v
                for p in portals
                for v in flow.list_for_portal(p)
                if is_shared_minor_account(v, now)
            ]
        _emit(
            [grant_row(v) for v in views],
            as_json,
            "\n".join(map(_flag_text, views)) or "no flags",
        )

    @patients.command(
        "claim",
        help="Link a teen's own account to the record the practice made for them as a "
        "child (no account), so every grant and confidential flag stays on it. Staff "
        "checked the teen's identity; the date of birth must match, the teen must be at "
        "least the practice's teen age, and the account's email and phone must not be a "
        "representative's.",
    )
    @click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
    @click.option("--patient-id", required=True, help="The practice's MRN of the record.")
    @click.option("--username", required=True, help="The teen's own account.")
    @click.option("--staff", default="cli", show_default=True, help="Who checked (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def patients_claim(
        portal_slug: str, patient_id: str, username: str, staff: str, as_json: bool
    ) -> None:
        from idp.cli import _emit, _services, _settings
        from idp.flows.person_claims import PersonClaimFlow
        from idp.records import RequestMeta

        with _services(_settings()) as services:
            try:
                grants = PersonClaimFlow.from_services(services).claim_by_staff(
                    portal_slug,
                    patient_id=patient_id,
                    username=username,
                    staff=staff,
                    meta=RequestMeta(),
                )
            except ProxyRefusal as exc:
                _refused(exc)
        _emit(
            {"portal": portal_slug, "username": username, "live_grants": grants},
            as_json,
            f"record claimed by {username}; {grants} live grant(s) kept",
        )
