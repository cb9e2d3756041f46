"""The console column of the role table: each role reaches exactly its pages and sees
exactly its portals' events (issue 11, "How it is verified": role tests)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from idp.flows.invitations import InvitationInput
from idp.flows.patients import PatientFlow, PatientInput
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.policies.staff_roles import Role, StaffPrincipal
from idp.records import RequestMeta
from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions, bearer, csrf_token
from ..openapi_check import check
from ..second_factor import enrol_totp
from ..staff.conftest import make_staff
from .conftest import AT, audit_count, pending_enrollment

ROW = re.compile(r'data-event-id="\d+"')
RANGE = {"from": "2026-11-20", "to": "2026-11-21"}
PAGES = ("/admin/", "/admin/audit", "/admin/overview")

# role -> the status of each page, then of the export
TABLE = {
    Role.ADMIN: ((200, 200, 200), 200),
    Role.AUDITOR: ((200, 200, 200), 200),
    Role.PRACTICE: ((200, 200, 200), 200),
    Role.SUPPORT: ((200, 403, 403), 403),
}


@pytest.mark.parametrize("role", list(TABLE))
def test_each_role_reaches_exactly_its_pages(client, as_staff, trail, services, role) -> None:
    as_staff(role, portals=("northside",) if role is Role.PRACTICE else ())
    pages, export = TABLE[role]
    assert tuple(client.get(p, query_string=RANGE).status_code for p in PAGES) == pages
    token = csrf_token(client.get("/admin/").text)
    before = audit_count(services, "audit_exported")
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == export
    assert audit_count(services, "audit_exported") == before + (export == 200)
    home = client.get("/admin/").text
    assert ('href="/admin/audit"' in home) is (pages[1] == 200)


def test_practice_sees_only_its_portals_events(client, as_staff, trail, services) -> None:
    as_staff(Role.PRACTICE, portals=("northside",))
    html = client.get("/admin/audit", query_string={"to": "2026-11-21"}).text
    assert len(ROW.findall(html)) == 2 and "Bob Jones" not in html
    assert "You see the events of your portals only: northside" in html
    # Another portal's events are refused, not quietly empty; only the refusal is recorded.
    before = audit_count(services)
    refused = client.get("/admin/audit", query_string={"portal": "southside"})
    assert refused.status_code == 403 and "southside" in refused.text
    assert audit_count(services) == before + 1 == audit_count(services, "staff_refused") + before
    # The export is confined the same way.
    token = csrf_token(html)
    out = client.post("/admin/audit/export", data={"csrf_token": token, "format": "jsonl"})
    assert [line for line in out.get_data(as_text=True).splitlines() if "Bob Jones" in line] == []
    assert len(out.get_data(as_text=True).splitlines()) == 2
    # The overview counts only its portal's events.
    overview = client.get("/admin/overview", query_string=RANGE).text
    assert "Sign-ins: 1 in all" in overview and "Lockouts: 0 in all" in overview


def test_a_patient_is_refused_and_a_stranger_sent_to_sign_in(
    client, oidc: OIDCActions, factory: Factory, trail
) -> None:
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 303 and response.headers["Location"] == "/login"
    factory.account("patty")
    oidc.sign_in("patty")
    for page in PAGES:
        assert client.get(page).status_code == 403
    assert client.post("/admin/audit/export", data={"format": "csv"}).status_code in (400, 403)


def test_support_cannot_export_even_with_a_token(client, as_staff, trail, services: Services):
    as_staff(Role.SUPPORT)
    token = csrf_token(client.get("/admin/").text)
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == 403 and "text/csv" not in response.content_type


def test_practice_with_two_portals_reads_both_and_nothing_else(client, as_staff, trail) -> None:
    as_staff(Role.PRACTICE, portals=("northside", "southside"))
    html = client.get("/admin/audit", query_string={"to": "2026-11-21"}).text
    # Every event of either portal's clients; the password reset carried no client.
    assert len(ROW.findall(html)) == 5 and "password_reset" not in html
    assert client.get("/admin/audit", query_string={"portal": "southside"}).status_code == 200


# --- the role × operation × surface table (issue 11 item 4) ---------------------------------
#
# One row per staff operation: the roles that may do it. Written out by hand from
# docs/console.md (not read from idp.policies.staff_roles, which it checks). Each cell
# is run on every surface that has the operation: the console, the JSON admin API and
# the `idp` command (run with --staff naming the staff account). A refused attempt
# (403/404 on the web, exit 2 on the CLI) must leave the durable state exactly as it
# was, apart from the `staff_refused` record itself.

ADMIN, SUPPORT, IN, OUT, AUDITOR, PATIENT = (
    "admin",
    "support",
    "practice_in",
    "practice_out",
    "auditor",
    "patient",
)
ROLES = (ADMIN, SUPPORT, IN, OUT, AUDITOR, PATIENT)
DESK = {ADMIN, SUPPORT}
AUDIT = {ADMIN, AUDITOR, IN}
PRACTICE = {ADMIN, IN}
ONLY_ADMIN = {ADMIN}
ALLOWED: dict[str, set[str]] = {
    "lookup": DESK,
    "unlock": DESK,
    "reset_link": DESK,
    "change_email": DESK,
    "mfa_reset": DESK,
    "close": DESK,
    "reopen": DESK,
    "audit_search": AUDIT,
    "audit_export": AUDIT,
    "enrollment_review": PRACTICE,
    "invitation_create": PRACTICE,
    "invitation_resend": PRACTICE,
    "invitation_revoke": PRACTICE,
    "proxy_approve": PRACTICE,
    "portal_create": ONLY_ADMIN,
    "portal_require_mfa": ONLY_ADMIN,
    "client_create": ONLY_ADMIN,
    "client_rotate_secret": ONLY_ADMIN,
    "client_redirect_uris": ONLY_ADMIN,
    "client_require_mfa": ONLY_ADMIN,
}
ROLE_OF = {
    ADMIN: (Role.ADMIN, ()),
    SUPPORT: (Role.SUPPORT, ()),
    IN: (Role.PRACTICE, ("northside",)),
    OUT: (Role.PRACTICE, ("southside",)),
    AUDITOR: (Role.AUDITOR, ()),
}
SCOPE_OF = {
    ADMIN: "idp:admin",
    SUPPORT: "idp:support",
    IN: "idp:practice",
    OUT: "idp:practice",
    AUDITOR: "idp:auditor",
    PATIENT: "profile",
}
WHY = "ticket 4711"
STATE_QUERIES = (
    "SELECT username, status, email FROM accounts ORDER BY id",
    "SELECT COUNT(*) FROM credentials",
    "SELECT COUNT(*) FROM action_tokens",
    "SELECT COUNT(*) FROM outbox_messages",
    "SELECT id, status FROM enrollments ORDER BY id",
    "SELECT id, status, code_hash FROM invitations ORDER BY id",
    "SELECT id, status FROM proxy_grants ORDER BY id",
    "SELECT client_id, client_secret_hash, redirect_uris, require_mfa FROM clients ORDER BY id",
    "SELECT slug, require_mfa FROM portals ORDER BY id",
    "SELECT COUNT(*) FROM audit_events WHERE type <> 'staff_refused'",
)


def _state(services: Services) -> list[list[tuple[object, ...]]]:
    """Everything a staff operation could change, read from SQL."""
    with services.db.session() as session:
        return [[tuple(r) for r in session.execute(text(q))] for q in STATE_QUERIES]


@dataclass
class Desk:
    """The targets of one cell's attempts, fresh for each test."""

    services: Services
    client: Any
    run: Any
    csrf: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    staff: str = "carol"
    ids: dict[str, Any] = field(default_factory=dict)
    said: str = ""  # the last command's output

    # console ---------------------------------------------------------------------------
    def post(self, path: str, **data: str) -> int:
        return int(self.client.post(path, data={"csrf_token": self.csrf, **data}).status_code)

    def action(self, user: str, action: str, **extra: str) -> int:
        return self.post("/admin/patients/action", user=user, action=action, reason=WHY, **extra)

    # API -------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> int:
        call = getattr(self.client, method)
        return int(check(call(path, json=body, headers=self.headers)).status_code)

    # CLI -------------------------------------------------------------------------------
    def cli(self, *args: str) -> int:
        result = self.run(*args, "--staff", self.staff, code=None)
        self.said = result.output
        return int(result.exit_code)


