"""AsyncLocalRuntime: executes workflows, holds registered functions and resources."""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ._events import Event, Listener, dispatch
from ._execution import Execution, current_node
from ._graph import Workflow
from ._resources import ResourceRegistry
from ._results import WorkflowResult

if TYPE_CHECKING:
    from ._builder import AsyncWorkflowBuilder

__all__ = ["AsyncLocalRuntime"]

F = TypeVar("F", bound=Callable[..., Any])

live_runtimes: weakref.WeakSet[AsyncLocalRuntime] = weakref.WeakSet()
dropped_holding_resources: list[str] = []
"""Runtimes garbage-collected while still holding resources (read by leak checks)."""


def _note_if_dropped_holding(registry: ResourceRegistry) -> None:
    if registry.created:
        dropped_holding_resources.append(
            f"an AsyncLocalRuntime was garbage-collected without shutdown() while holding "
            f"resources {registry.created}"
        )


class AsyncLocalRuntime:
    """Execute workflows on the running event loop.

    ``max_concurrency`` bounds the nodes running at once across every execution on
    this runtime. Use it as an async context manager to shut it down on exit.
    """

    def __init__(self, *, max_concurrency: int | None = None) -> None:
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive int or None, got {max_concurrency!r}"
            )
        self.max_concurrency = max_concurrency
        self._functions: dict[str, Callable[..., Any]] = {}
        self._resources = ResourceRegistry()
        self._listeners: list[Listener] = []
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._blocking_threshold: float | None = None
        live_runtimes.add(self)
        weakref.finalize(self, _note_if_dropped_holding, self._resources)

    # -- registration -------------------------------------------------------------------

    def register_function(self, func: F, name: str | None = None) -> F:
        """Make ``func`` callable by ``name`` (default: its ``__name__``) from code nodes."""
        if not callable(func):
            raise TypeError(f"register_function() needs a callable, got {func!r}")
        name = name or getattr(func, "__name__", None)
        if not name or not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"register_function(): {name!r} is not a usable name; pass name=")
        self._functions[name] = func
        return func

    @property
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        """The registered functions by name (read-only view)."""
        return dict(self._functions)

    def register_resource(
        self,
        name: str,
        factory: Callable[[], Any],
        *,
        cleanup: Callable[[Any], Any] | None = None,
    ) -> None:
        """Register a resource made by ``factory`` (sync or async) on first ``get_resource``.

        At :meth:`shutdown` it is released by ``cleanup(resource)`` when given, else by
        its ``aclose()`` or ``close()`` if it has one.
        """
        self._resources.register(name, factory, cleanup)

    async def get_resource(self, name: str) -> Any:
        """The resource ``name``, created once per runtime (concurrent first calls share it)."""
        resource, _created = await self._resources.get(name)
        if self._listeners:
            context = current_node.get()
            execution, node_id = context if context is not None else (None, None)
            event = Event(
                "resource_acquired",
                execution.workflow.name if execution else None,
                node_id,
                asyncio.get_running_loop().time(),
                execution_id=execution.id if execution else None,
                resource=name,
            )
            await dispatch(self._listeners, event)
        return resource

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Send every event to ``listener`` (sync or async); returns a function to unsubscribe."""
        if not callable(listener):
            raise TypeError(f"subscribe() needs a callable, got {listener!r}")
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- execution ----------------------------------------------------------------------

    def _limiter(self) -> asyncio.Semaphore | None:
        if self.max_concurrency is None:
            return None
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def execute(
        self,
        workflow: Workflow | AsyncWorkflowBuilder,
        inputs: Mapping[str, Any] | None = None,
        *,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        raise_on_error: bool = True,
    ) -> WorkflowResult:
        """Execute ``workflow`` (a builder is built on the spot) and return its result.

        By default the first failing node's exception is raised, with a note naming
        the node; with ``raise_on_error=False`` the result tells what happened.
        """
        if not isinstance(workflow, Workflow):
            build = getattr(workflow, "build", None)
            if build is None:
                raise TypeError(
                    f"execute() needs a Workflow or an AsyncWorkflowBuilder, got "
                    f"{type(workflow).__name__}"
                )
            workflow = build()
        assert isinstance(workflow, Workflow)
        execution = Execution(self, workflow, inputs, parameters, next(self._ids))
        return await execution.run(raise_on_error)

    # -- lifetime -----------------------------------------------------------------------

    @property
    def resources_held(self) -> list[str]:
        """Names of the resources created and not yet released."""
        return self._resources.created

    async def shutdown(self) -> None:
        """Release every created resource, newest first.

        Every resource is released even when one cleanup fails; the failures are
        raised afterwards (one error as is, several as an ExceptionGroup).
        """
        outcomes = await self._resources.release_all()
        failures: list[Exception] = []
        for name, error in outcomes:
            if self._listeners:
                event = Event(
                    "resource_released",
                    None,
                    None,
                    asyncio.get_running_loop().time(),
                    error=error,
                    resource=name,
                )
                await dispatch(self._listeners, event)
            if error is not None:
                error.add_note(f"while releasing resource {name!r}")
                if isinstance(error, Exception):
                    failures.append(error)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise ExceptionGroup("several resources failed to release", failures)

    async def __aenter__(self) -> AsyncLocalRuntime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        return (
            f"AsyncLocalRuntime(max_concurrency={self.max_concurrency}, "
            f"functions={sorted(self._functions)}, resources={self._resources.names})"
        )
