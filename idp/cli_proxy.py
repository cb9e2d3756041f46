"""``idp patients`` and ``idp proxy``: staff tools for patients without accounts and
proxy access (issue 10 items 1, 4 and 8).

Every grant names the staff member (``--staff``) and the practice's reference to the
signed form (``--evidence``); both go into the grant, its history and the audit event.
Bad input stops with exit status 2 and a message naming the problem, before anything
is written.
"""

from __future__ import annotations

from typing import Any

import click

from idp.flows.patients import ProxyRefusal
from idp.flows.proxy_views import GrantView, grant_row
from idp.policies.proxy import Category, Relationship
from idp.policies.staff_roles import Operation


def _refused(exc: ProxyRefusal) -> None:
    from idp.cli import _fail

    _fail(f"{exc.code.replace('_', ' ')} (--{exc.field.replace('_', '-')})")


def _portal(services: Any, slug: str) -> Any:
    from idp.cli import _fail

    with services.db.transaction() as uow:
        portal = uow.portals.by_slug(slug) if len(slug) <= 64 else None
    if portal is None:
        _fail(f"no portal with slug {slug!r}")
    return portal


def _text(view: GrantView) -> str:
    return (
        f"{view.grant.id}  {view.portal.slug}  {view.patient_id}  "
        f"{view.representative_username} ({view.grant.relationship})  "
        f"{view.grant.status}  level {view.decision.level.value}"
    )


def _gate(services: Any, staff: str | None, operation: Any, portal_slug: str) -> None:
    """A --staff naming a staff account acts with its role and portals (a practice only
    on its own portals); a refusal is recorded and exits 2 before anything is written."""
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.access import authorize
    from idp.flows.staff.errors import StaffError

    try:
        authorize(cli_principal(services, staff), operation, portal_slug)
    except StaffError as exc:
        refused_or_fail(services, exc)


