"""AsyncWorkflowTestCase: the base class of workflow tests."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self
from unittest import mock

from .._builder import AsyncWorkflowBuilder
from .._events import Event
from .._graph import Workflow
from .._resources import release
from .._results import WorkflowResult, result_of
from .._runtime import AsyncLocalRuntime
from ._recording import calls_of, describe_calls, instrument, is_mock

if TYPE_CHECKING:
    from ._clock import VirtualClock
    from ._leaks import LeakCheck

__all__ = ["AsyncWorkflowTestCase", "TimeLimit"]

logger = logging.getLogger("awaitflow.testing")
_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _no_cleanup(_resource: Any) -> None:
    """Test resources are released by the test case, not by the runtime."""


@dataclass(slots=True)
class _TestResource:
    name: str
    resource: Any
    cleanup: Callable[[Any], Any] | None
    mocked: bool


@dataclass(slots=True)
class _Attachment:
    """A runtime this test listens to and lends its resources to."""

    runtime: AsyncLocalRuntime
    unsubscribe: Callable[[], None]
    blocking_threshold: float | None = None
    # name -> (the registration the test put in, the one it replaced)
    provided: dict[str, tuple[object, object | None]] = field(default_factory=dict)


class TimeLimit:
    """``async with`` block that fails when it runs longer than ``seconds``.

    The block is cancelled at the limit rather than waited for. After the block,
    ``elapsed`` holds how long it ran (on the loop's clock, so in virtual time
    under a virtual clock).
    """

    def __init__(self, seconds: float) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ValueError(
                f"assert_time_limit() needs a finite number of seconds > 0, got {seconds!r}"
            )
        self.seconds = float(seconds)
        self.elapsed: float | None = None
        self._start = 0.0
        self._scope: asyncio.Timeout | None = None

    async def __aenter__(self) -> Self:
        self._start = asyncio.get_running_loop().time()
        self._scope = asyncio.timeout(self.seconds)
        await self._scope.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        scope = self._scope
        assert scope is not None, "TimeLimit used without entering it"
        try:
            await scope.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            self.elapsed = asyncio.get_running_loop().time() - self._start
            if scope.expired():
                raise AssertionError(
                    f"the block exceeded its time limit of {self.seconds:g}s: it was "
                    f"cancelled after {self.elapsed:.3f}s"
                ) from None
            raise
        self.elapsed = asyncio.get_running_loop().time() - self._start
        if exc_type is None and self.elapsed > self.seconds:
            raise AssertionError(
                f"the block took {self.elapsed:.3f}s, over its time limit of {self.seconds:g}s"
            )


class AsyncWorkflowTestCase:
    """Base class for async workflow tests.

    Run it three ways: ``async with MyTest() as test: await test.test_x()``; under
    pytest (the awaitflow plugin collects every subclass, whatever its name), where
    each ``test*`` method runs on a fresh instance in its own event loop between
    ``await setUp()`` and ``await tearDown()``; or ``await MyTest().run_test("test_x")``.

    Class attributes: ``virtual_time`` (run each test on a virtual clock),
    ``leak_check`` (fail a test that leaks tasks, resources or unawaited
    coroutines; on by default), ``blocking_threshold`` (seconds a node may hold the
    event loop before a ``BlockingCallWarning``; None turns the warning off).
    """

    virtual_time: ClassVar[bool] = False
    leak_check: ClassVar[bool] = True
    blocking_threshold: ClassVar[float | None] = 0.2
    timeline_dir: ClassVar[str | None] = None

    def __init__(self, method_name: str | None = None) -> None:
        self._method_name = method_name
        self._runtime: AsyncLocalRuntime | None = None
        self._attached: dict[int, _Attachment] = {}
        self._resources: dict[str, _TestResource] = {}
        self._created: list[_TestResource] = []
        self._node_counts: Counter[str] = Counter()
        self._trace: list[dict[str, Any]] | None = None
        self._cleaned = False
        self._clock: VirtualClock | None = None
        self._leaks: LeakCheck | None = None
        self.workflow_results: list[WorkflowResult] = []

    def __repr__(self) -> str:
        method = f" {self._method_name}" if self._method_name else ""
        return f"<{type(self).__qualname__}{method}>"

    # -- the runtime --------------------------------------------------------------------

    @property
    def runtime(self) -> AsyncLocalRuntime:
        """The runtime ``execute_workflow`` uses; made in ``setUp``, replaceable there.

        Any runtime given to this attribute lends the test resources to its
        workflows, counts their node executions and is shut down at tearDown.
        """
        if self._runtime is None:
            self._runtime = AsyncLocalRuntime()
        self._attach(self._runtime)
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: AsyncLocalRuntime) -> None:
        if not isinstance(runtime, AsyncLocalRuntime):
            raise TypeError(
                f"{type(self).__name__}.runtime must be an AsyncLocalRuntime, "
                f"got {type(runtime).__name__}"
            )
        self._runtime = runtime
        self._attach(runtime)

    def _attach(self, runtime: AsyncLocalRuntime) -> None:
        """Subscribe to ``runtime`` and lend it this test's resources (once per runtime)."""
        if id(runtime) in self._attached:
            return
        attachment = _Attachment(
            runtime, runtime.subscribe(self._on_event), runtime._blocking_threshold
        )
        self._attached[id(runtime)] = attachment
        runtime._resources.fallback = self._provide_default
        if self.blocking_threshold is not None and runtime._blocking_threshold is None:
            runtime._blocking_threshold = self.blocking_threshold
        for entry in self._resources.values():
            self._lend(attachment, entry)

    @staticmethod
    def _lend(attachment: _Attachment, entry: _TestResource) -> None:
        registry = attachment.runtime._resources
        if entry.name not in attachment.provided and registry.is_created(entry.name):
            return  # the runtime made its own resource of that name before the test lent one
        replaced = attachment.provided.get(entry.name, (None, None))[1]
        if entry.name not in attachment.provided:
            replaced = registry._registrations.get(entry.name)
        registry.provide(entry.name, entry.resource, _no_cleanup)
        attachment.provided[entry.name] = (registry._registrations[entry.name], replaced)

    def _detach(self, attachment: _Attachment) -> None:
        """Unsubscribe and take the lent resources back, so the runtime is left as found."""
        attachment.unsubscribe()
        runtime = attachment.runtime
        runtime._blocking_threshold = attachment.blocking_threshold
        registry = runtime._resources
        if registry.fallback == self._provide_default:
            registry.fallback = None
        for name, (lent, replaced) in attachment.provided.items():
            if registry._registrations.get(name) is not lent:
                continue  # registered again by the test itself: keep that
            if replaced is None:
                del registry._registrations[name]
            else:
                registry._registrations[name] = replaced  # type: ignore[assignment]

    def _on_event(self, event: Event) -> None:
        if event.kind == "node_started" and event.node_id is not None:
            self._node_counts[event.node_id] += 1
        if self._trace is not None:
            self._trace.append(event.as_dict())

    # -- lifecycle ----------------------------------------------------------------------

    async def setUp(self) -> None:
        """Prepare the test: makes ``self.runtime``. Call ``await super().setUp()`` first."""
        self.runtime = AsyncLocalRuntime()

    async def tearDown(self) -> None:
        """Shut the runtimes down and clean the test resources up, newest first.

        The test runners call it even when the test failed, and clean up after it
        anyway, so an override that forgets ``await super().tearDown()`` leaks nothing.
        """
        await self._cleanup()

    def _reset(self) -> None:
        self._attached = {}
        self._resources = {}
        self._created = []
        self._node_counts = Counter()
        self._trace = None
        self._cleaned = False
        self._runtime = None

    async def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        errors: list[Exception] = []
        # Runtimes first: what they made themselves was made during the test, after
        # the test resources it may use.
        for attachment in reversed(list(self._attached.values())):
            try:
                await attachment.runtime.shutdown()
            except Exception as exc:
                errors.append(exc)
            finally:
                self._detach(attachment)
        self._attached.clear()
        while self._created:
            entry = self._created.pop()
            logger.debug("cleaning up test resource %r", entry.name)
            try:
                if entry.cleanup is not None:
                    outcome = entry.cleanup(entry.resource)
                    if inspect.isawaitable(outcome):
                        await outcome
                elif not is_mock(entry.resource):
                    await release(entry.resource, None)
            except Exception as exc:
                exc.add_note(f"while cleaning up test resource {entry.name!r}")
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("several test resources failed to clean up", errors)

    async def _enter(self) -> None:
        __tracebackhide__ = True
        self._reset()
        if self.virtual_time:
            from ._clock import VirtualClock

            self._clock = VirtualClock().install()
        try:
            if self.leak_check:
                from ._leaks import LeakCheck

                self._leaks = LeakCheck().start()
            await self.setUp()
        except BaseException:
            await self._exit(failed=True, tear_down=False)
            raise

    async def _exit(self, failed: bool, *, tear_down: bool = True) -> None:
        __tracebackhide__ = True
        try:
            try:
                if tear_down:
                    await self.tearDown()
            finally:
                await self._cleanup()
        except BaseException:
            failed = True
            raise
        finally:
            try:
                if self._leaks is not None:
                    leaks, self._leaks = self._leaks, None
                    await leaks.finish(raise_on_leak=not failed)
            finally:
                if self._clock is not None:
                    clock, self._clock = self._clock, None
                    clock.uninstall()

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit(failed=exc is not None)

    async def run_test(self, method_name: str | None = None, /, **kwargs: Any) -> None:
        """Run one test method between setUp and tearDown (tearDown even when it fails).

        ``method_name`` defaults to the one given to the constructor; ``kwargs`` are
        passed to the method (the pytest plugin passes the fixtures it asks for).
        If setUp fails, the method and tearDown do not run, but the test resources
        made so far are still cleaned up.
        """
        __tracebackhide__ = True
        name = method_name or self._method_name
        if name is None:
            raise TypeError(f"run_test(): no method name given to it or to {type(self).__name__}()")
        method = getattr(self, name, None)
        if not callable(method):
            raise AttributeError(f"{type(self).__name__} has no test method {name!r}")
        await self._enter()
        failed = True
        try:
            outcome = method(**kwargs)
            if inspect.isawaitable(outcome):
                await outcome
            failed = False
        finally:
            if failed:
                self._write_failure_timelines(name)
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
        """Execute ``workflow`` (or a builder) on ``self.runtime`` and return its result.

        The workflow reaches the test resources and the runtime's registered
        functions. By default a failing node's exception is raised; with
        ``raise_on_error=False`` the result tells what happened.
        """
        try:
            result = await self.runtime.execute(
                workflow, inputs, parameters=parameters, raise_on_error=raise_on_error
            )
        except BaseException as exc:
            failed = result_of(exc)
            if failed is not None:
                self.workflow_results.append(failed)
            raise
        self.workflow_results.append(result)
        logger.debug("executed %r", result)
        return result

    def write_timeline(
        self, path: str | os.PathLike[str], result: WorkflowResult | None = None
    ) -> Path:
        """Draw ``result`` (default: the last workflow this test executed) as an HTML page."""
        from .._timeline import write_timeline

        if result is None:
            if not self.workflow_results:
                raise ValueError("write_timeline(): this test executed no workflow yet")
            result = self.workflow_results[-1]
        return write_timeline(result, path)

    def _write_failure_timelines(self, method_name: str) -> None:
        """Draw every workflow of a failed test into ``timeline_dir``."""
        if self.timeline_dir is None:
            return
        folder = Path(self.timeline_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{type(self).__qualname__}.{method_name}"
        for index, result in enumerate(self.workflow_results, start=1):
            path = folder / f"{stem}.{index}.{result.workflow}.html"
            self.write_timeline(path, result)
            logger.warning("timeline of failed test %s: %s", stem, path)

    # -- resources ----------------------------------------------------------------------

    async def create_test_resource(
        self,
        name: str,
        factory: Callable[[], Any] | None = None,
        *,
        mock: bool = False,
        cleanup: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Create a resource now; workflows reach it by ``await get_resource(name)``.

        ``factory`` (sync or async) makes it. With ``mock=True`` and no factory it
        is an ``AsyncMock``; every resource made with ``mock=True`` has its calls
        recorded, whoever makes them (a given fake is kept as it is: its methods are
        wrapped in place). Test resources are cleaned up at tearDown, newest first:
        ``cleanup(resource)`` (sync or async) when given, else its ``aclose()`` or
        ``close()``; mocks are left alone. A second resource of the same name
        replaces the first for the workflows; both are cleaned up.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"create_test_resource(): the name must be a non-empty str, got {name!r}"
            )
        if cleanup is not None and not callable(cleanup):
            raise TypeError(
                f"create_test_resource({name!r}): cleanup must be callable, got {cleanup!r}"
            )
        if factory is None:
            if not mock:
                raise ValueError(
                    f"create_test_resource({name!r}): no factory given; pass a factory "
                    f"(e.g. lambda: obj), or mock=True for an AsyncMock"
                )
            resource: Any = _new_async_mock(name)
        else:
            if not callable(factory):
                raise TypeError(
                    f"create_test_resource({name!r}): factory must be callable, got "
                    f"{type(factory).__name__}; pass lambda: obj to use an existing object"
                )
            try:
                resource = factory()
                if inspect.isawaitable(resource):
                    resource = await resource
            except Exception as exc:
                exc.add_note(f"while creating test resource {name!r}")
                raise
        if mock and not instrument(resource):
            raise TypeError(
                f"create_test_resource({name!r}, mock=True): cannot record the calls of a "
                f"{type(resource).__name__} (it has no __dict__ to wrap its methods in); "
                "pass an AsyncMock or an object of a class of your own"
            )
        self._register(_TestResource(name, resource, cleanup, mock))
        logger.debug("created test resource %r: %r", name, resource)
        return resource

    def _register(self, entry: _TestResource) -> None:
        self._resources[entry.name] = entry
        self._created.append(entry)
        self._cleaned = False
        for attachment in self._attached.values():
            self._lend(attachment, entry)

    def _provide_default(self, name: str) -> bool:
        """Make ``http``/``cache`` on a workflow's first ``get_resource`` of them."""
        if name == "http":
            _ = self.mock_http
        elif name == "cache":
            _ = self.mock_cache
        else:
            return False
        return True

    def _default(self, name: str, make: Callable[[], Any]) -> Any:
        entry = self._resources.get(name)
        if entry is None:
            resource = make()
            instrument(resource)
            entry = _TestResource(name, resource, None, True)
            self._register(entry)
            logger.debug("created default test resource %r: %r", name, resource)
        return entry.resource

    @property
    def mock_http(self) -> Any:
        """The test resource ``"http"``: a ``MockHttpClient`` made on first use.

        First use is the test touching this attribute or a workflow's
        ``get_resource("http")``; a resource ``"http"`` the test created is returned
        as it is.
        """
        from ._mock_http import MockHttpClient

        return self._default("http", MockHttpClient)

    @property
    def mock_cache(self) -> Any:
        """The test resource ``"cache"``: a ``MemoryTestCache`` made on first use.

        First use is the test touching this attribute or a workflow's
        ``get_resource("cache")``; a resource ``"cache"`` the test created is
        returned as it is.
        """
        from ._cache import MemoryTestCache

        return self._default("cache", MemoryTestCache)

    # -- assertions ---------------------------------------------------------------------

    def assert_workflow_success(self, result: WorkflowResult) -> None:
        """Fail unless every node completed; the message lists each failure with its traceback."""
        __tracebackhide__ = True
        _check_result("assert_workflow_success", result)
        if result.success:
            return
        statuses = ", ".join(f"{n}={s}" for n, s in result.node_status.items())
        details = _describe_errors(result) or "(no node error was recorded)"
        raise AssertionError(
            f"workflow {result.workflow!r} failed after {result.execution_time:.3f}s "
            f"(nodes: {statuses})\n{details}"
        )

    def assert_node_output(
        self, result: WorkflowResult, node_id: str, expected: Any, key: str | None = None
    ) -> None:
        """Fail unless the node's output (or its ``key``: dotted keys dig in) is ``expected``."""
        __tracebackhide__ = True
        _check_result("assert_node_output", result)
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
        """Fail unless ``method`` of test resource ``name`` was called (``times``: exactly).

        ``times=None`` means at least once. Works on resources created with
        ``mock=True`` (and on any mock object); on mocks, ``method`` may be a
        dotted path (``"client.fetch"``).
        """
        __tracebackhide__ = True
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 0
        ):
            raise ValueError(
                f"assert_resource_called(): times must be an int >= 0 or None, got {times!r}"
            )
        entry = self._resources.get(name)
        if entry is None:
            raise AssertionError(
                f"no test resource named {name!r}; test resources: {sorted(self._resources)}"
            )
        calls = calls_of(entry.resource, method)
        if calls is None:
            raise AssertionError(
                f"the calls of test resource {name!r} are not recorded; create it with mock=True"
            )
        count = len(calls)
        if (times is None and count > 0) or count == times:
            return
        wanted = "at least once" if times is None else f"{times} time(s)"
        message = f"{name}.{method} was called {count} time(s), expected {wanted}"
        if calls:
            seen = "\n".join(f"  {method}(*{c.args!r}, **{c.kwargs!r})" for c in calls)
            message += f"; its calls:\n{seen}"
        else:
            message += f"; calls recorded on {name!r}: {describe_calls(entry.resource)}"
        raise AssertionError(message)

    def assert_time_limit(self, seconds: float) -> TimeLimit:
        """``async with self.assert_time_limit(s):`` fails when the block runs longer than ``s``.

        The block is cancelled at the limit instead of hanging the test.
        """
        return TimeLimit(seconds)

    def get_node_execution_count(self, node_id: str) -> int:
        """How many times node ``node_id`` started in this test (each retry counts).

        Counted over every workflow this test executed, on any of its runtimes.
        """
        return self._node_counts[node_id]

    def enable_tracing(self) -> None:
        """Record every event of the workflows this test executes from now on."""
        if self._trace is None:
            self._trace = []

    def get_execution_trace(self) -> list[dict[str, Any]]:
        """The recorded events as dicts with ``timestamp``, ``event``, ``node_id`` and more.

        Empty until ``enable_tracing()`` is called.
        """
        return list(self._trace or [])


def _describe_errors(result: WorkflowResult) -> str:
    """Each node error with its traceback, without the frames of awaitflow's engine."""
    parts = []
    for node_id, exc in result.errors.items():
        report = traceback.TracebackException.from_exception(exc)
        own = [frame for frame in report.stack if not frame.filename.startswith(_ENGINE_DIR)]
        if own:
            report.stack = traceback.StackSummary.from_list(own)
        text = "".join(report.format()).rstrip()
        parts.append(f"node {node_id!r} ({result.node_status.get(node_id)}):\n{text}")
    return "\n\n".join(parts)


def _check_result(where: str, result: object) -> None:
    if not isinstance(result, WorkflowResult):
        raise TypeError(f"{where}() needs a WorkflowResult, got {type(result).__name__}")


def _new_async_mock(name: str) -> mock.AsyncMock:
    return mock.AsyncMock(name=name)
