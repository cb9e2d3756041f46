"""What the notify layer sends, and the two ways a send can fail.

Senders raise :class:`TemporaryFailure` when trying again later may work (a 4xx
SMTP reply, a refused connection, an HTTP 503) and :class:`PermanentFailure`
when it will not (a 5xx SMTP reply for the recipient, an HTTP 400). The
``code`` of either is short and safe to store and log: it never carries the
message, a credential or a server's free text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    # Work done after the response, by the outbox worker (see idp.notify.tasks).
    TASK = "task"


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message. ``message_id`` is the RFC 5322 Message-ID (``<…@domain>``)."""

    channel: Channel
    recipient: str
    template: str
    subject: str | None
    text: str
    html: str | None = None
    message_id: str | None = None


def new_message_id(domain: str) -> str:
    """A globally unique Message-ID (RFC 5322 §3.6.4); random, so it reveals nothing."""
    return f"<{uuid.uuid4().hex}@{domain}>"


class DeliveryError(Exception):
    """A send failed; ``code`` is a short, secret-free description such as ``smtp 451``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TemporaryFailure(DeliveryError):
    """Try again later (with back-off)."""


class PermanentFailure(DeliveryError):
    """Do not try again: the message is marked failed."""


class Sender(Protocol):
    """Delivers one message or raises :class:`DeliveryError`; one per channel."""

    def send(self, message: Message) -> None: ...