def _invitation_input(mrn: str) -> InvitationInput:
    return InvitationInput(
        patient_id=mrn,
        first_name="Ada",
        last_name="Byron",
        dob="1990-02-03",
        zip="02138",
        gender="female",
        email=f"{mrn.lower()}@example.org",
    )


def _prepare(services: Services, factory: Factory) -> dict[str, Any]:
    root = StaffPrincipal(actor="staff:setup", role=Role.ADMIN)
    with services.db.transaction() as uow:
        north = uow.portals.add(slug="northside", name="Northside", now=AT)
        uow.portals.add(slug="southside", name="Southside", now=AT)
    for name in ("t_lookup", "t_unlock", "t_reset", "t_email", "t_mfa", "t_close", "t_reopen"):
        factory.account(name, last_name="Target", dob=date(1980, 1, 2))
    enrol_totp(services, factory.account("t_mfa2").id)  # a factor to remove
    services.staff.support.close_account(root, "t_reopen", reason="setup")
    invites = {
        mrn: services.staff.invitations.create(root, "northside", _invitation_input(mrn))
        for mrn in ("MRN-R", "MRN-V")
    }
    PatientFlow.from_services(services).add(
        north,
        PatientInput(
            patient_id="MRN-T", first_name="Tim", last_name="Byron", dob=_years_ago(14), zip="02139"
        ),
        actor="staff:setup",
        meta=RequestMeta(),
    )
    factory.account("grace", dob=date.fromisoformat(_years_ago(40)))
    grant = ProxyGrantFlow.from_services(services).grant_by_staff(
        north,
        patient_id="MRN-T",
        representative="grace",
        relationship="parent",
        evidence="form PCR-1",
        staff="Setup",
        actor="staff:setup",
        meta=RequestMeta(),
        full_access=True,
    )
    rp = factory.client(name="North app", portal_id=north.id)
    return {
        "enrollment": pending_enrollment(services, portal="northside", username="enrollee"),
        "resend": invites["MRN-R"].invitation.id,  # type: ignore[union-attr]
        "revoke": invites["MRN-V"].invitation.id,  # type: ignore[union-attr]
        "grant": grant.grant.id,
        "client": rp.client_id,
    }


