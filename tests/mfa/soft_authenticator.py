"""A software WebAuthn authenticator for tests: one EC P-256 credential, "none" attestation.

It builds real responses (WebAuthn §6.1 authenticator data, §6.5 attestation object,
§5.8.1 client data) and signs them with a real key, so py_webauthn verifies them
exactly as it verifies a browser's; nothing in the method under test is mocked.
The ``origin``, ``challenge`` and ``sign_count`` of a response can be overridden to
build the hostile responses the tests need.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


class SoftAuthenticator:
    def __init__(
        self, *, origin: str, rp_id: str, backed_up: bool = False, user_verified: bool = True
    ) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.backed_up = backed_up
        # False: an authenticator that tests presence only (no PIN or biometric).
        self.user_verified = user_verified
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def _flags(self) -> int:
        return UP | (UV if self.user_verified else 0) | ((BE | BS) if self.backed_up else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps(data, separators=(",", ":")).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def create(self, options_json: str, *, origin: str | None = None) -> str:
        """The JSON a browser posts after ``navigator.credentials.create(options)``."""
        options = json.loads(options_json)
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags() | AT])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID: unknown model
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return self._credential(
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal", "hybrid"],
            }
        )

    def get(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> str:
        """The JSON a browser posts after ``navigator.credentials.get(options)``."""
        options = json.loads(options_json)
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags()])
            + self.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = user_handle or self.user_handle
        return self._credential(
            {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(handle) if handle else None,
            }
        )

    def _credential(self, response: dict[str, Any]) -> str:
        cred_id = bytes_to_base64url(self.credential_id)
        return json.dumps(
            {"id": cred_id, "rawId": cred_id, "type": "public-key", "response": response}
        )
