"""awaitflow: build async workflows, run them concurrently, and test them.

The public names live here; everything else is private.
"""

from typing import TYPE_CHECKING, Any

from ._blocking import BlockingCallWarning
from ._builder import AsyncWorkflowBuilder
from ._events import Event
from ._exceptions import (
    AwaitflowError,
    CircuitBreakerOpenError,
    DeadlockError,
    MissingOutputError,
    ResourceNotFoundError,
    WorkflowValidationError,
)
from ._graph import Workflow
from ._resilience import CircuitBreaker, RetryPolicy
from ._results import NodeTiming, WorkflowResult
from ._runtime import AsyncLocalRuntime

if TYPE_CHECKING:
    from ._timeline import render_timeline, write_timeline

__version__ = "0.1.0"

__all__ = [
    "AsyncLocalRuntime",
    "AsyncWorkflowBuilder",
    "AwaitflowError",
    "BlockingCallWarning",
    "CircuitBreaker",
    "CircuitBreakerOpenError",
    "DeadlockError",
    "Event",
    "MissingOutputError",
    "NodeTiming",
    "ResourceNotFoundError",
    "RetryPolicy",
    "Workflow",
    "WorkflowResult",
    "WorkflowValidationError",
    "render_timeline",
    "write_timeline",
]


def __getattr__(name: str) -> Any:
    """Import the timeline drawing on first use, so ``import awaitflow`` stays light."""
    if name in ("render_timeline", "write_timeline"):
        from . import _timeline

        return getattr(_timeline, name)
    raise AttributeError(f"module 'awaitflow' has no attribute {name!r}")