def _years_ago(years: int) -> str:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28)).isoformat()


def _console(d: Desk, op: str) -> int | None:
    i = d.ids
    calls: dict[str, Callable[[], int]] = {
        "lookup": lambda: int(d.client.get("/admin/patients?username=t_lookup").status_code),
        "unlock": lambda: d.action("t_unlock", "unlock"),
        "reset_link": lambda: d.action("t_reset", "reset_link"),
        "change_email": lambda: d.action("t_email", "change_email", email="new@example.org"),
        "mfa_reset": lambda: d.action("t_mfa2", "reset_mfa"),
        "close": lambda: d.action("t_close", "close"),
        "reopen": lambda: d.action("t_reopen", "reopen"),
        "audit_search": lambda: int(d.client.get("/admin/audit?portal=northside").status_code),
        "audit_export": lambda: d.post("/admin/audit/export", format="csv", portal="northside"),
        "enrollment_review": lambda: d.post(
            "/admin/enrollments/decide", enrollment=str(i["enrollment"]), decision="approve"
        ),
        "invitation_create": lambda: d.post(
            "/admin/invitations/create",
            portal="northside",
            **{k: str(v) for k, v in asdict(_invitation_input("MRN-C")).items()},
        ),
        "invitation_resend": lambda: d.post(
            "/admin/invitations/act", invitation=str(i["resend"]), action="resend", reason=WHY
        ),
        "invitation_revoke": lambda: d.post(
            "/admin/invitations/act", invitation=str(i["revoke"]), action="revoke", reason=WHY
        ),
        "proxy_approve": lambda: d.post(
            "/admin/proxy-grants/decide",
            grant=str(i["grant"]),
            decision="approve",
            teen_signed="yes",
        ),
        "portal_create": lambda: d.post("/admin/portals/create", slug="westside", name="West"),
        "portal_require_mfa": lambda: d.post(
            "/admin/portals/mfa", portal="northside", require_mfa="yes", reason=WHY
        ),
        "client_create": lambda: d.post(
            "/admin/clients/create", name="New app", redirect_uris="https://new.example/cb"
        ),
        "client_rotate_secret": lambda: d.post(
            "/admin/clients/rotate", client_id=i["client"], reason=WHY
        ),
        "client_redirect_uris": lambda: d.post(
            "/admin/clients/redirect-uris",
            client_id=i["client"],
            redirect_uris="https://north.example/v2",
            reason=WHY,
        ),
        "client_require_mfa": lambda: d.post(
            "/admin/clients/mfa", client_id=i["client"], require_mfa="yes", reason=WHY
        ),
    }
    return calls[op]()


