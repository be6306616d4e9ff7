"""AsyncWorkflowTestCase: the base class of workflow tests."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, ClassVar
from unittest import mock

from .._builder import AsyncWorkflowBuilder
from .._events import Event
from .._graph import Workflow
from .._resources import release
from .._results import WorkflowResult
from .._runtime import AsyncLocalRuntime
from ._recording import calls_of, instrument, is_mock

__all__ = ["AsyncWorkflowTestCase"]


def _no_cleanup(_resource: Any) -> None:
    """Test resources are released by the test case, not by the runtime."""


class AsyncWorkflowTestCase:
    """Base class for async workflow tests.

    Run it three ways: ``async with MyTest() as test: await test.test_x()``; under
    pytest, where each ``async def test_*`` method runs on a fresh instance between
    ``await setUp()`` and ``await tearDown()``; or by ``await MyTest.run_test("test_x")``.

    Class attributes: ``virtual_time`` (run tests on a virtual clock), ``leak_check``
    (fail a test that leaks tasks, resources or unawaited coroutines; on by default),
    ``blocking_threshold`` (seconds a node may hold the loop before a warning).
    """

    virtual_time: ClassVar[bool] = False
    leak_check: ClassVar[bool] = True
    blocking_threshold: ClassVar[float | None] = 0.2

    def __init__(self, method_name: str | None = None) -> None:
        self._method_name = method_name
        self._runtime: AsyncLocalRuntime | None = None
        self._attached: dict[int, tuple[AsyncLocalRuntime, Callable[[], None]]] = {}
        self._resources: dict[str, tuple[Any, Callable[[Any], Any] | None, bool]] = {}
        self._node_counts: Counter[str] = Counter()
        self._trace: list[dict[str, Any]] | None = None
        self._mock_http: Any = None
        self._mock_cache: Any = None
        self._cleaned = False
        self._clock: Any = None
        self._leaks: Any = None

    # -- the runtime --------------------------------------------------------------------

    @property
    def runtime(self) -> AsyncLocalRuntime:
        """The runtime ``execute_workflow`` uses; made in ``setUp``, replaceable there."""
        if self._runtime is None:
            self._runtime = AsyncLocalRuntime()
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: AsyncLocalRuntime) -> None:
        self._runtime = runtime

    def _attach(self, runtime: AsyncLocalRuntime) -> None:
        """Subscribe to ``runtime`` and give it this test's resources (once per runtime)."""
        key = id(runtime)
        if key not in self._attached:
            self._attached[key] = (runtime, runtime.subscribe(self._on_event))
            runtime._resources.fallback = self._provide_default
            if self.blocking_threshold is not None and runtime._blocking_threshold is None:
                runtime._blocking_threshold = self.blocking_threshold
        registry = runtime._resources
        for name, (resource, _cleanup, _mocked) in self._resources.items():
            if not registry.is_created(name):
                registry.provide(name, resource, _no_cleanup)

    def _on_event(self, event: Event) -> None:
        if event.kind == "node_started" and event.node_id is not None:
            self._node_counts[event.node_id] += 1
        if self._trace is not None:
            self._trace.append(event.as_dict())

    # -- lifecycle ----------------------------------------------------------------------

    async def setUp(self) -> None:  # noqa: N802 - the seeds' name
        """Prepare the test: makes ``self.runtime``. Call ``await super().setUp()`` first."""
        self._runtime = AsyncLocalRuntime()

    async def tearDown(self) -> None:  # noqa: N802 - the seeds' name
        """Release the test resources (newest first) and shut the runtimes down."""
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        errors: list[BaseException] = []
        for name in reversed(list(self._resources)):
            resource, cleanup, mocked = self._resources.pop(name)
            try:
                if cleanup is not None:
                    outcome = cleanup(resource)
                    if inspect.isawaitable(outcome):
                        await outcome
                elif not (mocked and is_mock(resource)):
                    await release(resource, None)
            except Exception as exc:
                exc.add_note(f"while cleaning up test resource {name!r}")
                errors.append(exc)
        runtimes = [runtime for runtime, _ in self._attached.values()]
        if self._runtime is not None and id(self._runtime) not in self._attached:
            runtimes.append(self._runtime)
        for runtime in runtimes:
            try:
                await runtime.shutdown()
            except Exception as exc:
                errors.append(exc)
        for _runtime, unsubscribe in self._attached.values():
            unsubscribe()
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("test cleanup failed", [e for e in errors if isinstance(e, Exception)])

    async def _enter(self) -> None:
        from ._leaks import LeakCheck

        if self.virtual_time:
            from ._clock import VirtualClock

            self._clock = VirtualClock()
            self._clock.install()
        if self.leak_check:
            self._leaks = LeakCheck()
            self._leaks.start()
        self._cleaned = False
        await self.setUp()

    async def _exit(self, failed: bool) -> None:
        try:
            try:
                await self.tearDown()
            finally:
                await self._cleanup()
            if self._leaks is not None:
                leaks, self._leaks = self._leaks, None
                await leaks.finish(raise_on_leak=not failed)
        finally:
            if self._clock is not None:
                clock, self._clock = self._clock, None
                clock.uninstall()

    async def __aenter__(self) -> AsyncWorkflowTestCase:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit(failed=exc is not None)

    async def run_test(self, method_name: str) -> None:
        """Run one test method between setUp and tearDown (tearDown even when it fails)."""
        method = getattr(self, method_name)
        await self._enter()
        failed = True
        try:
            outcome = method()
            if inspect.isawaitable(outcome):
                await outcome
            failed = False
        finally:
            await self._exit(failed)

    # -- executing workflows ------------------------------------------------------------

    async def execute_workflow(
        self,
        workflow: Workflow | AsyncWorkflowBuilder,
        inputs: Mapping[str, Any] | None = None,
        *,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        raise_on_error: bool = True,
    ) -> WorkflowResult:
        """Execute ``workflow`` (or a builder) on ``self.runtime``."""
        runtime = self.runtime
        self._attach(runtime)
        return await runtime.execute(
            workflow, inputs, parameters=parameters, raise_on_error=raise_on_error
        )

    # -- resources ----------------------------------------------------------------------

    async def create_test_resource(
        self,
        name: str,
        factory: Callable[[], Any] | None,
        *,
        mock: bool = False,
        cleanup: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Create a resource now, reachable from workflows by ``get_resource(name)``.

        With ``mock=True`` and no factory it is an ``AsyncMock``; every resource made
        with ``mock=True`` has its calls recorded, whoever makes them. Test resources
        are cleaned up at tearDown, newest first (``cleanup(resource)`` when given,
        else ``aclose()``/``close()``; mocks are left alone).
        """
        if factory is None:
            if not mock:
                raise ValueError(
                    f"create_test_resource({name!r}): no factory given; pass a factory, "
                    "or mock=True for an AsyncMock"
                )
            resource: Any = _new_async_mock(name)
        else:
            if not callable(factory):
                raise TypeError(
                    f"create_test_resource({name!r}): factory must be callable, got {factory!r}"
                )
            resource = factory()
            if inspect.isawaitable(resource):
                resource = await resource
        if mock and not instrument(resource):
            raise TypeError(
                f"create_test_resource({name!r}, mock=True): cannot record calls on "
                f"{type(resource).__name__} (no instance attributes); pass an AsyncMock "
                "or an object with a __dict__"
            )
        self._resources.pop(name, None)
        self._resources[name] = (resource, cleanup, mock)
        for runtime, _ in self._attached.values():
            runtime._resources.provide(name, resource, _no_cleanup)
        return resource

    def _provide_default(self, name: str) -> bool:
        """Make ``http``/``cache`` on a workflow's first ``get_resource`` of them."""
        if name == "http":
            _ = self.mock_http
        elif name == "cache":
            _ = self.mock_cache
        else:
            return False
        for runtime, _unsubscribe in self._attached.values():
            registry = runtime._resources
            if not registry.is_created(name):
                registry.provide(name, self._resources[name][0], _no_cleanup)
        return True

    def _register_sync(self, name: str, resource: Any) -> Any:
        instrument(resource)
        self._resources[name] = (resource, None, True)
        for runtime, _ in self._attached.values():
            runtime._resources.provide(name, resource, _no_cleanup)
        return resource

    @property
    def mock_http(self) -> Any:
        """A mock HTTP client registered as the resource ``"http"``, made on first use."""
        if self._mock_http is None:
            if "http" in self._resources:
                self._mock_http = self._resources["http"][0]
            else:
                from ._mock_http import MockHttpClient

                self._mock_http = self._register_sync("http", MockHttpClient())
        return self._mock_http

    @property
    def mock_cache(self) -> Any:
        """A memory test cache registered as the resource ``"cache"``, made on first use."""
        if self._mock_cache is None:
            if "cache" in self._resources:
                self._mock_cache = self._resources["cache"][0]
            else:
                from ._cache import MemoryTestCache

                self._mock_cache = self._register_sync("cache", MemoryTestCache())
        return self._mock_cache

    # -- assertions ---------------------------------------------------------------------

    def assert_workflow_success(self, result: WorkflowResult) -> None:
        """Fail unless every node completed; the message lists each failure with its traceback."""
        __tracebackhide__ = True
        if not result.success:
            statuses = ", ".join(f"{n}={s}" for n, s in result.node_status.items())
            raise AssertionError(
                f"workflow {result.workflow!r} failed (nodes: {statuses})\n"
                f"{result.describe_errors()}"
            )

    def assert_node_output(
        self, result: WorkflowResult, node_id: str, expected: Any, key: str | None = None
    ) -> None:
        """Fail unless the node's output (or its ``key``; dotted keys dig in) equals ``expected``."""
        __tracebackhide__ = True
        try:
            actual = result.get_output(node_id, key)
        except KeyError as exc:
            error = result.errors.get(node_id)
            detail = f"; its error: {error!r}" if error is not None else ""
            raise AssertionError(f"{exc.args[0]}{detail}") from None
        if actual != expected:
            where = f"output {key!r} of node {node_id!r}" if key else f"output of node {node_id!r}"
            raise AssertionError(f"{where} is {actual!r}, expected {expected!r}")

    def assert_resource_called(self, name: str, method: str, times: int | None = None) -> None:
        """Fail unless ``method`` of test resource ``name`` was called (``times`` exactly)."""
        __tracebackhide__ = True
        if name not in self._resources:
            raise AssertionError(
                f"no test resource named {name!r}; test resources: {sorted(self._resources)}"
            )
        resource = self._resources[name][0]
        calls = calls_of(resource, method)
        if calls is None:
            raise AssertionError(
                f"calls of resource {name!r} are not recorded; create it with mock=True"
            )
        count = len(calls)
        if (times is None and count == 0) or (times is not None and count != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            seen = "\n".join(f"  {c.method}(*{c.args!r}, **{c.kwargs!r})" for c in calls)
            raise AssertionError(
                f"{name}.{method} was called {count} time(s), expected {wanted}"
                + (f"; calls:\n{seen}" if seen else "")
            )

    @asynccontextmanager
    async def assert_time_limit(self, seconds: float) -> AsyncIterator[None]:
        """Fail when the block runs longer than ``seconds``; it is cancelled at the limit."""
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout(seconds) as scope:
                yield
        except TimeoutError:
            if scope.expired():
                raise AssertionError(
                    f"block exceeded its time limit of {seconds:g}s and was cancelled "
                    f"after {loop.time() - start:.3f}s"
                ) from None
            raise
        elapsed = loop.time() - start
        if elapsed > seconds:
            raise AssertionError(f"block took {elapsed:.3f}s, over its limit of {seconds:g}s")

    def get_node_execution_count(self, node_id: str) -> int:
        """How many times node ``node_id`` started (each retry attempt counts) in this test."""
        return self._node_counts[node_id]

    def enable_tracing(self) -> None:
        """Record every event of the workflows this test executes from now on."""
        if self._trace is None:
            self._trace = []

    def get_execution_trace(self) -> list[dict[str, Any]]:
        """The recorded events as dicts with ``timestamp``, ``event``, ``node_id`` and more."""
        return list(self._trace or [])


def _new_async_mock(name: str) -> mock.AsyncMock:
    return mock.AsyncMock(name=name)
