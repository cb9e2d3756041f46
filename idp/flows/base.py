"""The flow kernel: one record, one outcome type and one enforced state table.

Before this module each journey kept its own step record, result type and
``TRANSITIONS`` dict (used, at best, in an ``assert``); see
``shared/design/flow-kernel.md``. Every journey moved onto the kernel shares:

- :class:`FlowRecord`: what is kept between two requests of one journey (kept by
  :class:`idp.flows.store.FlowStore`, never in the browser);
- :data:`Outcome`: what a step returns to the view: ``Render`` a page, ``Redirect``
  somewhere, or ``Done`` with the journey's result. Views turn outcomes into HTTP;
  flows never touch the request or the response (STYLE.md, "Flows");
- :class:`StateMachine`: the allowed transitions, checked on every advance, so a
  step that skips a state (say, the second factor) is an error, not a bypass
  (Ory Kratos ``selfservice/flow/state.go`` draws the same idea).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One journey's server-side state.

    ``binding``: a value only the browser that started the flow can present (a hash
    of a secret in its session cookie), so a flow id leaked through a log, a
    screenshot or a shared link is useless in another browser (login CSRF,
    OWASP "Login CSRF"). ``interaction_id``: the pending authorization request the
    journey serves, if any, so a finished sign-in resumes the right portal.
    """

    id: str
    kind: str
    state: str
    expires_at: float
    binding: str
    interaction_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Render:
    """Show ``view`` with ``status``; texts are message IDs (templates key on them)."""

    view: str
    status: int = 200
    message_ids: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> str | None:
        return self.message_ids[0] if self.message_ids else None


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


R = TypeVar("R")
# A journey's states: plain strings, or a StrEnum of them.
S = TypeVar("S", bound=str)


@dataclass(frozen=True, slots=True)
class Done(Generic[R]):
    """The journey ended; ``result`` is what the web layer acts on."""

    result: R


Outcome = Render | Redirect | Done[Any]


class IllegalTransition(RuntimeError):
    """A step tried to move a flow along an edge its table does not have: a bug."""


class StateMachine(Generic[S]):
    """A table of allowed transitions, enforced (not asserted: ``-O`` drops asserts).

    Generic over the state type, so a journey's own ``StrEnum`` of states is a table
    key as it is (a ``Mapping`` is invariant in its keys).
    """

    def __init__(self, transitions: Mapping[S, frozenset[S]]) -> None:
        for targets in transitions.values():
            unknown = targets - transitions.keys()
            if unknown:
                raise ValueError(f"transitions name unknown states: {sorted(unknown)}")
        self._states: frozenset[S] = frozenset(transitions)
        # (source, target) pairs: asked with plain strings, as records carry states.
        self._allowed: frozenset[tuple[str, str]] = frozenset(
            (source, target) for source, targets in transitions.items() for target in targets
        )

    @property
    def states(self) -> frozenset[S]:
        return self._states

    def allows(self, source: str, target: str) -> bool:
        return (source, target) in self._allowed

    def check(self, source: str, target: str) -> None:
        if not self.allows(source, target):
            raise IllegalTransition(f"{source} -> {target}")
