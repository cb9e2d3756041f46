"""The staff role policy: each role holds exactly its operations; practice is confined."""

from __future__ import annotations

import pytest

from idp.policies.staff_roles import (
    ROLE_OPERATIONS,
    Operation,
    Role,
    StaffPrincipal,
    StaffRoleError,
    check_portals,
    may,
    may_on_portal,
    parse_role,
)

SUPPORT = {"patient_lookup", "unlock", "send_reset_link", "change_email", "mfa_reset"}
SUPPORT |= {"close_account", "reopen_account"}
PRACTICE = {
    "invitation_list",
    "invitation_create",
    "invitation_resend",
    "invitation_revoke",
    "enrollment_list",
    "enrollment_approve",
    "enrollment_reject",
    "patient_add",
    "proxy_list",
    "proxy_grant",
    "proxy_approve",
    "proxy_revoke",
    "audit_search",
    "audit_export",
}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, {op.value for op in Operation}),
        (Role.SUPPORT, SUPPORT),
        (Role.PRACTICE, PRACTICE),
        (Role.AUDITOR, {"audit_search", "audit_export"}),
    ],
)
def test_each_role_holds_exactly_its_operations(role: Role, expected: set[str]) -> None:
    assert {op.value for op in Operation if may(role, op)} == expected
    assert {op.value for op in ROLE_OPERATIONS[role]} == expected


def test_only_admin_manages_staff_and_portals() -> None:
    for op in (Operation.STAFF_MANAGE, Operation.CLIENT_ROTATE_SECRET, Operation.PORTAL_CREATE):
        assert [r for r in Role if may(r, op)] == [Role.ADMIN]


def test_practice_is_confined_to_its_portals() -> None:
    clinic = StaffPrincipal(actor="staff:p", role=Role.PRACTICE, portals=frozenset({"north"}))
    assert may_on_portal(clinic, Operation.INVITATION_CREATE, "north")
    assert not may_on_portal(clinic, Operation.INVITATION_CREATE, "south")
    # "every portal" is not one of its portals
    assert not may_on_portal(clinic, Operation.AUDIT_SEARCH, None)
    assert may_on_portal(clinic, Operation.AUDIT_SEARCH, "north")
    assert not may_on_portal(clinic, Operation.UNLOCK, "north")


def test_unconfined_roles_reach_every_portal_within_their_operations() -> None:
    admin = StaffPrincipal(actor="staff:a", role=Role.ADMIN)
    auditor = StaffPrincipal(actor="staff:b", role=Role.AUDITOR)
    assert may_on_portal(admin, Operation.PROXY_GRANT, "south")
    assert may_on_portal(auditor, Operation.AUDIT_EXPORT, None)
    assert not may_on_portal(auditor, Operation.INVITATION_LIST, "south")


def test_roles_parse_and_portals_are_checked() -> None:
    assert parse_role(" Support ") is Role.SUPPORT
    with pytest.raises(StaffRoleError, match="unknown role"):
        parse_role("root")
    with pytest.raises(StaffRoleError, match="at least one --portal"):
        check_portals(Role.PRACTICE, frozenset())
    with pytest.raises(StaffRoleError, match="not scoped"):
        check_portals(Role.SUPPORT, frozenset({"north"}))
    assert check_portals(Role.PRACTICE, frozenset({"north"})) == frozenset({"north"})
    assert check_portals(Role.AUDITOR, frozenset()) is None
