"""The errors awaitflow raises.

The tree::

    AwaitflowError                       base of every error of ours
    ├── WorkflowValidationError          (ValueError)   your workflow is wrong; raised by build()
    ├── MissingOutputError               (KeyError)     a connection names a key the source lacks
    ├── ResourceNotFoundError            (KeyError)     get_resource() of a name never registered
    ├── DeadlockError                    (RuntimeError) nodes wait on each other and never finish
    ├── CircuitBreakerOpenError          (RuntimeError) a breaker refuses the call while open
    │   awaitflow.testing adds:
    ├── UnmatchedRequestError            (AssertionError) the mock HTTP client got a request
    │                                                     no registered route matches
    ├── HttpStatusError                  a mock response's raise_for_status() on a 4xx/5xx
    └── ServerUnavailableError           (ConnectionError) PostgreSQL or Redis is unreachable

Errors raised by node code propagate with their own type and message; awaitflow
adds a note naming the node. Timeouts are the builtin ``TimeoutError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "AwaitflowError",
    "CircuitBreakerOpenError",
    "DeadlockError",
    "MissingOutputError",
    "ResourceNotFoundError",
    "WorkflowValidationError",
]


class AwaitflowError(Exception):
    """Base class of every error awaitflow raises itself."""


class WorkflowValidationError(AwaitflowError, ValueError):
    """A workflow is malformed; raised by ``build()``.

    ``node_id`` names the culprit node when there is one.
    """

    def __init__(self, message: str, *, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class MissingOutputError(AwaitflowError, KeyError):
    """A connection's source output has no such key at run time."""

    def __init__(self, source: str, key: str, target: str, available: Iterable[str]) -> None:
        self.source = source
        self.key = key
        self.target = target
        self.available = sorted(available)
        message = (
            f"node {source!r} has no output {key!r} needed by node {target!r}; "
            f"its output keys are: {', '.join(map(repr, self.available)) or '(none)'}"
        )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class ResourceNotFoundError(AwaitflowError, KeyError):
    """``get_resource(name)`` asked for a resource nobody registered."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        self.name = name
        self.available = sorted(available)
        message = (
            f"no resource named {name!r}; registered resources: "
            f"{', '.join(map(repr, self.available)) or '(none)'}"
        )
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class DeadlockError(AwaitflowError, RuntimeError):
    """Nodes wait on each other's results and can never finish.

    ``cycle`` lists the nodes in wait order, the waiter that closed the cycle first.
    """

    def __init__(self, cycle: Sequence[str], message: str | None = None) -> None:
        self.cycle = list(cycle)
        if message is None:
            message = "deadlock: " + " -> ".join(repr(n) for n in [*self.cycle, self.cycle[0]])
        super().__init__(message)


class CircuitBreakerOpenError(AwaitflowError, RuntimeError):
    """A circuit breaker is open and refuses calls until its reset timeout passes."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
