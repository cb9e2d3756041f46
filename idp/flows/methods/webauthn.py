"""Passkeys (WebAuthn Level 3) as a credential method, on py_webauthn.

py_webauthn checks the cryptography and the client data; what it leaves to its
caller (stack-notes §2) is done here:

- **Challenges are ours, single use, server-side.** Each ceremony's options store
  their challenge in the ephemeral store under the flow's id (hashed) for five
  minutes; the response takes it (GETDEL), so a response can be checked once, and a
  captured response never verifies against a later challenge.
- **Whose credential.** A response's credential ID is looked up in our table. As a
  second factor it must be one of the signed-in account's passkeys; at discoverable
  sign-in (no user ID typed, empty allow list) the authenticator's user handle
  names the account, and it must be the handle of the account that owns the
  credential (WebAuthn §7.2 step 6).
- **Counter and clones.** The library would refuse a non-increasing counter, but
  with the same exception as a bad signature. We pass it 0 and apply
  :func:`idp.policies.passkeys.counter_is_plausible` ourselves after the signature
  verifies, so a suspected clone is flagged (and refused from then on) and only a
  genuine response can flag it. The new counter is stored by a conditional UPDATE on
  the old one: two racing assertions with one counter cannot both pass.
- **Relying party.** ``rp_id`` is the issuer's host and the only accepted origin is
  the issuer's origin: passkeys registered here work only on these pages.
- **User handle.** 64 random bytes per account (``generate_user_handle``), stored
  durably, never the user ID or subject: WebAuthn §14.6.1 asks that it identify
  nobody outside this site.

Options leave here as the JSON the browser's ``navigator.credentials`` calls take
(after base64url decoding), and responses come back as the JSON of a
``PublicKeyCredential`` (``toJSON()``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    generate_user_handle,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.policies.passkeys import counter_is_plausible, passkey_amr
from idp.store.credentials import CredentialKind, NewPasskey, PasskeyCredential
from idp.store.interfaces import EphemeralStore

from .base import (
    NOT_MINE,
    AccountFacts,
    Failed,
    FailureReason,
    MethodTx,
    Verification,
    Verified,
    submitted_for,
)

RESPONSE_FIELD = "credential"
CHALLENGE_TTL = 300  # seconds; also the browser-side timeout
# A real response is a few kilobytes; anything far larger is refused before parsing.
MAX_RESPONSE_LENGTH = 64 * 1024
MAX_LABEL_LENGTH = 64
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}
# Not a bug in our code but a hostile or broken response: parsing binary structures
# (CBOR, authenticator data) can fail in these ways too, and must end as a refusal.
BAD_RESPONSE = (WebAuthnException, ValueError, TypeError, KeyError, IndexError)


class WebAuthnMethod:
    id = CredentialKind.WEBAUTHN.value
    amr = ("hwk", "swk", "user")

    def __init__(self, *, issuer: str, service_name: str, ephemeral: EphemeralStore) -> None:
        parts = urlsplit(issuer)
        if not parts.scheme or not parts.hostname:
            raise ValueError("the issuer must be an absolute URL")
        self.rp_id = parts.hostname
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._rp_name = service_name
        self._ephemeral = ephemeral

    def enrolled(self, account: AccountFacts) -> bool:
        return CredentialKind.WEBAUTHN in account.factors

    # --- registration (account page) ---------------------------------------------------------

    def registration_options(
        self,
        account: AccountFacts,
        *,
        user_name: str,
        display_name: str,
        flow_id: str,
        tx: MethodTx,
        now: datetime,
    ) -> str:
        """Options for ``navigator.credentials.create``: a discoverable passkey.

        Existing passkeys are excluded, so an authenticator that already holds one for
        this account says so instead of making a second.
        """
        handle = tx.credentials.user_handle(
            account.account_id, new_handle=generate_user_handle(), now=now
        )
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self._rp_name,
            user_id=handle,
            user_name=user_name,
            user_display_name=display_name,
            timeout=CHALLENGE_TTL * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=self._descriptors(tx, account.account_id),
        )
        self._keep_challenge("register", flow_id, options.challenge, account.account_id)
        return options_to_json(options)

    def register(
        self,
        account: AccountFacts,
        response: str,
        *,
        label: str,
        flow_id: str,
        tx: MethodTx,
        now: datetime,
    ) -> Verified | Failed:
        """Verify a ``create()`` response to this flow's options and keep the passkey."""
        challenge = self._take_challenge("register", flow_id, account.account_id)
        if challenge is None:
            return Failed(self.id, FailureReason.CHALLENGE_MISSING)
        name = " ".join(label.split())
        if len(response) > MAX_RESPONSE_LENGTH or len(name) > MAX_LABEL_LENGTH:
            return Failed(self.id, FailureReason.MALFORMED)
        try:
            credential = parse_registration_credential_json(response)
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
            )
        except BAD_RESPONSE:
            return Failed(self.id, FailureReason.INVALID_RESPONSE)
        transports = tuple(t.value for t in credential.response.transports or ())
        row = tx.credentials.add_passkey(
            account.account_id,
            NewPasskey(
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=transports,
                aaguid=verified.aaguid,
                backed_up=verified.credential_backed_up,
                label=name or "Passkey",
            ),
            now=now,
        )
        if row is None:
            return Failed(self.id, FailureReason.ALREADY_REGISTERED)
        return Verified(
            self.id,
            account.account_id,
            passkey_amr(backed_up=verified.credential_backed_up),
            credential=row,
        )

    # --- authentication ----------------------------------------------------------------------

    def authentication_options(self, *, account_id: int | None, flow_id: str, tx: MethodTx) -> str:
        """Options for ``navigator.credentials.get``.

        With an account (second factor, step-up): its passkeys as the allow list. Without
        (discoverable sign-in): an empty allow list, so the browser offers every passkey
        it holds for this site.
        """
        allow = [] if account_id is None else self._descriptors(tx, account_id)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            timeout=CHALLENGE_TTL * 1000,
            allow_credentials=allow,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        self._keep_challenge("authenticate", flow_id, options.challenge, account_id)
        return options_to_json(options)

    def verify(
        self,
        account: AccountFacts,
        form: Mapping[str, str],
        *,
        tx: MethodTx,
        flow_id: str,
        now: datetime,
    ) -> Verification:
        """A passkey as the second factor (or step-up) of an identified account."""
        if not submitted_for(self.id, form):
            return NOT_MINE
        challenge = self._take_challenge("authenticate", flow_id, account.account_id)
        if challenge is None:
            return Failed(self.id, FailureReason.CHALLENGE_MISSING)
        return self._check(form.get(RESPONSE_FIELD, ""), challenge, account.account_id, tx, now)

    def verify_discoverable(
        self, form: Mapping[str, str], *, tx: MethodTx, flow_id: str, now: datetime
    ) -> Verified | Failed:
        """Sign-in with a passkey alone: the response names the account (user handle)."""
        challenge = self._take_challenge("authenticate", flow_id, None)
        if challenge is None:
            return Failed(self.id, FailureReason.CHALLENGE_MISSING)
        return self._check(form.get(RESPONSE_FIELD, ""), challenge, None, tx, now)

    def forget_challenge(self, flow_id: str) -> None:
        """Drop a flow's authentication challenge unused (a refused attempt spends it)."""
        self._ephemeral.delete(self._key("authenticate", flow_id))

    # --- helpers -----------------------------------------------------------------------------

    def _check(
        self,
        response: str,
        challenge: bytes,
        account_id: int | None,
        tx: MethodTx,
        now: datetime,
    ) -> Verified | Failed:
        if not response or len(response) > MAX_RESPONSE_LENGTH:
            return Failed(self.id, FailureReason.MALFORMED)
        try:
            credential = parse_authentication_credential_json(response)
        except BAD_RESPONSE:
            return Failed(self.id, FailureReason.MALFORMED)
        passkey = tx.credentials.passkey_by_credential_id(credential.raw_id)
        if passkey is None or not self._owned(passkey, credential, account_id, tx):
            return Failed(self.id, FailureReason.UNKNOWN_CREDENTIAL)
        if passkey.clone_suspected:
            return Failed(self.id, FailureReason.CLONE_SUSPECTED)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=passkey.public_key,
                # Zero turns the library's counter check off: ours follows, see above.
                credential_current_sign_count=0,
            )
        except BAD_RESPONSE:
            return Failed(self.id, FailureReason.INVALID_RESPONSE)
        if not counter_is_plausible(passkey.sign_count, verified.new_sign_count):
            tx.credentials.flag_clone(passkey.id, now=now)
            return Failed(self.id, FailureReason.CLONE_SUSPECTED)
        if not tx.credentials.record_passkey_use(
            passkey.id,
            seen_count=passkey.sign_count,
            new_count=verified.new_sign_count,
            backed_up=verified.credential_backed_up,
            now=now,
        ):
            return Failed(self.id, FailureReason.REPLAYED)
        return Verified(
            self.id,
            passkey.account_id,
            passkey_amr(backed_up=verified.credential_backed_up),
            credential=passkey.id,
            user_verified=verified.user_verified,
        )

    def _owned(
        self,
        passkey: PasskeyCredential,
        credential: AuthenticationCredential,
        account_id: int | None,
        tx: MethodTx,
    ) -> bool:
        """The credential is the expected account's, and the user handle agrees."""
        if account_id is not None and passkey.account_id != account_id:
            return False
        handle = credential.response.user_handle
        if handle is None:
            # Discoverable sign-in must name its user; a second factor may omit it.
            return account_id is not None
        return tx.credentials.account_for_handle(handle) == passkey.account_id

    def _descriptors(self, tx: MethodTx, account_id: int) -> list[PublicKeyCredentialDescriptor]:
        return [
            PublicKeyCredentialDescriptor(
                id=p.credential_id,
                transports=[_TRANSPORTS[t] for t in p.transports if t in _TRANSPORTS],
            )
            for p in tx.credentials.passkeys_of(account_id)
        ]

    def _key(self, purpose: str, flow_id: str) -> str:
        return f"webauthn:{purpose}:{hashlib.sha256(flow_id.encode()).hexdigest()}"

    def _keep_challenge(
        self, purpose: str, flow_id: str, challenge: bytes, account_id: int | None
    ) -> None:
        value = json.dumps({"challenge": bytes_to_base64url(challenge), "account": account_id})
        self._ephemeral.put(self._key(purpose, flow_id), value, ttl=CHALLENGE_TTL)

    def _take_challenge(self, purpose: str, flow_id: str, account_id: int | None) -> bytes | None:
        """The flow's challenge, once; None if absent or issued for another account."""
        raw = self._ephemeral.take(self._key(purpose, flow_id))
        if raw is None:
            return None
        kept = json.loads(raw)
        if kept["account"] != account_id:
            return None
        return base64url_to_bytes(kept["challenge"])
