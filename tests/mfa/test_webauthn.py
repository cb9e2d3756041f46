"""Passkeys: registration, sign-in (second factor and discoverable) and every refusal.

Responses come from a software authenticator with a real P-256 key, verified by
py_webauthn as a browser's would be.
"""

from __future__ import annotations

import json

import pytest

from idp.flows.methods.base import NOT_MINE, Failed, FailureReason, Verified
from idp.flows.methods.webauthn import WebAuthnMethod
from idp.store.credentials import CredentialKind
from idp.store.interfaces import EphemeralStore
from idp.store.sql.database import Database

from .conftest import NOW, facts
from .soft_authenticator import SoftAuthenticator

ISSUER = "https://id.example.test"
ORIGIN = "https://id.example.test"
RP_ID = "id.example.test"


@pytest.fixture
def passkeys(ephemeral: EphemeralStore) -> WebAuthnMethod:
    return WebAuthnMethod(issuer=ISSUER, service_name="Patient Sign-in", ephemeral=ephemeral)


def device(**kw: bool) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, **kw)


def register(
    db: Database,
    method: WebAuthnMethod,
    account_id: int,
    authenticator: SoftAuthenticator,
    *,
    flow_id: str = "reg-flow",
) -> Verified | Failed:
    with db.transaction() as uow:
        options = method.registration_options(
            facts(db, account_id),
            user_name="alice",
            display_name="Alice Smith",
            flow_id=flow_id,
            tx=uow,
            now=NOW,
        )
    response = authenticator.create(options)
    with db.transaction() as uow:
        return method.register(
            facts(db, account_id), response, label="Phone", flow_id=flow_id, tx=uow, now=NOW
        )


def options_for(db: Database, method: WebAuthnMethod, account_id: int | None, flow_id: str) -> str:
    with db.transaction() as uow:
        return method.authentication_options(account_id=account_id, flow_id=flow_id, tx=uow)


def second_factor(
    db: Database, method: WebAuthnMethod, account_id: int, response: str, flow_id: str = "f"
) -> object:
    with db.transaction() as uow:
        return method.verify(
            facts(db, account_id),
            {"method": "webauthn", "credential": response},
            tx=uow,
            flow_id=flow_id,
            now=NOW,
        )


def discoverable(db: Database, method: WebAuthnMethod, response: str, flow_id: str = "d") -> object:
    with db.transaction() as uow:
        return method.verify_discoverable(
            {"method": "webauthn", "credential": response}, tx=uow, flow_id=flow_id, now=NOW
        )


def sign_in(
    db: Database,
    method: WebAuthnMethod,
    account_id: int,
    authenticator: SoftAuthenticator,
    **kw: object,
) -> object:
    response = authenticator.get(options_for(db, method, account_id, "f"), **kw)  # type: ignore[arg-type]
    return second_factor(db, method, account_id, response)


def stored_count(db: Database, authenticator: SoftAuthenticator) -> int:
    with db.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(authenticator.credential_id)
    assert found is not None
    return found.sign_count