def _api(d: Desk, op: str) -> int | None:
    i = d.ids
    invite = {k: str(v) for k, v in asdict(_invitation_input("MRN-C")).items()}
    patients = "/api/admin/patients"
    calls: dict[str, Callable[[], int]] = {
        "lookup": lambda: d.api("get", f"{patients}/search?username=t_lookup"),
        "unlock": lambda: d.api("post", f"{patients}/t_unlock/unlock", {"reason": WHY}),
        "reset_link": lambda: d.api("post", f"{patients}/t_reset/reset-link", {"reason": WHY}),
        "change_email": lambda: d.api(
            "post", f"{patients}/t_email/email", {"email": "new@example.org", "reason": WHY}
        ),
        "mfa_reset": lambda: d.api("post", f"{patients}/t_mfa2/mfa-reset", {"reason": WHY}),
        "close": lambda: d.api("post", f"{patients}/t_close/close", {"reason": WHY}),
        "reopen": lambda: d.api("post", f"{patients}/t_reopen/reopen", {"reason": WHY}),
        "audit_search": lambda: d.api("get", "/api/admin/audit?portal=northside"),
        "audit_export": lambda: d.api("get", "/api/admin/audit/export?format=csv&portal=northside"),
        "enrollment_review": lambda: d.api(
            "post", f"/api/admin/enrollments/{i['enrollment']}/approve", {"staff": "Dana"}
        ),
        "invitation_create": lambda: d.api(
            "post", "/api/admin/portals/northside/invitations", invite
        ),
        "invitation_resend": lambda: d.api(
            "post", f"/api/admin/invitations/{i['resend']}/resend", {"reason": WHY}
        ),
        "invitation_revoke": lambda: d.api("delete", f"/api/admin/invitations/{i['revoke']}"),
        "proxy_approve": lambda: d.api(
            "post",
            f"/api/admin/proxy-grants/{i['grant']}/approve",
            {"staff": "Dana", "teen_signed": True},
        ),
        "portal_create": lambda: d.api(
            "post", "/api/admin/portals", {"slug": "westside", "name": "West"}
        ),
        "portal_require_mfa": lambda: d.api(
            "put", "/api/admin/portals/northside/require-mfa", {"require_mfa": True, "reason": WHY}
        ),
        "client_create": lambda: d.api(
            "post",
            "/api/admin/clients",
            {"name": "New app", "redirect_uris": ["https://new.example/cb"]},
        ),
        "client_rotate_secret": lambda: d.api(
            "post", f"/api/admin/clients/{i['client']}/rotate-secret", {"reason": WHY}
        ),
        "client_redirect_uris": lambda: d.api(
            "put",
            f"/api/admin/clients/{i['client']}/redirect-uris",
            {"redirect_uris": ["https://north.example/v2"], "reason": WHY},
        ),
        "client_require_mfa": lambda: d.api(
            "put",
            f"/api/admin/clients/{i['client']}/require-mfa",
            {"require_mfa": True, "reason": WHY},
        ),
    }
    return calls[op]() if op in calls else None


def _cli(d: Desk, op: str) -> int | None:
    i = d.ids
    invite = asdict(_invitation_input("MRN-C"))
    calls: dict[str, Callable[[], int]] = {
        "unlock": lambda: d.cli("users", "unlock", "t_unlock", "--reason", WHY),
        "reset_link": lambda: d.cli("users", "reset-link", "t_reset", "--reason", WHY),
        "change_email": lambda: d.cli(
            "users", "change-email", "t_email", "--email", "new@example.org", "--reason", WHY
        ),
        "mfa_reset": lambda: d.cli("users", "mfa-reset", "t_mfa2", "--reason", WHY),
        "close": lambda: d.cli("users", "close", "t_close", "--reason", WHY),
        "reopen": lambda: d.cli("users", "reopen", "t_reopen", "--reason", WHY),
        "audit_search": lambda: d.cli("audit", "search", "--portal", "northside", "--json"),
        "audit_export": lambda: d.cli(
            "audit", "export", "--portal", "northside", "--format", "jsonl"
        ),
        "enrollment_review": lambda: d.cli("enrollments", "approve", str(i["enrollment"])),
        "invitation_create": lambda: d.cli(
            "invitations",
            "create",
            "--portal",
            "northside",
            *[f"--{k.replace('_', '-')}={v}" for k, v in invite.items()],
        ),
        "invitation_resend": lambda: d.cli(
            "invitations", "resend", str(i["resend"]), "--reason", WHY
        ),
        "invitation_revoke": lambda: d.cli("invitations", "revoke", str(i["revoke"])),
        "proxy_approve": lambda: d.cli("proxy", "approve", str(i["grant"]), "--teen-signed"),
    }
    return calls[op]() if op in calls else None


