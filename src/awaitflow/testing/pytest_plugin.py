"""The awaitflow pytest plugin: collection of test cases, markers and fixtures.

Thin by design: the logic lives in the modules of ``awaitflow.testing``.

- Every ``AsyncWorkflowTestCase`` subclass in a test module is collected, whatever
  its name (a class that sets ``__test__ = False`` in its own body is not; its
  subclasses are). Each ``test*`` method runs on a fresh instance in its own event
  loop, with or without pytest-asyncio (strict mode, auto mode, or
  ``-p no:asyncio``), marked ``@pytest.mark.asyncio`` or not. Methods may take
  parameters (``@pytest.mark.parametrize``) and synchronous fixtures.
- Markers: ``virtual_time`` (run a test on a virtual clock) and ``leak_check``
  (check a plain async test for leaks; ``leak_check(False)`` turns the check off,
  also for a test case method).
- Fixtures: ``awaitflow_runtime``, ``mock_http_client``, ``test_cache``, ``temp_dir``,
  ``sqlite_database``, ``postgres_database``, ``redis_cache``, ``virtual_clock``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import pytest

from ._case import AsyncWorkflowTestCase

if TYPE_CHECKING:
    from _pytest._code import Traceback

    from .._runtime import AsyncLocalRuntime
    from ._cache import MemoryTestCache, RedisTestCache
    from ._clock import VirtualClock
    from ._databases import PostgresTestDatabase, SqliteTestDatabase
    from ._mock_http import MockHttpClient

_F = TypeVar("_F", bound=Callable[..., Any])


class _Disposable(Protocol):
    async def cleanup(self) -> None: ...


_R = TypeVar("_R", bound=_Disposable)

try:  # pytest-asyncio runs the async fixtures when it is installed and enabled
    import pytest_asyncio

    _fixture_decorator: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised without pytest-asyncio installed
    _fixture_decorator = pytest.fixture


def _async_fixture(func: _F) -> _F:
    """Declare an async fixture (run by pytest-asyncio, in strict mode too)."""
    return cast(_F, _fixture_decorator(func))


_CALL_FAILED = pytest.StashKey[bool]()
_INTERNAL_DIRS = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--awaitflow-timelines DIR``: draw the workflows of each failed test case there."""
    parser.getgroup("awaitflow").addoption(
        "--awaitflow-timelines",
        metavar="DIR",
        default=None,
        help="write an HTML timeline of every workflow a failed AsyncWorkflowTestCase "
        "test executed into DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers (and ``asyncio`` when pytest-asyncio is not active)."""
    config.addinivalue_line(
        "markers", "virtual_time: run the async test on awaitflow's virtual clock"
    )
    config.addinivalue_line(
        "markers",
        "leak_check(enabled=True): fail the test when it leaks tasks, resources or "
        "unawaited coroutines",
    )
    if not config.pluginmanager.has_plugin("asyncio"):
        config.addinivalue_line(
            "markers",
            "asyncio: accepted on AsyncWorkflowTestCase classes, which awaitflow runs "
            "itself (pytest-asyncio is not active)",
        )


def _is_case_class(obj: object) -> bool:
    return (
        inspect.isclass(obj)
        and issubclass(obj, AsyncWorkflowTestCase)
        and obj is not AsyncWorkflowTestCase
        and vars(obj).get("__test__", True) is not False
        and not inspect.isabstract(obj)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> pytest.Collector | None:
    """Collect every AsyncWorkflowTestCase subclass of a module (or class), whatever its name."""
    if _is_case_class(obj):
        case_collector: pytest.Collector = WorkflowCaseCollector.from_parent(
            collector, name=name, obj=obj
        )
        return case_collector
    if obj is AsyncWorkflowTestCase:
        return []  # type: ignore[return-value]  # the base class itself holds no tests
    return None


class WorkflowCaseCollector(pytest.Class):
    """Collects the ``test*`` methods of an AsyncWorkflowTestCase subclass."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        """One item per test method (and per parameter set), base classes' methods first.

        The methods go through pytest's own item making, so parametrization and
        other plugins' hooks apply; each resulting function becomes a
        :class:`WorkflowCaseItem`.
        """
        cls = self.obj
        seen: set[str] = set()
        per_class: list[list[pytest.Item | pytest.Collector]] = []
        for klass in cls.__mro__:
            if klass is AsyncWorkflowTestCase or klass is object:
                continue
            found: list[pytest.Item | pytest.Collector] = []
            for name, value in list(vars(klass).items()):
                if name in seen or name.startswith("__"):
                    continue
                seen.add(name)
                made = self.ihook.pytest_pycollect_makeitem(collector=self, name=name, obj=value)
                if made is None:
                    continue
                found.extend(made if isinstance(made, list) else [made])
            per_class.append(found)
        items: list[pytest.Item | pytest.Collector] = []
        for found in reversed(per_class):
            items.extend(self._convert(node) for node in found)
        return items

    def _convert(self, node: pytest.Item | pytest.Collector) -> pytest.Item | pytest.Collector:
        if not isinstance(node, pytest.Function) or isinstance(node, WorkflowCaseItem):
            return node
        extra: dict[str, Any] = {}
        if hasattr(node, "callspec"):
            extra["callspec"] = node.callspec
        item = WorkflowCaseItem.from_parent(
            self,
            name=node.name,
            callobj=getattr(self.obj, node.originalname),
            fixtureinfo=node._fixtureinfo,
            keywords=node.keywords,
            originalname=node.originalname,
            **extra,
        )
        item.own_markers = node.own_markers
        return item


class WorkflowCaseItem(pytest.Function):
    """One test method of an AsyncWorkflowTestCase, run between setUp and tearDown."""

    def setup(self) -> None:
        """Fill the fixtures the method asks for; async fixtures are refused."""
        for name in self._fixtureinfo.argnames:
            definitions = self._fixtureinfo.name2fixturedefs.get(name)
            if not definitions:
                continue
            func = definitions[-1].func
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                pytest.fail(
                    f"{self.nodeid}: the test method asks for the async fixture {name!r}, "
                    "but an AsyncWorkflowTestCase test runs in its own event loop, where "
                    "an async fixture's objects do not work. Make it in setUp() (with "
                    "self.create_test_resource or AsyncWorkflowFixtures), or use a plain "
                    "async test function.",
                    pytrace=False,
                )
        super().setup()

    def runtest(self) -> None:
        """Run the method on a fresh instance in a fresh event loop."""
        __tracebackhide__ = True
        cls = self.cls
        assert cls is not None and issubclass(cls, AsyncWorkflowTestCase)
        instance = cls(self.originalname)
        marker = self.get_closest_marker("leak_check")
        if marker is not None and marker.args and not marker.args[0]:
            instance.leak_check = False
        if self.get_closest_marker("virtual_time") is not None:
            instance.virtual_time = True
        timelines = self.config.getoption("awaitflow_timelines", None)
        if timelines:
            instance.timeline_dir = str(timelines)
        kwargs = {name: self.funcargs[name] for name in self._fixtureinfo.argnames}
        with asyncio.Runner() as runner:
            runner.run(instance.run_test(self.originalname, **kwargs))

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Traceback:
        """Start at the test method as usual; for an error outside it (setUp, tearDown,
        the leak check), drop the event loop's and this framework's own frames."""
        traceback = super()._traceback_filter(excinfo)
        if self.config.getoption("fulltrace", False) or not traceback:
            return traceback
        if isinstance(excinfo.value, pytest.fail.Exception | pytest.skip.Exception):
            return traceback
        if traceback[0].frame.code.raw is getattr(self.function, "__code__", None):
            return traceback
        kept = traceback.filter(lambda entry: not str(entry.path).startswith(_INTERNAL_DIRS))
        if len(kept):
            return kept
        # raised by the framework itself (a leak check): its message says it all
        return type(traceback)([traceback[-1].with_repr_style("short")])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give plain tests marked ``virtual_time`` / ``leak_check`` the fixtures that do it."""
    for item in items:
        if isinstance(item, WorkflowCaseItem) or not isinstance(item, pytest.Function):
            continue
        names: list[str] = item.fixturenames
        if item.get_closest_marker("virtual_time") and "virtual_clock" not in names:
            names.insert(0, "virtual_clock")
        marker = item.get_closest_marker("leak_check")
        if marker is not None and (not marker.args or marker.args[0]):
            names.insert(0, "_awaitflow_leak_check")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note whether the test itself failed, for the leak check fixture's teardown."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


# -- fixtures -----------------------------------------------------------------------------


@_async_fixture
async def awaitflow_runtime() -> AsyncIterator[AsyncLocalRuntime]:
    """An AsyncLocalRuntime, shut down after the test."""
    from .._runtime import AsyncLocalRuntime

    async with AsyncLocalRuntime() as runtime:
        yield runtime


@pytest.fixture
def mock_http_client() -> MockHttpClient:
    """A fresh mock HTTP client (see ``AsyncWorkflowFixtures.create_mock_http_client``)."""
    from ._mock_http import MockHttpClient

    return MockHttpClient()


@pytest.fixture(name="test_cache")
def _test_cache() -> Iterator[MemoryTestCache]:
    """A fresh memory test cache, emptied after the test."""
    from ._cache import MemoryTestCache

    cache = MemoryTestCache()
    yield cache
    cache._data.clear()


@pytest.fixture
def temp_dir() -> Iterator[str]:
    """A temporary directory (a str path), removed after the test."""
    path = tempfile.mkdtemp(prefix="awaitflow-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@asynccontextmanager
async def _throwaway(make: Callable[[], Awaitable[_R]], server: str) -> AsyncIterator[_R]:
    """Make a test resource, skip when its ``server`` is unreachable, clean it up after."""
    from ._databases import ServerUnavailableError

    try:
        resource = await make()
    except ServerUnavailableError as exc:
        pytest.skip(f"the {server} server is unreachable: {exc}")
    try:
        yield resource
    finally:
        await resource.cleanup()


@_async_fixture
async def sqlite_database() -> AsyncIterator[SqliteTestDatabase]:
    """A fresh SQLite test database (a temporary file), removed after the test."""
    from ._databases import create_test_database

    async with _throwaway(lambda: create_test_database("sqlite"), "SQLite") as database:
        yield database


@_async_fixture
async def postgres_database() -> AsyncIterator[PostgresTestDatabase]:
    """A fresh PostgreSQL database on the server of AWAITFLOW_POSTGRES_DSN, dropped after.

    Skips the test when no server answers; drops the database even when the test fails.
    """
    from ._databases import create_test_database

    async with _throwaway(lambda: create_test_database("postgresql"), "PostgreSQL") as database:
        yield database


@_async_fixture
async def redis_cache() -> AsyncIterator[RedisTestCache]:
    """A Redis test cache isolated by a unique key prefix; its keys are removed after.

    Skips the test when no server answers; removes the keys even when the test fails.
    """
    from ._cache import create_test_cache

    async with _throwaway(lambda: create_test_cache("redis"), "Redis") as cache:
        yield cache


@_async_fixture
async def virtual_clock() -> AsyncIterator[VirtualClock]:
    """A virtual clock installed on the test's event loop (``now()``, ``await advance(s)``)."""
    from ._clock import VirtualClock

    clock = VirtualClock().install()
    try:
        yield clock
    finally:
        clock.uninstall()


@_async_fixture
async def _awaitflow_leak_check(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a plain async test marked ``leak_check`` that leaks."""
    from ._leaks import LeakCheck

    check = LeakCheck().start()
    yield
    failed = request.node.stash.get(_CALL_FAILED, True)
    await check.finish(raise_on_leak=not failed)
