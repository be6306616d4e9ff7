"""The pytest plugin: collection and running of test cases, markers and fixtures (SPEC 3).

Most tests run an inner pytest session through ``pytester``, in the three
pytest-asyncio set-ups a user may have: strict mode, auto mode, and disabled.
"""

from __future__ import annotations

import asyncio
import os
import socket

import asyncpg  # noqa: F401 - see below
import pytest
import redis.asyncio  # noqa: F401 - see below

from awaitflow import AsyncLocalRuntime
from awaitflow.testing import MemoryTestCache, MockHttpClient, VirtualClock

# The inner sessions run in this process, and pytester drops the modules they imported
# when they end. Importing asyncpg's and redis' extension modules a second time later
# crashes the interpreter, so they are imported here, once, before any inner session.

MODES = {
    "strict": ["--asyncio-mode=strict"],
    "auto": ["--asyncio-mode=auto"],
    "disabled": ["-p", "no:asyncio"],
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner session quickly (hypothesis' plugin re-imports hypothesis each time)."""
    options = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    if "no:asyncio" not in args:
        options += ["-o", "asyncio_default_fixture_loop_scope=function"]
    return pytester.runpytest(*options, *args)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# -- collection -----------------------------------------------------------------------------

_COLLECTION = """
from awaitflow.testing import AsyncWorkflowTestCase

class MyTest(AsyncWorkflowTestCase):
    async def test_one(self):
        pass

class ETLTest(AsyncWorkflowTestCase):
    async def test_two(self):
        pass

    def helper(self):
        pass

class TestNamedLikePytest(AsyncWorkflowTestCase):
    async def test_three(self):
        pass

class Helper:
    async def test_ignored(self):
        pass
"""


def test_every_subclass_is_collected_whatever_its_name(pytester: pytest.Pytester) -> None:
    """Subclasses named MyTest, ETLTest or Test* are collected; the base class never is."""
    pytester.makepyfile(test_collection=_COLLECTION)
    outcome = run(pytester, "--collect-only", "-q", "-W", "error")
    outcome.stdout.fnmatch_lines(
        [
            "test_collection.py::MyTest::test_one",
            "test_collection.py::ETLTest::test_two",
            "test_collection.py::TestNamedLikePytest::test_three",
            "3 tests collected*",
        ]
    )
    assert "AsyncWorkflowTestCase" not in outcome.stdout.str()


def test_the_base_class_is_not_collected_even_when_its_name_matches(
    pytester: pytest.Pytester,
) -> None:
    """With ``python_classes`` matching the base class's name, it is still skipped quietly."""
    pytester.makepyfile(test_collection=_COLLECTION)
    outcome = run(
        pytester, "--collect-only", "-q", "-W", "error", "-o", "python_classes=*Case *Test Test*"
    )
    outcome.stdout.fnmatch_lines(["3 tests collected*"])
    assert "cannot collect" not in outcome.stdout.str()


def test_a_test_case_nested_in_a_test_class_is_collected(pytester: pytest.Pytester) -> None:
    """A test case class inside a plain pytest test class is collected too."""
    pytester.makepyfile(
        test_nested="""
        from awaitflow.testing import AsyncWorkflowTestCase

        class TestGroup:
            class Inner(AsyncWorkflowTestCase):
                async def test_inner(self):
                    pass

            def test_plain(self):
                pass
        """
    )
    outcome = run(pytester, "-v", "-W", "error")
    outcome.assert_outcomes(passed=2)
    outcome.stdout.fnmatch_lines(["*TestGroup::Inner::test_inner PASSED*"])


def test_test_false_in_a_class_body_skips_that_class_only(pytester: pytest.Pytester) -> None:
    """A base with ``__test__ = False`` is not collected; its subclasses are."""
    pytester.makepyfile(
        test_bases="""
        from awaitflow.testing import AsyncWorkflowTestCase

        class SharedTests(AsyncWorkflowTestCase):
            __test__ = False

            async def test_shared(self):
                pass

        class OnSqlite(SharedTests):
            pass
        """
    )
    outcome = run(pytester, "--collect-only", "-q")
    outcome.stdout.fnmatch_lines(["test_bases.py::OnSqlite::test_shared", "1 test collected*"])


# -- running, in every pytest-asyncio set-up -------------------------------------------------

_LIFECYCLE = """
import asyncio
import pytest
from awaitflow.testing import AsyncWorkflowTestCase

events = []
loops = []

class Plain(AsyncWorkflowTestCase):
    async def setUp(self):
        await super().setUp()
        events.append(("setUp", self._method_name))

    async def tearDown(self):
        events.append(("tearDown", self._method_name))
        await super().tearDown()

    async def test_first(self):
        loops.append(asyncio.get_running_loop())
        assert not hasattr(self, "touched")
        self.touched = True
        events.append(("test", "test_first"))

    async def test_second(self):
        loops.append(asyncio.get_running_loop())
        assert not hasattr(self, "touched")
        self.touched = True
        events.append(("test", "test_second"))

    async def test_fails(self):
        events.append(("test", "test_fails"))
        assert 1 == 2, "the test failed"

@pytest.mark.asyncio
class Marked(Plain):
    pass

def test_zz_each_test_had_setup_before_and_teardown_after():
    per_test = [events[i:i + 3] for i in range(0, len(events), 3)]
    assert len(per_test) == 6
    for name, (setup, test, teardown) in zip(
        ["test_first", "test_second", "test_fails"] * 2, per_test
    ):
        assert (setup, test, teardown) == (("setUp", name), ("test", name), ("tearDown", name))
    assert len(set(map(id, loops))) == 4
"""


@pytest.mark.parametrize("mode", list(MODES))
def test_test_cases_run_in_every_pytest_asyncio_mode(pytester: pytest.Pytester, mode: str) -> None:
    """Marked and unmarked classes run in strict, auto and disabled mode, with tearDown."""
    pytester.makepyfile(test_lifecycle=_LIFECYCLE)
    outcome = run(pytester, *MODES[mode], "--strict-markers", "-W", "error")
    outcome.assert_outcomes(passed=5, failed=2)
    outcome.stdout.fnmatch_lines(
        [
            "FAILED test_lifecycle.py::Plain::test_fails - AssertionError: the test failed*",
            "FAILED test_lifecycle.py::Marked::test_fails - AssertionError: the test failed*",
        ]
    )


_BLOCK_PYTEST_ASYNCIO = """
import sys

class BlockPytestAsyncio:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pytest_asyncio":
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockPytestAsyncio())
"""


def test_test_cases_run_without_pytest_asyncio_installed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pytest-asyncio not importable at all, the plugin loads and runs test cases."""
    pytester.makepyfile(test_lifecycle=_LIFECYCLE)
    blocker = pytester.mkdir("no_pytest_asyncio")
    (blocker / "sitecustomize.py").write_text(_BLOCK_PYTEST_ASYNCIO, encoding="utf-8")
    pytester.makepyfile(
        test_not_importable="""
        import pytest

        def test_pytest_asyncio_is_not_importable():
            with pytest.raises(ImportError):
                import pytest_asyncio
        """
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")])
    )
    # --assert=plain: the assertion rewriter would find pytest_asyncio past the blocker
    outcome = pytester.runpytest_subprocess(
        "-p", "no:asyncio", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--assert=plain"
    )
    outcome.assert_outcomes(passed=6, failed=2)


def test_a_failing_setup_fails_the_test_without_teardown(pytester: pytest.Pytester) -> None:
    """An error in setUp fails the test with that error; tearDown does not run."""
    pytester.makepyfile(
        test_setup="""
        from awaitflow.testing import AsyncWorkflowTestCase

        ran = []

        class Broken(AsyncWorkflowTestCase):
            async def setUp(self):
                await super().setUp()
                raise ConnectionError("database is down")

            async def tearDown(self):
                ran.append("tearDown")

            async def test_it(self):
                ran.append("test")

        def test_zz_nothing_ran():
            assert ran == []
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(passed=1, failed=1)
    outcome.stdout.fnmatch_lines(["*ConnectionError: database is down*"])


def test_a_subclass_of_a_subclass_runs_inherited_and_own_tests(
    pytester: pytest.Pytester,
) -> None:
    """Inherited test methods run on the subclass too, with the whole setUp chain."""
    pytester.makepyfile(
        test_inherit="""
        from awaitflow.testing import AsyncWorkflowTestCase

        class WithDb(AsyncWorkflowTestCase):
            async def setUp(self):
                await super().setUp()
                self.db = await self.create_test_resource("db", None, mock=True)

            async def test_db(self):
                assert self.db is not None

        class WithCache(WithDb):
            async def setUp(self):
                await super().setUp()
                self.cache = self.mock_cache

            async def test_cache(self):
                assert self.db is not None and self.cache is not None
        """
    )
    outcome = run(pytester, "-v")
    outcome.assert_outcomes(passed=3)
    outcome.stdout.fnmatch_lines(
        [
            "*WithDb::test_db PASSED*",
            "*WithCache::test_db PASSED*",
            "*WithCache::test_cache PASSED*",
        ]
    )


def test_methods_take_parameters_and_sync_fixtures(pytester: pytest.Pytester) -> None:
    """``parametrize`` and synchronous fixtures work on test case methods."""
    pytester.makepyfile(
        test_params="""
        import pytest
        from awaitflow.testing import AsyncWorkflowTestCase

        class Params(AsyncWorkflowTestCase):
            @pytest.mark.parametrize("value,expected", [(1, 2), (5, 10)])
            async def test_double(self, value, expected, tmp_path, mock_http_client):
                result = await self.execute_workflow(
                    self.workflow(), {"value": value}
                )
                assert result.get_output("double", "value") == expected
                assert tmp_path.is_dir()
                assert mock_http_client.get_calls() == []

            def workflow(self):
                from awaitflow import AsyncWorkflowBuilder

                return AsyncWorkflowBuilder("d").add_async_code(
                    "double", "result = {'value': value * 2}"
                )
        """
    )
    outcome = run(pytester, "-v")
    outcome.assert_outcomes(passed=2)
    outcome.stdout.fnmatch_lines(["*test_double?1-2? PASSED*", "*test_double?5-10? PASSED*"])


def test_skip_and_xfail_markers_apply_to_methods_and_classes(pytester: pytest.Pytester) -> None:
    """``skip``, ``skipif``, ``xfail`` and ``pytest.skip()`` work in test cases."""
    pytester.makepyfile(
        test_marks="""
        import pytest
        from awaitflow.testing import AsyncWorkflowTestCase

        class Marks(AsyncWorkflowTestCase):
            @pytest.mark.skip(reason="not today")
            async def test_skipped(self):
                raise AssertionError("must not run")

            @pytest.mark.xfail(strict=True, reason="known bug")
            async def test_known_bug(self):
                assert 1 == 2

            @pytest.mark.xfail(strict=True, reason="fixed already")
            async def test_fixed_bug(self):
                pass

            async def test_skips_itself(self):
                pytest.skip("no server today")

        @pytest.mark.skipif(True, reason="no server")
        class NeedsServer(AsyncWorkflowTestCase):
            async def test_it(self):
                raise AssertionError("must not run")
        """
    )
    outcome = run(pytester, "-rsxX")
    outcome.assert_outcomes(skipped=3, xfailed=1, failed=1)
    outcome.stdout.fnmatch_lines(["*XPASS(strict)*fixed already*", "*no server today*"])


def test_an_async_fixture_on_a_method_is_a_clear_error(pytester: pytest.Pytester) -> None:
    """Asking a test case method for an async fixture fails, saying what to do instead."""
    pytester.makepyfile(
        test_async_fixture="""
        from awaitflow.testing import AsyncWorkflowTestCase

        class UsesRuntime(AsyncWorkflowTestCase):
            async def test_it(self, awaitflow_runtime):
                pass
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(errors=1)
    outcome.stdout.fnmatch_lines(
        ["*the test method asks for the async fixture 'awaitflow_runtime'*Make it in setUp()*"]
    )


def test_markers_turn_virtual_time_on_and_leak_checks_off_per_method(
    pytester: pytest.Pytester,
) -> None:
    """``virtual_time`` and ``leak_check(False)`` apply to a single test case method."""
    pytester.makepyfile(
        test_markers="""
        import asyncio
        import time
        import pytest
        from awaitflow.testing import AsyncWorkflowTestCase

        class Markers(AsyncWorkflowTestCase):
            @pytest.mark.virtual_time
            async def test_half_a_minute_passes_at_once(self):
                loop = asyncio.get_running_loop()
                start, real_start = loop.time(), time.monotonic()
                await asyncio.sleep(30)
                assert loop.time() - start == 30
                assert time.monotonic() - real_start < 5

            @pytest.mark.leak_check(False)
            async def test_may_leak(self):
                asyncio.get_running_loop().create_task(asyncio.sleep(60))

            async def test_may_not_leak(self):
                asyncio.get_running_loop().create_task(asyncio.sleep(60), name="orphan")
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(passed=2, failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*task 'orphan' was still running*the leak check cancelled it",
            "FAILED test_markers.py::Markers::test_may_not_leak - *",
        ]
    )


# -- plain tests keep working ----------------------------------------------------------------

_SEED_PATTERNS = """
import asyncio
from unittest.mock import AsyncMock

import pytest
import pytest_asyncio

from awaitflow import CircuitBreaker, CircuitBreakerOpenError

async def async_function(value="x"):
    await asyncio.sleep(0.001)
    return f"result{value[-1]}"

@pytest_asyncio.fixture
async def async_fixture():
    queue = asyncio.Queue()
    await queue.put("resource")
    yield queue
    await asyncio.wait_for(queue.join(), timeout=1)

@pytest.mark.asyncio
async def test_async_function():
    assert await async_function() is not None

@pytest.mark.asyncio
async def test_with_async_fixture(async_fixture):
    assert await async_fixture.get() == "resource"
    async_fixture.task_done()

@pytest.mark.asyncio
@pytest.mark.parametrize("input_value,expected", [("test1", "result1"), ("test2", "result2")])
async def test_async_with_params(input_value, expected):
    assert await async_function(input_value) == expected

@pytest.mark.asyncio
async def test_with_async_mock():
    mock_client = AsyncMock()
    mock_client.fetch_data.return_value = {"data": "test"}
    assert (await mock_client.fetch_data())["data"] == "test"
    mock_client.fetch_data.assert_called_once()

@pytest.mark.asyncio
async def test_async_context_manager_mock():
    mock_context = AsyncMock()
    mock_context.__aenter__.return_value = "client"
    async with mock_context as client:
        assert client == "client"

@pytest.mark.asyncio
async def test_timeout():
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.01)

@pytest.mark.asyncio
async def test_circuit_breaker():
    mock_client = AsyncMock()
    mock_client.request.side_effect = Exception("Service unavailable")
    circuit_breaker = CircuitBreaker(mock_client, failure_threshold=1)
    with pytest.raises(Exception):
        await circuit_breaker.execute("test")
    with pytest.raises(CircuitBreakerOpenError):
        await circuit_breaker.execute("test")

@pytest.mark.asyncio
async def test_async_iterator():
    async def async_generator():
        for i in range(3):
            yield i
    assert [value async for value in async_generator()] == [0, 1, 2]

@pytest.mark.asyncio
async def test_async_lock():
    lock = asyncio.Lock()
    shared_resource = []
    async def worker(worker_id):
        async with lock:
            shared_resource.append(worker_id)
            await asyncio.sleep(0.001)
    await asyncio.gather(*[worker(i) for i in range(5)])
    assert set(shared_resource) == {0, 1, 2, 3, 4}

class TestGrouped:
    @pytest.mark.asyncio
    async def test_concurrent_operations(self):
        results = await asyncio.gather(async_function("a1"), async_function("b2"))
        assert results == ["result1", "result2"]

def test_sync_tests_are_untouched():
    assert asyncio.run(async_function("z9")) == "result9"
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_plain_pytest_asyncio_tests_keep_passing(pytester: pytest.Pytester, mode: str) -> None:
    """The patterns of seeds 002-004 pass with the plugin installed, in strict and auto mode."""
    pytester.makepyfile(test_patterns=_SEED_PATTERNS)
    outcome = run(pytester, *MODES[mode], "-W", "error")
    outcome.assert_outcomes(passed=12)


def test_auto_mode_runs_unmarked_tests_and_plain_async_fixtures(
    pytester: pytest.Pytester,
) -> None:
    """Auto mode (seed 002's set-up) runs unmarked tests and ``@pytest.fixture`` async fixtures."""
    pytester.makepyfile(
        test_auto="""
        import asyncio
        import pytest

        @pytest.fixture
        async def async_fixture():
            resource = {"open": True}
            yield resource
            resource["open"] = False

        async def test_with_async_fixture(async_fixture):
            await asyncio.sleep(0)
            assert async_fixture["open"]

        async def test_async_queue():
            queue = asyncio.Queue()
            await queue.put("item1")
            assert await queue.get() == "item1"
        """
    )
    outcome = run(pytester, *MODES["auto"], "-W", "error")
    outcome.assert_outcomes(passed=2)


_LEAKY_PLAIN = """
import asyncio
import pytest

@pytest.mark.asyncio
@pytest.mark.leak_check
async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(60), name="forgotten")

@pytest.mark.asyncio
@pytest.mark.leak_check
async def test_clean():
    await asyncio.sleep(0)

@pytest.mark.asyncio
@pytest.mark.leak_check
async def test_fails_and_leaks():
    asyncio.get_running_loop().create_task(asyncio.sleep(60))
    assert False, "its own failure"

@pytest.mark.asyncio
async def test_not_checked():
    asyncio.get_running_loop().create_task(asyncio.sleep(0.01))
"""


def test_leak_check_marker_on_plain_tests(pytester: pytest.Pytester) -> None:
    """A plain test marked ``leak_check`` fails when it leaks, and only then."""
    pytester.makepyfile(test_leaky=_LEAKY_PLAIN)
    outcome = run(pytester)
    outcome.assert_outcomes(passed=3, failed=1, errors=1)
    outcome.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_task*",
            "*LeakError: the test left 1 leak behind*",
            "*task 'forgotten' was still running*",
            "FAILED test_leaky.py::test_fails_and_leaks - AssertionError: its own failure*",
        ]
    )


def test_virtual_time_marker_on_a_plain_test(pytester: pytest.Pytester) -> None:
    """A plain async test marked ``virtual_time`` runs on the virtual clock."""
    pytester.makepyfile(
        test_virtual="""
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.virtual_time
        async def test_slow_service_times_out():
            loop = asyncio.get_running_loop()
            start, real_start = loop.time(), time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.sleep(3600)
            assert loop.time() - start == 10.0
            assert time.monotonic() - real_start < 5
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(passed=1)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_awaitflow_runtime_fixture(awaitflow_runtime: AsyncLocalRuntime) -> None:
    """``awaitflow_runtime`` is a runtime ready to execute workflows."""
    from awaitflow import AsyncWorkflowBuilder

    result = await awaitflow_runtime.execute(
        AsyncWorkflowBuilder("w").add_async_code("n", "result = 1")
    )
    assert result.get_output("n", "result") == 1


def test_mock_http_client_fixture(mock_http_client: MockHttpClient) -> None:
    """``mock_http_client`` is a fresh MockHttpClient."""
    assert isinstance(mock_http_client, MockHttpClient)
    assert mock_http_client.get_calls() == []


@pytest.mark.asyncio
async def test_test_cache_fixture(test_cache: MemoryTestCache) -> None:
    """``test_cache`` is a fresh memory test cache."""
    await test_cache.set("k", [1, 2])
    assert await test_cache.get("k") == [1, 2]


def test_temp_dir_fixture(temp_dir: str) -> None:
    """``temp_dir`` is an existing, empty directory path."""
    assert os.path.isdir(temp_dir)
    assert os.listdir(temp_dir) == []


@pytest.mark.asyncio
async def test_virtual_clock_fixture(virtual_clock: VirtualClock) -> None:
    """``virtual_clock`` is installed on the test's loop and can be advanced."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await virtual_clock.advance(60)
    assert loop.time() - start == pytest.approx(60)
    assert virtual_clock.now() == loop.time()


_FIXTURE_TEARDOWN = """
import os
import pytest
from awaitflow import AsyncWorkflowBuilder

seen = {}

@pytest.mark.asyncio
async def test_runtime(awaitflow_runtime):
    released = []
    seen["released"] = released
    awaitflow_runtime.register_resource("conn", lambda: "c", cleanup=released.append)
    await awaitflow_runtime.execute(
        AsyncWorkflowBuilder("w").add_async_code("n", "c = await get_resource('conn')")
    )

def test_temp_dir(temp_dir):
    seen["temp_dir"] = temp_dir
    open(os.path.join(temp_dir, "f.txt"), "w").close()

@pytest.mark.asyncio
async def test_sqlite(sqlite_database):
    seen["sqlite"] = sqlite_database
    assert os.path.exists(sqlite_database.connection_string.removeprefix("sqlite:///"))

def test_zz_everything_was_released():
    assert seen["released"] == ["c"]
    assert not os.path.exists(seen["temp_dir"])
    assert seen["sqlite"].cleaned_up
"""


def test_fixtures_clean_up_after_the_test(pytester: pytest.Pytester) -> None:
    """The runtime is shut down, the directory and the SQLite database removed."""
    pytester.makepyfile(test_teardown=_FIXTURE_TEARDOWN)
    outcome = run(pytester)
    outcome.assert_outcomes(passed=4)


def test_postgres_database_fixture(pytester: pytest.Pytester) -> None:
    """``postgres_database`` is a fresh PostgreSQL database, dropped after the test."""
    if not _reachable("127.0.0.1", 5432):
        pytest.skip("the PostgreSQL server at 127.0.0.1:5432 is unreachable")
    pytester.makepyfile(
        test_pg="""
        import asyncpg
        import pytest

        @pytest.mark.asyncio
        async def test_pg(postgres_database):
            assert postgres_database.engine == "postgresql"
            conn = await asyncpg.connect(postgres_database.connection_string)
            try:
                await conn.execute("CREATE TABLE users (id SERIAL, name TEXT)")
                await conn.execute("INSERT INTO users (name) VALUES ('ada')")
                assert await conn.fetchval("SELECT name FROM users") == "ada"
            finally:
                await conn.close()
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(passed=1)


def test_redis_cache_fixture(pytester: pytest.Pytester) -> None:
    """``redis_cache`` is a Redis test cache whose keys are removed after the test."""
    if not _reachable("127.0.0.1", 6379):
        pytest.skip("the Redis server at 127.0.0.1:6379 is unreachable")
    pytester.makepyfile(
        test_redis="""
        import pytest

        @pytest.mark.asyncio
        async def test_redis(redis_cache):
            await redis_cache.set("session", {"user": 1}, ttl=60)
            assert await redis_cache.get("session") == {"user": 1}
            assert await redis_cache.keys() == ["session"]
        """
    )
    outcome = run(pytester)
    outcome.assert_outcomes(passed=1)


def test_markers_are_declared(pytester: pytest.Pytester) -> None:
    """``pytest --markers`` lists the plugin's markers."""
    outcome = run(pytester, "--markers")
    outcome.stdout.fnmatch_lines(["@pytest.mark.virtual_time:*", "@pytest.mark.leak_check*"])


def test_failed_test_case_draws_its_workflows_as_timelines(pytester: pytest.Pytester) -> None:
    """With --awaitflow-timelines, a failed test writes one HTML timeline per workflow it ran."""
    pytester.makepyfile(
        """
        from awaitflow import AsyncWorkflowBuilder
        from awaitflow.testing import AsyncWorkflowTestCase

        class PipelineTest(AsyncWorkflowTestCase):
            async def test_fails(self):
                ok = AsyncWorkflowBuilder("first").add_async_code("a", "result = 1")
                await self.execute_workflow(ok)
                bad = AsyncWorkflowBuilder("second").add_async_code("boom", "raise ValueError('x')")
                await self.execute_workflow(bad)

            async def test_passes(self):
                third = AsyncWorkflowBuilder("third").add_async_code("a", "b = 1")
                await self.execute_workflow(third)
        """
    )
    folder = pytester.path / "timelines"
    result = pytester.runpytest_subprocess("-p", "no:asyncio", f"--awaitflow-timelines={folder}")
    result.assert_outcomes(passed=1, failed=1)
    pages = sorted(p.name for p in folder.iterdir())
    assert pages == [
        "PipelineTest.test_fails.1.first.html",
        "PipelineTest.test_fails.2.second.html",
    ]
    html = (folder / "PipelineTest.test_fails.2.second.html").read_text()
    assert 'data-node="boom"' in html and 'data-status="failed"' in html