SURFACES = {"console": _console, "api": _api, "cli": _cli}


def _allowed(surface: str, code: int) -> bool:
    if surface == "cli":
        assert code in (0, 2), code
        return code == 0
    assert code < 400 or code in (403, 404), code
    return code < 400


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("who", ROLES)
def test_role_operation_surface_table(
    surface,
    who,
    client,
    oidc: OIDCActions,
    factory: Factory,
    services: Services,
    run,
    cli_env,
    as_staff,
) -> None:
    if surface == "cli" and who == PATIENT:
        pytest.skip("the command line has no patient: whoever runs it holds the database")
    cli_env["IDP_ISSUER"] = services.settings.issuer  # commands that make links need it
    ids = _prepare(services, factory)
    desk = Desk(services=services, client=client, run=run, ids=ids)
    if surface == "console":
        if who == PATIENT:
            factory.account("patty")
            oidc.sign_in("patty")
        else:
            role, portals = ROLE_OF[who]
            as_staff(role, portals=portals)
        desk.csrf = csrf_token(client.get("/account").text)
    elif surface == "api":
        portal = {IN: "northside", OUT: "southside"}.get(who)
        with services.db.transaction() as uow:
            portal_id = uow.portals.by_slug(portal).id if portal else None  # type: ignore[union-attr]
        scope = SCOPE_OF[who]
        tool = factory.client(name=f"{who} tool", scope=f"openid {scope}", portal_id=portal_id)
        token = oidc.token(tool, {"grant_type": "client_credentials", "scope": scope})
        assert token.status_code == 200, token.text
        desk.headers = bearer(token.get_json()["access_token"])
    else:
        role, portals = ROLE_OF[who]
        make_staff(services, factory.account("carol"), role.value, *portals)
    outcomes = {}
    for op in ALLOWED:
        before, refusals = _state(services), audit_count(services, "staff_refused")
        code = SURFACES[surface](desk, op)
        if code is None:
            continue  # this surface has no such command
        allowed = _allowed(surface, code)
        outcomes[op] = allowed
        if not allowed:
            assert _state(services) == before, (op, who, surface, desk.said)
            if who != PATIENT:
                refused = audit_count(services, "staff_refused")
                assert refused == refusals + 1, (op, who, surface, desk.said)
    expected = {op: who in ALLOWED[op] for op in outcomes}
    assert outcomes == expected


@pytest.mark.parametrize(("portal", "code"), [("northside", 0), ("southside", 2)])
def test_cli_practice_commands_keep_to_the_staff_members_portals(
    factory: Factory, services: Services, run, portal: str, code: int
) -> None:
    """`idp patients add` and `idp proxy list` with --staff naming a practice account."""
    with services.db.transaction() as uow:
        for slug in ("northside", "southside"):
            uow.portals.add(slug=slug, name=slug.capitalize(), now=AT)
    make_staff(services, factory.account("carol"), "practice", "northside")
    before = _state(services)
    added = run(
        "patients", "add", "--portal", portal, "--patient-id", "MRN-9", "--first-name", "Tim",
        "--last-name", "Byron", "--dob", "2020-01-02", "--zip", "02139", "--staff", "carol",
        code=code,
    )  # fmt: skip
    listed = run("proxy", "list", "--portal", portal, "--staff", "carol", code=code)
    assert audit_count(services, "staff_refused") == (2 if code else 0)
    if code:
        assert "may not" in added.output and "may not" in listed.output
        assert _state(services) == before
