"""Device cookies: how a browser proves it signed in as a user ID before.

OWASP "Slow Down Online Guessing Attacks with Device Cookies": after a successful
sign-in the browser gets a cookie signed with the app's secret key (itsdangerous,
which Flask ships), naming a random device id and bound to the user ID. Attempts
from a browser holding a valid cookie for the user ID typed count on that device's
own counter (:func:`idp.store.attempts.device_key`), so failures from elsewhere
never block it (DESIGN invariant 12). The cookie opens nothing by itself: a stolen
one only changes which counter a guess is charged to, and that counter locks too.

The cookie carries a digest of the normalised user ID, not the user ID itself, so a
copied cookie does not tell anyone half the credential.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadData, URLSafeTimedSerializer

from idp.store.usernames import username_key

DEVICE_COOKIE = "idp_device"
# Cookie values we produce are ~120 characters; anything much longer is not ours.
MAX_COOKIE_LENGTH = 512


def _user_digest(username: str) -> str:
    return hashlib.sha256(username_key(username).encode("utf-8")).hexdigest()[:32]


class DeviceCookies:
    """Issues and reads device cookies; the web layer only sets and sends them."""

    def __init__(self, secret_key: str, *, max_age: int) -> None:
        # Its own salt: a session or CSRF value signed with the same key never passes.
        self._serializer = URLSafeTimedSerializer(secret_key, salt="idp-device-cookie")
        self.max_age = max_age

    def issue(self, username: str) -> str:
        """A new cookie value for a browser that just signed in as ``username``."""
        return self._serializer.dumps({"u": _user_digest(username), "d": secrets.token_hex(16)})

    def device_for(self, value: str | None, username: str) -> str | None:
        """The device id when ``value`` is a valid, unexpired cookie for this user ID."""
        if not value or len(value) > MAX_COOKIE_LENGTH:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except BadData:
            return None
        if not isinstance(data, dict) or data.get("u") != _user_digest(username):
            return None
        device = data.get("d")
        return device if isinstance(device, str) and len(device) == 32 else None