def register(main: click.Group) -> None:
    @main.group(help="Patients a practice enrols without an account (young children).")
    def patients() -> None:
        pass

    @patients.command(
        "add",
        help="Enrol a patient without an account: a person and the practice's record "
        "(MRN). Parents then get proxy access with `idp proxy grant`.",
    )
    @click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
    @click.option("--patient-id", required=True, help="The practice's patient identifier (MRN).")
    @click.option("--first-name", required=True)
    @click.option("--last-name", required=True)
    @click.option("--dob", required=True, help="Date of birth, YYYY-MM-DD.")
    @click.option("--zip", "zip_code", required=True, help="5 digits or ZIP+4.")
    @click.option("--gender", default="", help="female, male or other.")
    @click.option("--staff", default="cli", show_default=True, help="Who is enrolling (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def patients_add(
        portal_slug: str,
        patient_id: str,
        first_name: str,
        last_name: str,
        dob: str,
        zip_code: str,
        gender: str,
        staff: str,
        as_json: bool,
    ) -> None:
        from idp.cli import _emit, _services, _settings, _staff_actor
        from idp.flows.patients import PatientFlow, PatientInput
        from idp.records import RequestMeta

        actor = _staff_actor(staff)
        form = PatientInput(patient_id, first_name, last_name, dob, zip_code, gender)
        with _services(_settings()) as services:
            _gate(services, staff, Operation.PATIENT_ADD, portal_slug)
            portal = _portal(services, portal_slug)
            try:
                patient = PatientFlow.from_services(services).add(
                    portal, form, actor=actor, meta=RequestMeta()
                )
            except ProxyRefusal as exc:
                _refused(exc)
        _emit(
            {"portal": portal.slug, "patient_id": patient.patient_id, "account": None},
            as_json,
            f"patient {patient.patient_id} enrolled at {portal.slug} (no account)",
        )

    @patients.command(
        "confidential",
        help="Set the data categories kept from every representative of this patient "
        "(care the minor consented to alone, 45 CFR 164.502(g)(3)). Replaces the whole "
        "set; no --category clears it. Without --reason, only prints the set.",
    )
    @click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
    @click.option("--patient-id", required=True, help="The practice's MRN.")
    @click.option(
        "--category",
        "categories",
        multiple=True,
        type=click.Choice([c.value for c in Category]),
        help="A category to keep confidential (repeat for several).",
    )
    @click.option("--reason", help="The practice's reason code, e.g. minor_consent (audited).")
    @click.option("--staff", default="cli", show_default=True, help="Who decided (audited).")
    @click.option("--json", "as_json", is_flag=True)
    def patients_confidential(
        portal_slug: str,
        patient_id: str,
        categories: tuple[str, ...],
        reason: str | None,
        staff: str,
        as_json: bool,
    ) -> None:
        from idp.cli import _emit, _fail, _services, _settings, _staff_actor
        from idp.flows.patients import PatientFlow
        from idp.records import RequestMeta

        actor = _staff_actor(staff)
        if categories and reason is None:
            _fail("--reason is required to change the confidential categories")
        with _services(_settings()) as services:
            portal = _portal(services, portal_slug)
            flow = PatientFlow.from_services(services)
            try:
                if reason is None:
                    now = flow.confidential(portal, patient_id)
                else:
                    now = flow.set_confidential(
                        portal,
                        patient_id,
                        categories,
                        reason=reason,
                        actor=actor,
                        meta=RequestMeta(),
                    )
            except ProxyRefusal as exc:
                _refused(exc)
        _emit(
            {"portal": portal.slug, "patient_id": patient_id.strip(), "confidential": sorted(now)},
            as_json,
            "confidential: " + (", ".join(sorted(now)) or "none"),
        )

    @main.group(help="Proxy access: representatives acting for patients (staff tools).")
    def proxy() -> None:
        pass

    @proxy.command(
        "grant",
        help="Grant a representative (an account) access to a patient's record at a "
        "practice, on the signed form the practice keeps (--evidence). A child's grant is "
        "active at once; a teen's is limited unless full access is co-signed by the teen.",
    )
    @click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
    @click.option("--patient-id", required=True, help="The patient's MRN at the practice.")
    @click.option("--representative", required=True, help="The representative's user ID.")
    @click.option(
        "--relationship", required=True, type=click.Choice([r.value for r in Relationship])
    )
    @click.option("--evidence", required=True, help="The practice's reference to the signed form.")
    @click.option("--staff", required=True, help="The staff member approving (audited).")
    @click.option(
        "--full-access",
        is_flag=True,
        help="Teen: ask for full access (needs the teen's signature).",
    )
    @click.option(
        "--teen-signed", is_flag=True, help="Teen: the teen signed the form for full access."
    )
    @click.option(
        "--legal-document",
        is_flag=True,
        help="A guardianship or power-of-attorney "
        "document is on file (needed for an adult patient).",
    )
    @click.option(
        "--ends-on",
        type=click.DateTime(["%Y-%m-%d"]),
        help="Last day + 1: access stops on this date.",
    )
    @click.option(
        "--related-person",
        help="The practice's FHIR RelatedPerson id for the representative "
        "(sent as fhirUser in proxy ID tokens).",
    )
    @click.option("--json", "as_json", is_flag=True)
    def proxy_grant(
        portal_slug: str,
        patient_id: str,
        representative: str,
        relationship: str,
        evidence: str,
        staff: str,
        full_access: bool,
        teen_signed: bool,
        legal_document: bool,
        ends_on: Any,
        related_person: str | None,
        as_json: bool,
    ) -> None:
        from idp.cli import _emit, _link_settings, _services, _staff_actor
        from idp.flows.proxy_grants import ProxyGrantFlow
        from idp.records import RequestMeta

        _staff_actor(staff)
        with _services(_link_settings()) as services:
            _gate(services, staff, Operation.PROXY_GRANT, portal_slug)
            portal = _portal(services, portal_slug)
            try:
                view = ProxyGrantFlow.from_services(services).grant_by_staff(
                    portal,
                    patient_id=patient_id,
                    representative=representative,
                    relationship=relationship,
                    evidence=evidence,
                    staff=staff,
                    actor=f"staff:{staff.strip()}",
                    meta=RequestMeta(),
                    teen_signed=teen_signed,
                    full_access=full_access,
                    legal_document=legal_document,
                    ends_on=ends_on.date() if ends_on else None,
                    related_person=related_person,
                )
            except ProxyRefusal as exc:
                _refused(exc)
            services.dispatcher.send_due()  # this process ends now: mail both sides here
        _emit(grant_row(view), as_json, _text(view))

    @proxy.command(
        "approve",
        help="Approve a pending grant, or record the teen's signature "
        "for full access (--teen-signed).",
    )
    @click.argument("grant_id", type=click.IntRange(1, 2**31 - 1))
    @click.option("--staff", required=True, help="The approving staff member (audited).")
    @click.option("--reason", help="Why, e.g. how the relationship was checked (audited).")
    @click.option("--teen-signed", is_flag=True, help="The teen signed the form.")
    @click.option("--json", "as_json", is_flag=True)
    def proxy_approve(
        grant_id: int, staff: str, reason: str | None, teen_signed: bool, as_json: bool
    ) -> None:
        from idp.cli import _emit, _link_settings, _services, _staff_actor
        from idp.cli_staff import cli_principal, refused_or_fail
        from idp.flows.staff.errors import StaffError

        _staff_actor(staff)
        with _services(_link_settings()) as services:
            try:
                view = services.staff.proxy.approve(
                    cli_principal(services, staff),
                    grant_id,
                    reason=reason,
                    staff_name=staff,
                    teen_signed=teen_signed,
                )
            except StaffError as exc:
                if isinstance(exc.__cause__, ProxyRefusal):
                    _refused(exc.__cause__)
                refused_or_fail(services, exc)
            services.dispatcher.send_due()
        _emit(grant_row(view), as_json, _text(view))

    @proxy.command("revoke", help="End a grant now; both sides are told by email.")
    @click.argument("grant_id", type=click.IntRange(1, 2**31 - 1))
    @click.option("--staff", required=True, help="Who is revoking (audited).")
    @click.option("--reason", required=True, help="Why (audited, kept in the history).")
    @click.option("--json", "as_json", is_flag=True)
    def proxy_revoke(grant_id: int, staff: str, reason: str, as_json: bool) -> None:
        from idp.cli import _emit, _link_settings, _services, _staff_actor
        from idp.cli_staff import cli_principal, refused_or_fail
        from idp.flows.staff.errors import StaffError
        from idp.policies.staff_roles import Operation

        _staff_actor(staff)
        with _services(_link_settings()) as services:
            try:
                view = services.staff.proxy.reject(
                    cli_principal(services, staff),
                    grant_id,
                    reason=reason,
                    operation=Operation.PROXY_REVOKE,
                )
            except StaffError as exc:
                if isinstance(exc.__cause__, ProxyRefusal):
                    _refused(exc.__cause__)
                refused_or_fail(services, exc)
            services.dispatcher.send_due()
        _emit(grant_row(view), as_json, _text(view))

    @proxy.command("list", help="A practice's grants with what each allows now.")
    @click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
    @click.option("--patient-id", help="Only this patient's grants.")
    @click.option("--staff", help="The staff member listing (a practice: its portals only).")
    @click.option("--json", "as_json", is_flag=True)
    def proxy_list(
        portal_slug: str, patient_id: str | None, staff: str | None, as_json: bool
    ) -> None:
        from idp.cli import _emit, _services, _settings
        from idp.flows.proxy_grants import ProxyGrantFlow

        with _services(_settings()) as services:
            _gate(services, staff, Operation.PROXY_LIST, portal_slug)
            portal = _portal(services, portal_slug)
            try:
                views = ProxyGrantFlow.from_services(services).list_for_portal(
                    portal, patient_id=patient_id
                )
            except ProxyRefusal as exc:
                _refused(exc)
        _emit([grant_row(v) for v in views], as_json, "\n".join(map(_text, views)) or "no grants")

    @proxy.command(
        "expire",
        help="Mark expired every active grant that has ended (age of majority, the adult "
        "grant's period, its end date) and tell both sides. Idempotent: run it daily.",
    )
    @click.option("--json", "as_json", is_flag=True)
    def proxy_expire(as_json: bool) -> None:
        from idp.cli import _emit, _link_settings, _services
        from idp.flows.proxy_grants import ProxyGrantFlow

        with _services(_link_settings()) as services:
            count = ProxyGrantFlow.from_services(services).expire_due(actor="staff:cli")
            services.dispatcher.send_due()
        _emit({"expired": count}, as_json, f"{count} grant(s) expired")
