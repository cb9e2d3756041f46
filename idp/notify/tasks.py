"""Work done after the response: the outbox worker's ``task`` channel.

A recovery or sign-up step must answer in the same time whether or not it finds an
account (security invariant 4; issue 8, item 7). Issuing a link and rendering its
email cost a known user ID a few milliseconds that an unknown one never spends, and
rehearsing that work is only ever approximately as slow. So such a step queues the
same small row in every case and answers; the worker then runs the registered
handler, in its own transaction, with the outbox's retries (a handler that raises is
retried later, as a temporary delivery failure is).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from idp.i18n import message_locale

from .messages import Channel, Message, PermanentFailure

log = logging.getLogger("idp.notify")

TaskHandler = Callable[[Mapping[str, Any]], None]

# The payload's key for the language the task's messages are written in.
TASK_LOCALE_KEY = "_locale"


class TaskRunner:
    """The ``task`` channel's sender: hands each queued task to its kind's handler."""

    def __init__(self, handlers: Mapping[str, TaskHandler] | None = None) -> None:
        self._handlers: dict[str, TaskHandler] = dict(handlers or {})

    def register(self, kind: str, handler: TaskHandler) -> None:
        self._handlers[kind] = handler

    def send(self, message: Message) -> None:
        if message.channel is not Channel.TASK:
            raise PermanentFailure("not_a_task")
        handler = self._handlers.get(message.template)
        if handler is None:
            raise PermanentFailure(f"no_handler {message.template}")
        try:
            payload = json.loads(message.text)
        except ValueError as exc:
            raise PermanentFailure("bad_payload") from exc
        if not isinstance(payload, dict):
            raise PermanentFailure("bad_payload")
        locale = payload.get(TASK_LOCALE_KEY)
        with message_locale(locale if isinstance(locale, str) else None):
            handler(payload)
        log.info("task done: %s %s", message.template, message.message_id)
