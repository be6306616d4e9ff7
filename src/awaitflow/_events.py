"""The event stream: what a runtime reports while it executes workflows.

Tracing, the command line and the testing framework all consume these events
through ``AsyncLocalRuntime.subscribe``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Event", "EventKind", "Listener"]

EventKind: TypeAlias = Literal[
    "workflow_started",
    "workflow_completed",
    "workflow_failed",
    "node_started",
    "node_completed",
    "node_failed",
    "node_retried",
    "resource_acquired",
    "resource_released",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in a runtime.

    ``timestamp`` is the event loop's clock (``loop.time()``), so it follows a
    virtual clock. ``execution_id`` tells concurrent executions of one workflow
    apart; ``attempt`` counts node attempts from 1 when a retry policy re-runs it.
    """

    kind: EventKind
    workflow: str | None
    node_id: str | None
    timestamp: float
    error: BaseException | None = None
    execution_id: int | None = None
    attempt: int | None = None
    resource: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The event as a plain dict, with the trace keys ``timestamp``, ``event``, ``node_id``."""
        return {
            "timestamp": self.timestamp,
            "event": self.kind,
            "workflow": self.workflow,
            "node_id": self.node_id,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "resource": self.resource,
            "error": self.error,
        }


Listener: TypeAlias = Callable[[Event], "Awaitable[None] | None"]


async def dispatch(listeners: list[Listener], event: Event) -> None:
    """Call every listener with ``event``, awaiting the async ones in order."""
    for listener in tuple(listeners):
        outcome = listener(event)
        if inspect.isawaitable(outcome):
            await outcome