# --- registration ------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_passkey(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    with db.transaction() as uow:
        options = json.loads(
            passkeys.registration_options(
                facts(db, alice),
                user_name="alice",
                display_name="Alice",
                flow_id="x",
                tx=uow,
                now=NOW,
            )
        )
    assert options["rp"] == {"id": RP_ID, "name": "Patient Sign-in"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []
    handle = options["user"]["id"]
    # 64 random bytes, not the user ID or the account number.
    assert len(handle) == 86 and "alice" not in handle
    with db.transaction() as uow:
        again = json.loads(
            passkeys.registration_options(
                facts(db, alice), user_name="alice", display_name="A", flow_id="y", tx=uow, now=NOW
            )
        )
    assert again["user"]["id"] == handle
    assert again["challenge"] != options["challenge"]


def test_register_then_sign_in_as_second_factor(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    registered = register(db, passkeys, alice, phone)
    assert isinstance(registered, Verified) and registered.amr == ("hwk", "user")
    assert passkeys.enrolled(facts(db, alice))
    with db.transaction() as uow:
        (stored,) = uow.credentials.passkeys_of(alice)
    assert stored.label == "Phone" and stored.transports == ("internal", "hybrid")
    result = sign_in(db, passkeys, alice, phone)
    assert result == Verified(
        "webauthn", alice, ("hwk", "user"), credential=stored.id, user_verified=True
    )
    assert stored_count(db, phone) == 1
    assert isinstance(sign_in(db, passkeys, alice, phone), Verified)
    assert stored_count(db, phone) == 2


def test_second_registration_excludes_the_first_passkey(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    with db.transaction() as uow:
        options = json.loads(
            passkeys.registration_options(
                facts(db, alice), user_name="alice", display_name="A", flow_id="x", tx=uow, now=NOW
            )
        )
    assert [c["id"] for c in options["excludeCredentials"]] == [
        json.loads(phone.get(options_for(db, passkeys, alice, "z")))["id"]
    ]


def test_the_same_authenticator_cannot_be_registered_twice(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    phone = device()
    assert isinstance(register(db, passkeys, alice, phone), Verified)
    assert register(db, passkeys, alice, phone) == Failed(
        "webauthn", FailureReason.ALREADY_REGISTERED
    )
    assert register(db, passkeys, bob, phone) == Failed(
        "webauthn", FailureReason.ALREADY_REGISTERED
    )


def test_synced_passkey_reports_swk(db: Database, passkeys: WebAuthnMethod, alice: int) -> None:
    synced = device(backed_up=True)
    registered = register(db, passkeys, alice, synced)
    assert isinstance(registered, Verified) and registered.amr == ("swk", "user")


@pytest.mark.parametrize("origin", ["https://evil.example.test", "http://id.example.test"])
def test_registration_from_another_origin_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int, origin: str
) -> None:
    with db.transaction() as uow:
        options = passkeys.registration_options(
            facts(db, alice), user_name="a", display_name="a", flow_id="r", tx=uow, now=NOW
        )
    response = device().create(options, origin=origin)
    with db.transaction() as uow:
        result = passkeys.register(
            facts(db, alice), response, label="x", flow_id="r", tx=uow, now=NOW
        )
    assert result == Failed("webauthn", FailureReason.INVALID_RESPONSE)
    assert facts(db, alice).factors == frozenset()


def test_registration_challenge_is_single_use_and_bound_to_its_account(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    with db.transaction() as uow:
        options = passkeys.registration_options(
            facts(db, alice), user_name="a", display_name="a", flow_id="r", tx=uow, now=NOW
        )
    response = device().create(options)
    with db.transaction() as uow:
        # Bob's session presenting Alice's ceremony: refused, and the challenge is spent.
        as_bob = passkeys.register(
            facts(db, bob), response, label="x", flow_id="r", tx=uow, now=NOW
        )
        as_alice = passkeys.register(
            facts(db, alice), response, label="x", flow_id="r", tx=uow, now=NOW
        )
    assert as_bob == as_alice == Failed("webauthn", FailureReason.CHALLENGE_MISSING)
    assert facts(db, alice).factors == facts(db, bob).factors == frozenset()


@pytest.mark.parametrize(
    "response",
    ["", "not json", "{}", "[]", '{"id": 1}', "x" * 100_000, '{"id":"AA","rawId":"AA"}'],
)
def test_registration_with_garbage_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int, response: str
) -> None:
    with db.transaction() as uow:
        passkeys.registration_options(
            facts(db, alice), user_name="a", display_name="a", flow_id="r", tx=uow, now=NOW
        )
    with db.transaction() as uow:
        result = passkeys.register(
            facts(db, alice), response, label="x", flow_id="r", tx=uow, now=NOW
        )
    assert isinstance(result, Failed)
    assert result.reason in {FailureReason.MALFORMED, FailureReason.INVALID_RESPONSE}
    assert facts(db, alice).factors == frozenset()


# --- sign-in -----------------------------------------------------------------------------------


def test_discoverable_sign_in_finds_the_account_by_user_handle(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    alice_key, bob_key = device(), device()
    register(db, passkeys, alice, alice_key)
    register(db, passkeys, bob, bob_key)
    options = json.loads(options_for(db, passkeys, None, "d"))
    assert options.get("allowCredentials", []) == []
    result = discoverable(db, passkeys, bob_key.get(json.dumps(options)))
    assert isinstance(result, Verified) and result.account_id == bob


def test_second_factor_options_list_only_the_accounts_passkeys(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    alice_key, bob_key = device(), device()
    register(db, passkeys, alice, alice_key)
    register(db, passkeys, bob, bob_key)
    options = json.loads(options_for(db, passkeys, alice, "f"))
    ids = [c["id"] for c in options["allowCredentials"]]
    assert ids == [json.loads(alice_key.get(options_for(db, passkeys, alice, "z")))["id"]]


def test_response_to_another_challenge_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    stale = phone.get(options_for(db, passkeys, alice, "old-flow"))
    options_for(db, passkeys, alice, "f")
    assert second_factor(db, passkeys, alice, stale) == Failed(
        "webauthn", FailureReason.INVALID_RESPONSE
    )


def test_wrong_origin_is_refused(db: Database, passkeys: WebAuthnMethod, alice: int) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    result = sign_in(db, passkeys, alice, phone, origin="https://id.example.test.evil.example")
    assert result == Failed("webauthn", FailureReason.INVALID_RESPONSE)
    assert stored_count(db, phone) == 0


def test_replayed_response_is_refused(db: Database, passkeys: WebAuthnMethod, alice: int) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    response = phone.get(options_for(db, passkeys, alice, "f"))
    assert isinstance(second_factor(db, passkeys, alice, response), Verified)
    # The challenge is gone: the same response cannot be checked again...
    assert second_factor(db, passkeys, alice, response) == Failed(
        "webauthn", FailureReason.CHALLENGE_MISSING
    )
    # ...nor against a fresh challenge of the same flow.
    options_for(db, passkeys, alice, "f")
    assert second_factor(db, passkeys, alice, response) == Failed(
        "webauthn", FailureReason.INVALID_RESPONSE
    )


def test_counterless_passkeys_sign_in_repeatedly(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    synced = device(backed_up=True)
    register(db, passkeys, alice, synced)
    for _ in range(2):
        result = sign_in(db, passkeys, alice, synced, sign_count=0)
        assert isinstance(result, Verified) and result.amr == ("swk", "user")


def test_counter_that_does_not_increase_flags_a_clone(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    assert isinstance(sign_in(db, passkeys, alice, phone, sign_count=7), Verified)
    assert sign_in(db, passkeys, alice, phone, sign_count=7) == Failed(
        "webauthn", FailureReason.CLONE_SUSPECTED
    )
    with db.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(phone.credential_id)
    assert found is not None and found.clone_suspected and found.sign_count == 7
    # Flagged: even a response with a higher counter is refused from now on.
    assert sign_in(db, passkeys, alice, phone, sign_count=8) == Failed(
        "webauthn", FailureReason.CLONE_SUSPECTED
    )


def test_a_forged_response_cannot_flag_a_passkey(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    assert isinstance(sign_in(db, passkeys, alice, phone, sign_count=7), Verified)
    forger = device()
    forger.credential_id = phone.credential_id  # knows the ID, not the key
    forger.user_handle = phone.user_handle
    assert sign_in(db, passkeys, alice, forger, sign_count=3) == Failed(
        "webauthn", FailureReason.INVALID_RESPONSE
    )
    assert isinstance(sign_in(db, passkeys, alice, phone, sign_count=8), Verified)


def test_passkey_of_another_account_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    alice_key, bob_key = device(), device()
    register(db, passkeys, alice, alice_key)
    register(db, passkeys, bob, bob_key)
    # Bob's authenticator answering Alice's second-factor challenge.
    assert sign_in(db, passkeys, alice, bob_key) == Failed(
        "webauthn", FailureReason.UNKNOWN_CREDENTIAL
    )
    assert stored_count(db, bob_key) == 0


def test_discoverable_response_with_another_accounts_handle_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int, bob: int
) -> None:
    alice_key, bob_key = device(), device()
    register(db, passkeys, alice, alice_key)
    register(db, passkeys, bob, bob_key)
    assert bob_key.user_handle is not None
    response = alice_key.get(options_for(db, passkeys, None, "d"), user_handle=bob_key.user_handle)
    assert discoverable(db, passkeys, response) == Failed(
        "webauthn", FailureReason.UNKNOWN_CREDENTIAL
    )


def test_discoverable_challenge_does_not_serve_a_second_factor(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    response = phone.get(options_for(db, passkeys, None, "f"))
    assert second_factor(db, passkeys, alice, response) == Failed(
        "webauthn", FailureReason.CHALLENGE_MISSING
    )


def test_unregistered_authenticator_is_unknown(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    register(db, passkeys, alice, device())
    assert sign_in(db, passkeys, alice, device()) == Failed(
        "webauthn", FailureReason.UNKNOWN_CREDENTIAL
    )


@pytest.mark.parametrize(
    "response",
    [
        "",
        "{",
        "null",
        '{"id":"AA","rawId":"AA","type":"public-key","response":{}}',
        '{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"AA",'
        '"authenticatorData":"AA","signature":"AA"}}',
        "y" * 100_000,
    ],
)
def test_garbage_responses_are_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int, response: str
) -> None:
    register(db, passkeys, alice, device())
    options_for(db, passkeys, alice, "f")
    result = second_factor(db, passkeys, alice, response)
    assert isinstance(result, Failed)
    assert result.reason in {FailureReason.MALFORMED, FailureReason.UNKNOWN_CREDENTIAL}


def test_garbage_inside_a_known_credential_is_refused(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    phone = device()
    register(db, passkeys, alice, phone)
    good = json.loads(phone.get(options_for(db, passkeys, alice, "other")))
    for field, value in [
        ("authenticatorData", "AAAA"),
        ("signature", "AAAA"),
        ("clientDataJSON", "e30"),
    ]:
        options_for(db, passkeys, alice, "f")
        bad = json.loads(json.dumps(good))
        bad["response"][field] = value
        result = second_factor(db, passkeys, alice, json.dumps(bad))
        assert result == Failed("webauthn", FailureReason.INVALID_RESPONSE), field


def test_other_methods_submissions_are_not_mine(
    db: Database, passkeys: WebAuthnMethod, alice: int
) -> None:
    with db.transaction() as uow:
        result = passkeys.verify(
            facts(db, alice), {"method": "totp", "code": "123456"}, tx=uow, flow_id="f", now=NOW
        )
    assert result is NOT_MINE
    assert facts(db, alice).factors == frozenset()
    assert CredentialKind.WEBAUTHN not in facts(db, alice).factors


def test_relying_party_comes_from_the_issuer(ephemeral: EphemeralStore) -> None:
    method = WebAuthnMethod(
        issuer="http://localhost:5000/idp", service_name="x", ephemeral=ephemeral
    )
    assert (method.rp_id, method.origin) == ("localhost", "http://localhost:5000")
