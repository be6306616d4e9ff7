"""The awaitflow pytest plugin: collection of test cases, markers and fixtures.

Thin by design: the logic lives in the modules of ``awaitflow.testing``.

- Every ``AsyncWorkflowTestCase`` subclass in a test module is collected, whatever
  its name; each ``test_*`` method runs on a fresh instance in its own event loop,
  with or without pytest-asyncio (strict mode, auto mode, or ``-p no:asyncio``).
- Markers: ``virtual_time`` (run a plain async test on a virtual clock) and
  ``leak_check`` (check a plain async test for leaks; ``leak_check(False)`` turns
  the check off for a test case method).
- Fixtures: ``awaitflow_runtime``, ``mock_http_client``, ``test_cache``, ``temp_dir``,
  ``sqlite_database``, ``postgres_database``, ``redis_cache``, ``virtual_clock``.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ._case import AsyncWorkflowTestCase

try:  # pytest-asyncio runs the async fixtures when it is installed and enabled
    import pytest_asyncio

    _async_fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised without pytest-asyncio installed
    _async_fixture = pytest.fixture


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers."""
    config.addinivalue_line(
        "markers", "virtual_time: run the async test on awaitflow's virtual clock"
    )
    config.addinivalue_line(
        "markers",
        "leak_check(enabled=True): fail the test when it leaks tasks, resources or "
        "unawaited coroutines",
    )


def _is_case_class(obj: Any) -> bool:
    return (
        inspect.isclass(obj)
        and issubclass(obj, AsyncWorkflowTestCase)
        and obj is not AsyncWorkflowTestCase
        and getattr(obj, "__test__", True)
        and not inspect.isabstract(obj)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> pytest.Collector | None:
    """Collect every AsyncWorkflowTestCase subclass, whatever its name."""
    if isinstance(collector, pytest.Module) and _is_case_class(obj):
        return WorkflowCaseCollector.from_parent(collector, name=name, obj=obj)
    return None


class WorkflowCaseCollector(pytest.Class):
    """Collects the ``test_*`` methods of an AsyncWorkflowTestCase subclass."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:  # type: ignore[override]
        """One item per ``test*`` method, in definition order."""
        cls = self.obj
        seen: set[str] = set()
        items: list[pytest.Item | pytest.Collector] = []
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if name in seen or not name.startswith("test") or not callable(value):
                    continue
                seen.add(name)
                items.append(WorkflowCaseItem.from_parent(self, name=name, callobj=value))
        return items


class WorkflowCaseItem(pytest.Function):
    """One test method of an AsyncWorkflowTestCase, run between setUp and tearDown."""

    def runtest(self) -> None:
        """Run the method on a fresh instance in a fresh event loop."""
        cls = self.parent.obj if self.parent is not None else None
        assert cls is not None
        instance = cls(self.name)
        marker = self.get_closest_marker("leak_check")
        if marker is not None and marker.args and not marker.args[0]:
            instance.leak_check = False
        if self.get_closest_marker("virtual_time") is not None:
            instance.virtual_time = True
        with asyncio.Runner() as runner:
            runner.run(instance.run_test(self.name))

    def setup(self) -> None:
        """Fill the (sync) fixtures; the test case makes its own instance."""
        self._request._fillfixtures()


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


# -- fixtures -----------------------------------------------------------------------------


@_async_fixture
async def awaitflow_runtime() -> AsyncIterator[Any]:
    """An AsyncLocalRuntime, shut down after the test."""
    from .._runtime import AsyncLocalRuntime

    async with AsyncLocalRuntime() as runtime:
        yield runtime


@pytest.fixture
def mock_http_client() -> Any:
    """A fresh mock HTTP client (see ``AsyncWorkflowFixtures.create_mock_http_client``)."""
    from ._mock_http import MockHttpClient

    return MockHttpClient()


@pytest.fixture(name="test_cache")
def _test_cache() -> Iterator[Any]:
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


@_async_fixture
async def sqlite_database() -> AsyncIterator[Any]:
    """A fresh SQLite test database (a temporary file), removed after the test."""
    from ._databases import create_test_database

    database = await create_test_database("sqlite")
    try:
        yield database
    finally:
        await database.cleanup()


@_async_fixture
async def postgres_database() -> AsyncIterator[Any]:
    """A fresh PostgreSQL database on the server of AWAITFLOW_POSTGRES_DSN, dropped after."""
    from ._databases import create_test_database

    database = await create_test_database("postgresql")
    try:
        yield database
    finally:
        await database.cleanup()


@_async_fixture
async def redis_cache() -> AsyncIterator[Any]:
    """A Redis test cache isolated by a unique key prefix; its keys are removed after."""
    from ._cache import create_test_cache

    cache = await create_test_cache("redis")
    try:
        yield cache
    finally:
        await cache.cleanup()


@_async_fixture
async def virtual_clock() -> AsyncIterator[Any]:
    """A virtual clock installed on the test's event loop (``now()``, ``await advance(s)``)."""
    from ._clock import VirtualClock

    clock = VirtualClock()
    clock.install()
    try:
        yield clock
    finally:
        clock.uninstall()


@_async_fixture
async def _awaitflow_leak_check() -> AsyncIterator[None]:
    """Fail a plain async test marked ``leak_check`` that leaks."""
    from ._leaks import LeakCheck

    check = LeakCheck()
    check.start()
    yield
    await check.finish(raise_on_leak=True)
