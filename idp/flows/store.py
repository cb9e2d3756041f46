"""FlowStore: every journey's step state, on the ephemeral store.

Generalises ``recovery_common.RecoveryFlowStore`` (the closest of the six ad-hoc
mechanisms flow-kernel.md counted):

- ids are 256-bit ``token_urlsafe(32)`` values; the store key is their SHA-256, so a
  dump of Redis holds no usable flow id;
- ``load`` answers only for the right kind, one of the expected states and the
  browser the flow is bound to; anything else is "no such flow" (the caller shows
  its expired page, never which check failed);
- ``advance`` moves to a state the flow's :class:`~idp.flows.base.StateMachine`
  allows and keeps the original deadline: stepping never extends a flow;
- ``finish`` checks, then takes the record (GETDEL): of two concurrent final
  submissions exactly one gets it, so a journey's result is produced once, and a
  browser the flow is not bound to can neither use nor discard it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from idp.clock import Clock
from idp.store.interfaces import EphemeralStore

from .base import FlowRecord, StateMachine

FLOW_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def _key(flow_id: str) -> str:
    return "flow:" + hashlib.sha256(flow_id.encode("ascii")).hexdigest()


class FlowStore:
    def __init__(self, store: EphemeralStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def start(
        self,
        kind: str,
        state: str,
        *,
        ttl: int,
        binding: str,
        interaction_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> FlowRecord:
        record = FlowRecord(
            id=secrets.token_urlsafe(32),
            kind=kind,
            state=state,
            expires_at=self._clock().timestamp() + ttl,
            binding=binding,
            interaction_id=interaction_id,
            context=dict(context or {}),
        )
        self._store.put(_key(record.id), _dump(record), ttl=float(ttl))
        return record

    def load(
        self, flow_id: str | None, kind: str, states: Collection[str], *, binding: str
    ) -> FlowRecord | None:
        """The live flow, if it is of ``kind``, in one of ``states`` and bound to ``binding``."""
        if not flow_id or not FLOW_ID.fullmatch(flow_id):
            return None
        raw = self._store.get(_key(flow_id))
        record = _load(flow_id, raw) if raw else None
        return record if _matches(record, kind, states, binding) else None

    def advance(
        self,
        record: FlowRecord,
        state: str,
        machine: StateMachine[Any],
        *,
        context: Mapping[str, Any] | None = None,
    ) -> FlowRecord | None:
        """Move to ``state`` keeping the deadline; None when the flow expired meanwhile."""
        machine.check(record.state, state)
        moved = replace(
            record, state=state, context=dict(context if context is not None else record.context)
        )
        remaining = self._store.ttl(_key(record.id))
        if not remaining or remaining <= 0:
            return None
        self._store.put(_key(record.id), _dump(moved), ttl=remaining)
        return moved

    def finish(
        self, flow_id: str, kind: str, states: Collection[str], *, binding: str
    ) -> FlowRecord | None:
        """Take the flow for its last step: single use, even under concurrent requests.

        Checked before it is taken: a flow id leaked to another browser (or a wrong
        kind or state) must not let that browser discard the patient's flow.
        """
        if self.load(flow_id, kind, states, binding=binding) is None:
            return None
        raw = self._store.take(_key(flow_id))
        record = _load(flow_id, raw) if raw else None
        return record if _matches(record, kind, states, binding) else None

    def discard(self, flow_id: str) -> None:
        if FLOW_ID.fullmatch(flow_id):
            self._store.delete(_key(flow_id))


def _matches(record: FlowRecord | None, kind: str, states: Collection[str], binding: str) -> bool:
    return (
        record is not None
        and record.kind == kind
        and record.state in states
        # Constant time: the binding is a secret of the browser that started the flow.
        and hmac.compare_digest(record.binding.encode(), binding.encode())
    )


def _dump(record: FlowRecord) -> str:
    return json.dumps(
        {
            "kind": record.kind,
            "state": record.state,
            "expires_at": record.expires_at,
            "binding": record.binding,
            "interaction_id": record.interaction_id,
            "context": dict(record.context),
        }
    )


def _load(flow_id: str, raw: str) -> FlowRecord | None:
    try:
        data = json.loads(raw)
        return FlowRecord(
            id=flow_id,
            kind=str(data["kind"]),
            state=str(data["state"]),
            expires_at=float(data["expires_at"]),
            binding=str(data["binding"]),
            interaction_id=data.get("interaction_id"),
            context=dict(data.get("context") or {}),
        )
    except (ValueError, KeyError, TypeError):
        return None
