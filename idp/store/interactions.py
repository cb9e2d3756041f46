"""Pending authorization requests, kept while the patient signs in or consents."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields, replace

from idp.store.interfaces import EphemeralStore


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    client_id: str
    params: dict[str, str]
    created_at: int
    # Session key of a sign-in done for this request, and when.
    login_session: str | None = None
    consent_done: bool = False
    # The "whose record" picker was answered for this request (prompt=select_account).
    record_chosen: bool = False


# Field names, read once: ``dataclasses.asdict`` deep-copies every value (the params
# dict too) only for json.dumps to read them; it was the costliest step of saving an
# interaction, which each sign-in does twice (issue 12 item 3).
_FIELDS = tuple(f.name for f in fields(Interaction))


class InteractionStore:
    def __init__(self, store: EphemeralStore, *, ttl: int) -> None:
        self._store = store
        self._ttl = ttl

    def start(self, *, client_id: str, params: dict[str, str], now: int) -> Interaction:
        interaction = Interaction(
            id=secrets.token_urlsafe(24), client_id=client_id, params=params, created_at=now
        )
        self.save(interaction)
        return interaction

    def save(self, interaction: Interaction) -> None:
        self._store.put(
            f"interaction:{interaction.id}",
            json.dumps({name: getattr(interaction, name) for name in _FIELDS}),
            ttl=self._ttl,
        )

    def get(self, interaction_id: str | None) -> Interaction | None:
        if not interaction_id or len(interaction_id) > 64:
            return None
        raw = self._store.get(f"interaction:{interaction_id}")
        return None if raw is None else Interaction(**json.loads(raw))

    def finish(self, interaction_id: str) -> Interaction | None:
        """Take it (single use): a code is issued at most once per interaction."""
        raw = self._store.take(f"interaction:{interaction_id}")
        return None if raw is None else Interaction(**json.loads(raw))

    def update(self, interaction: Interaction, **changes: object) -> Interaction:
        updated = replace(interaction, **changes)  # type: ignore[arg-type]
        self.save(updated)
        return updated
