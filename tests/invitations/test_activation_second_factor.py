"""Activation by signing in to an existing account is no MFA bypass (issue 9)."""

from __future__ import annotations

from idp.records import PortalRecord

from ..second_factor import enrol_totp, submit_code, totp_now
from .conftest import DOB, Invites


def test_existing_account_with_a_factor_links_only_after_it(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    account = invites.factory.account(
        "grace", dob=DOB, password="purple elephants dance at midnight"
    )
    secret = enrol_totp(invites.services, account.id)
    invites.invite(token)
    choose = invites.verified(invites.only_code())
    parked = invites.sign_in(choose, "grace")
    assert parked.status_code == 303, parked.text[:800]
    assert parked.headers["Location"] == "/login/second-factor"
    assert invites.client.get_cookie("idp_session") is None
    assert invites.links(account.id, portal) is None  # nothing linked before the factor

    wrong = submit_code(invites.client, "12345")
    assert wrong.status_code == 401
    assert invites.links(account.id, portal) is None

    done = submit_code(invites.client, totp_now(invites.services, secret))
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/activate/done")
    assert invites.client.get_cookie("idp_session") is not None
    link = invites.links(account.id, portal)
    assert link is not None and link.patient_id == "MRN-0042"
