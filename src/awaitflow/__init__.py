"""awaitflow: build async workflows, run them concurrently, and test them.

The public names live here; everything else is private.
"""

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
]
