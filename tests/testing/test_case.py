"""AsyncWorkflowTestCase: lifecycle, runtime, resources, mocks, assertions, tracing (SPEC 3)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from unittest import mock

import pytest

from awaitflow import (
    AsyncLocalRuntime,
    AsyncWorkflowBuilder,
    ResourceNotFoundError,
    RetryPolicy,
    WorkflowResult,
)
from awaitflow.testing import (
    AsyncWorkflowTestCase,
    LeakError,
    MemoryTestCache,
    MockHttpClient,
    ResourceCall,
    TimeLimit,
)


class Case(AsyncWorkflowTestCase):
    """A test case with no tests of its own, driven by the tests of this module."""

    __test__ = False


def _echo(node: str = "echo", code: str = "result = {'value': value}") -> AsyncWorkflowBuilder:
    return AsyncWorkflowBuilder("echo").add_async_code(node, code)


class Fake:
    """A fake service of the test's own."""

    def __init__(self) -> None:
        self.closed = False
        self.rows: list[Any] = []

    async def insert(self, row: Any) -> int:
        self.rows.append(row)
        return len(self.rows)

    def count(self) -> int:
        return len(self.rows)

    async def aclose(self) -> None:
        self.closed = True


# -- lifecycle ------------------------------------------------------------------------------


class TestLifecycle:
    @pytest.mark.asyncio
    async def test_async_with_runs_setup_on_enter_and_teardown_on_exit(self) -> None:
        """``async with`` awaits setUp on entering and tearDown on leaving."""
        calls: list[str] = []

        class Recorded(Case):
            async def setUp(self) -> None:
                await super().setUp()
                calls.append("setUp")

            async def tearDown(self) -> None:
                calls.append("tearDown")
                await super().tearDown()

        async with Recorded() as test:
            assert isinstance(test, Recorded)
            calls.append("body")
        assert calls == ["setUp", "body", "tearDown"]

    @pytest.mark.asyncio
    async def test_async_with_runs_teardown_when_the_body_fails(self) -> None:
        """A failing body still gets tearDown, and its error propagates."""
        calls: list[str] = []

        class Recorded(Case):
            async def tearDown(self) -> None:
                calls.append("tearDown")
                await super().tearDown()

        with pytest.raises(ValueError, match="body failed"):
            async with Recorded():
                raise ValueError("body failed")
        assert calls == ["tearDown"]

    @pytest.mark.asyncio
    async def test_run_test_runs_setup_method_teardown_in_order(self) -> None:
        """``run_test`` brackets the method by setUp and tearDown."""
        calls: list[str] = []

        class Recorded(Case):
            async def setUp(self) -> None:
                await super().setUp()
                calls.append("setUp")

            async def tearDown(self) -> None:
                calls.append("tearDown")
                await super().tearDown()

            async def test_it(self) -> None:
                calls.append("test")

        await Recorded().run_test("test_it")
        assert calls == ["setUp", "test", "tearDown"]

    @pytest.mark.asyncio
    async def test_run_test_runs_teardown_when_the_test_fails(self) -> None:
        """A failing test method still gets tearDown; its AssertionError propagates."""
        calls: list[str] = []

        class Recorded(Case):
            async def tearDown(self) -> None:
                calls.append("tearDown")
                await super().tearDown()

            async def test_it(self) -> None:
                raise AssertionError("expected 1, got 2")

        with pytest.raises(AssertionError, match="expected 1, got 2"):
            await Recorded("test_it").run_test()
        assert calls == ["tearDown"]

    @pytest.mark.asyncio
    async def test_failed_setup_skips_test_and_teardown_but_cleans_up(self) -> None:
        """When setUp fails, the test and tearDown do not run; its resources are cleaned up."""
        calls: list[str] = []
        fake = Fake()

        class Broken(Case):
            async def setUp(self) -> None:
                await super().setUp()
                await self.create_test_resource("db", lambda: fake)
                raise RuntimeError("no database")

            async def tearDown(self) -> None:
                calls.append("tearDown")

            async def test_it(self) -> None:
                calls.append("test")

        with pytest.raises(RuntimeError, match="no database"):
            await Broken().run_test("test_it")
        assert calls == []
        assert fake.closed

    @pytest.mark.asyncio
    async def test_teardown_override_without_super_still_cleans_up(self) -> None:
        """Resources are cleaned up even when tearDown forgets ``super().tearDown()``."""
        fake = Fake()

        class Forgetful(Case):
            async def tearDown(self) -> None:
                pass

        async with Forgetful() as test:
            await test.create_test_resource("db", lambda: fake)
        assert fake.closed

    @pytest.mark.asyncio
    async def test_run_test_of_an_unknown_method_is_refused(self) -> None:
        """Asking for a method the class does not have names it."""
        with pytest.raises(AttributeError, match="Case has no test method 'test_nope'"):
            await Case().run_test("test_nope")

    @pytest.mark.asyncio
    async def test_run_test_passes_keyword_arguments(self) -> None:
        """Keyword arguments of ``run_test`` reach the method (how fixtures arrive)."""
        seen: list[int] = []

        class Takes(Case):
            async def test_it(self, number: int) -> None:
                seen.append(number)

        await Takes().run_test("test_it", number=7)
        assert seen == [7]

    @pytest.mark.asyncio
    async def test_sync_test_methods_run_too(self) -> None:
        """A plain ``def test_*`` method runs between setUp and tearDown as well."""
        seen: list[str] = []

        class Sync(Case):
            def test_it(self) -> None:
                seen.append(type(self.runtime).__name__)

        await Sync().run_test("test_it")
        assert seen == ["AsyncLocalRuntime"]

    @pytest.mark.asyncio
    async def test_each_entry_starts_with_fresh_state(self) -> None:
        """Entering an instance again gives a new runtime, no resources and zero counts."""
        test = Case()
        async with test:
            first = test.runtime
            await test.create_test_resource("db", None, mock=True)
            await test.execute_workflow(_echo(), {"value": 1})
        async with test:
            assert test.runtime is not first
            assert test.get_node_execution_count("echo") == 0
            with pytest.raises(AssertionError, match="no test resource named 'db'"):
                test.assert_resource_called("db", "fetch")


class TestVirtualTimeAndLeaks:
    @pytest.mark.asyncio
    async def test_virtual_time_class_attribute_runs_on_a_virtual_clock(self) -> None:
        """With ``virtual_time = True`` a 10 s sleep in a node is instant and seen as 10 s."""
        seen: list[float] = []

        class Slow(Case):
            virtual_time = True

            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                start = loop.time()
                await self.execute_workflow(_echo("wait", "await asyncio.sleep(10)"))
                seen.append(loop.time() - start)

        started = time.monotonic()
        await Slow().run_test("test_it")
        assert seen == [pytest.approx(10.0, abs=0.01)]
        assert time.monotonic() - started < 2.0

    @pytest.mark.asyncio
    async def test_a_leaked_task_fails_a_passing_test(self) -> None:
        """A task the test leaves running fails it with LeakError naming the task."""

        class Leaky(Case):
            async def test_it(self) -> None:
                asyncio.get_running_loop().create_task(asyncio.sleep(30), name="left-behind")

        with pytest.raises(LeakError, match="left-behind"):
            await Leaky().run_test("test_it")

    @pytest.mark.asyncio
    async def test_leak_check_false_turns_the_check_off(self) -> None:
        """``leak_check = False`` lets a leaky test pass."""
        leftovers: list[asyncio.Task[None]] = []

        class Leaky(Case):
            leak_check = False

            async def test_it(self) -> None:
                leftovers.append(asyncio.get_running_loop().create_task(asyncio.sleep(30)))

        await Leaky().run_test("test_it")
        leftovers[0].cancel()

    @pytest.mark.asyncio
    async def test_a_failing_test_reports_its_own_error_not_leaks(self) -> None:
        """When the test fails, its error is what propagates, not LeakError."""

        class Leaky(Case):
            async def test_it(self) -> None:
                asyncio.get_running_loop().create_task(asyncio.sleep(30))
                raise ValueError("the real problem")

        with pytest.raises(ValueError, match="the real problem"):
            await Leaky().run_test("test_it")


# -- the runtime ----------------------------------------------------------------------------


class TestRuntime:
    @pytest.mark.asyncio
    async def test_setup_makes_a_runtime(self) -> None:
        """``self.runtime`` is an AsyncLocalRuntime made in setUp."""
        async with Case() as test:
            assert isinstance(test.runtime, AsyncLocalRuntime)
            assert test.runtime is test.runtime

    @pytest.mark.asyncio
    async def test_a_runtime_replaced_in_setup_runs_the_workflows(self) -> None:
        """A runtime set in setUp (after super) is the one execute_workflow uses."""

        class Replaced(Case):
            async def setUp(self) -> None:
                await super().setUp()
                self.runtime = AsyncLocalRuntime()
                self.runtime.register_function(lambda: "registered", name="answer")

        async with Replaced() as test:
            result = await test.execute_workflow(_echo("ask", "result = answer()"))
            assert result.get_output("ask", "result") == "registered"

    @pytest.mark.asyncio
    async def test_runtime_rejects_what_is_not_a_runtime(self) -> None:
        """Assigning something else to ``runtime`` is a TypeError naming the type."""
        async with Case() as test:
            with pytest.raises(TypeError, match="must be an AsyncLocalRuntime, got dict"):
                test.runtime = {}  # type: ignore[assignment]

    @pytest.mark.asyncio
    async def test_runtimes_are_shut_down_at_teardown(self) -> None:
        """Resources a runtime made itself are released when the test ends."""
        released: list[str] = []
        async with Case() as test:
            test.runtime.register_resource("conn", lambda: "c", cleanup=released.append)
            await test.execute_workflow(_echo("use", "conn = await get_resource('conn')"))
            assert released == []
        assert released == ["c"]

    @pytest.mark.asyncio
    async def test_a_runtime_of_the_caller_is_left_clean(self) -> None:
        """A runtime given to the test no longer lends its resources after the test."""
        async with AsyncLocalRuntime() as shared:
            async with Case() as test:
                test.runtime = shared
                await test.create_test_resource("db", None, mock=True)
                await test.execute_workflow(_echo("use", "db = await get_resource('db')"))
            with pytest.raises(ResourceNotFoundError):
                await shared.get_resource("db")
            with pytest.raises(ResourceNotFoundError):
                await shared.get_resource("http")

    @pytest.mark.asyncio
    async def test_a_registration_shadowed_by_a_test_resource_comes_back(self) -> None:
        """The caller's own registration of a name the test lent is restored after the test."""
        async with AsyncLocalRuntime() as shared:
            shared.register_resource("db", lambda: "the caller's db")
            async with Case() as test:
                test.runtime = shared
                await test.create_test_resource("db", lambda: "the test's db")
                result = await test.execute_workflow(_echo("use", "db = await get_resource('db')"))
                assert result.get_output("use", "db") == "the test's db"
            assert await shared.get_resource("db") == "the caller's db"


class TestExecuteWorkflow:
    @pytest.mark.asyncio
    async def test_builder_and_inputs(self) -> None:
        """A builder is accepted, and inputs become variables of the nodes."""
        async with Case() as test:
            result = await test.execute_workflow(_echo(), {"value": 42})
            assert result.get_output("echo", "value") == 42

    @pytest.mark.asyncio
    async def test_parameters_reach_their_node(self) -> None:
        """``parameters={node: {...}}`` gives that node those variables."""
        async with Case() as test:
            result = await test.execute_workflow(_echo(), parameters={"echo": {"value": "p"}})
            assert result.get_output("echo", "value") == "p"

    @pytest.mark.asyncio
    async def test_errors_raise_by_default(self) -> None:
        """A failing node's exception propagates with its type and message."""
        async with Case() as test:
            with pytest.raises(ValueError, match="Invalid input"):
                await test.execute_workflow(_echo("bad", "raise ValueError('Invalid input')"))

    @pytest.mark.asyncio
    async def test_raise_on_error_false_returns_the_failed_result(self) -> None:
        """With ``raise_on_error=False`` the result tells what failed."""
        async with Case() as test:
            result = await test.execute_workflow(
                _echo("bad", "raise ValueError('x')"), raise_on_error=False
            )
            assert (result.success, result.node_status) == (False, {"bad": "failed"})


# -- resources ------------------------------------------------------------------------------


class TestCreateTestResource:
    @pytest.mark.asyncio
    async def test_mock_without_factory_is_an_async_mock_workflows_reach(self) -> None:
        """``mock=True`` with no factory gives an AsyncMock that ``get_resource`` returns."""
        async with Case() as test:
            db = await test.create_test_resource("db", None, mock=True)
            assert isinstance(db, mock.AsyncMock)
            db.fetch.return_value = [{"id": 1}]
            result = await test.execute_workflow(
                _echo("read", "rows = await (await get_resource('db')).fetch('q')")
            )
            assert result.get_output("read", "rows") == [{"id": 1}]
            db.fetch.assert_awaited_once_with("q")

    @pytest.mark.asyncio
    async def test_no_factory_without_mock_is_refused(self) -> None:
        """Without a factory, ``mock=True`` is required."""
        async with Case() as test:
            with pytest.raises(ValueError, match=r"create_test_resource\('db'\): no factory"):
                await test.create_test_resource("db", None)

    @pytest.mark.asyncio
    async def test_a_factory_that_is_not_callable_is_refused(self) -> None:
        """An object passed as factory is refused, with the way to pass it."""
        async with Case() as test:
            with pytest.raises(TypeError, match=r"factory must be callable, got Fake; pass lambda"):
                await test.create_test_resource("db", Fake())  # type: ignore[arg-type]

    @pytest.mark.asyncio
    async def test_an_empty_name_is_refused(self) -> None:
        """A resource needs a non-empty name."""
        async with Case() as test:
            with pytest.raises(ValueError, match="the name must be a non-empty str, got ''"):
                await test.create_test_resource("", None, mock=True)

    @pytest.mark.asyncio
    async def test_an_async_factory_is_awaited(self) -> None:
        """An async factory's result is the resource."""

        async def connect() -> Fake:
            return Fake()

        async with Case() as test:
            resource = await test.create_test_resource("db", connect)
            assert isinstance(resource, Fake)

    @pytest.mark.asyncio
    async def test_a_factory_error_names_the_resource(self) -> None:
        """A factory that raises propagates its error with a note naming the resource."""

        def broken() -> None:
            raise ConnectionError("refused")

        async with Case() as test:
            with pytest.raises(ConnectionError, match="refused") as caught:
                await test.create_test_resource("db", broken)
        assert "while creating test resource 'db'" in caught.value.__notes__

    @pytest.mark.asyncio
    async def test_a_given_fake_is_kept_and_its_calls_recorded_from_anywhere(self) -> None:
        """A fake made with ``mock=True`` is the same object, recording workflow and test calls."""
        fake = Fake()
        async with Case() as test:
            resource = await test.create_test_resource("db", lambda: fake, mock=True)
            assert resource is fake
            await test.execute_workflow(
                _echo("load", "db = await get_resource('db')\nn = await db.insert({'id': 1})")
            )
            await fake.insert({"id": 2})
            assert fake.count() == 2
            test.assert_resource_called("db", "insert", times=2)
            test.assert_resource_called("db", "count", times=1)

    @pytest.mark.asyncio
    async def test_a_given_async_mock_is_kept(self) -> None:
        """An AsyncMock given with ``mock=True`` is returned as it is."""
        given = mock.AsyncMock()
        async with Case() as test:
            assert await test.create_test_resource("http", lambda: given, mock=True) is given

    @pytest.mark.asyncio
    async def test_mock_true_on_an_object_without_dict_is_refused(self) -> None:
        """Calls of an object without ``__dict__`` cannot be recorded: a clear TypeError."""
        async with Case() as test:
            with pytest.raises(TypeError, match=r"cannot record the calls of a tuple"):
                await test.create_test_resource("point", lambda: (1, 2), mock=True)

    @pytest.mark.asyncio
    async def test_cleanup_runs_in_reverse_order_even_when_the_test_failed(self) -> None:
        """Every test resource is cleaned up, newest first, after a failed test."""
        cleaned: list[str] = []

        class Failing(Case):
            async def test_it(self) -> None:
                for name in ("first", "second", "third"):
                    await self.create_test_resource(name, lambda n=name: n, cleanup=cleaned.append)
                raise AssertionError("test failed")

        with pytest.raises(AssertionError, match="test failed"):
            await Failing().run_test("test_it")
        assert cleaned == ["third", "second", "first"]

    @pytest.mark.asyncio
    async def test_default_cleanup_closes_fakes_and_leaves_mocks_alone(self) -> None:
        """Without ``cleanup=``, ``aclose()`` is called; mocks are not touched."""
        fake = Fake()
        async with Case() as test:
            await test.create_test_resource("fake", lambda: fake, mock=True)
            db = await test.create_test_resource("db", None, mock=True)
        assert fake.closed
        db.aclose.assert_not_called()

    @pytest.mark.asyncio
    async def test_an_async_cleanup_is_awaited(self) -> None:
        """``cleanup=`` may be async."""
        cleaned: list[object] = []

        async def close(resource: object) -> None:
            cleaned.append(resource)

        async with Case() as test:
            await test.create_test_resource("db", lambda: "conn", cleanup=close)
        assert cleaned == ["conn"]

    @pytest.mark.asyncio
    async def test_a_failing_cleanup_is_reported_after_the_others_ran(self) -> None:
        """A cleanup error names its resource, and the other resources are still cleaned."""
        cleaned: list[str] = []

        def broken(_resource: object) -> None:
            raise OSError("disk gone")

        with pytest.raises(OSError, match="disk gone") as caught:
            async with Case() as test:
                await test.create_test_resource("first", lambda: "a", cleanup=cleaned.append)
                await test.create_test_resource("broken", lambda: "b", cleanup=broken)
                await test.create_test_resource("last", lambda: "c", cleanup=cleaned.append)
        assert cleaned == ["c", "a"]
        assert "while cleaning up test resource 'broken'" in caught.value.__notes__

    @pytest.mark.asyncio
    async def test_a_second_resource_of_a_name_replaces_the_first(self) -> None:
        """Workflows get the newest resource of a name; both are cleaned up."""
        cleaned: list[str] = []
        async with Case() as test:
            await test.create_test_resource("db", lambda: "old", cleanup=cleaned.append)
            await test.execute_workflow(_echo("use", "db = await get_resource('db')"))
            await test.create_test_resource("db", lambda: "new", cleanup=cleaned.append)
            result = await test.execute_workflow(_echo("use", "db = await get_resource('db')"))
            assert result.get_output("use", "db") == "new"
        assert cleaned == ["new", "old"]

    @pytest.mark.asyncio
    async def test_resources_reach_a_runtime_set_later(self) -> None:
        """A runtime assigned after the resource was created still lends it."""
        async with Case() as test:
            await test.create_test_resource("db", lambda: "conn")
            test.runtime = AsyncLocalRuntime()
            result = await test.execute_workflow(_echo("use", "db = await get_resource('db')"))
            assert result.get_output("use", "db") == "conn"


class TestDefaultMocks:
    @pytest.mark.asyncio
    async def test_mock_http_is_made_on_first_touch_and_lent_as_http(self) -> None:
        """Touching ``mock_http`` makes a MockHttpClient that workflows get as ``"http"``."""
        async with Case() as test:
            test.mock_http.add_response("GET", "/api/data", {"results": [1, 2, 3]})
            result = await test.execute_workflow(
                _echo(
                    "fetch",
                    "resp = await (await get_resource('http')).get('/api/data')\n"
                    "data = await resp.json()",
                )
            )
            assert isinstance(test.mock_http, MockHttpClient)
            assert result.get_output("fetch", "data") == {"results": [1, 2, 3]}
            assert len(test.mock_http.get_calls("GET", "/api/data")) == 1
            test.assert_resource_called("http", "get", times=1)

    @pytest.mark.asyncio
    async def test_a_workflow_asking_for_http_makes_mock_http(self) -> None:
        """A workflow's ``get_resource("http")`` with no such resource makes ``mock_http``."""
        async with Case() as test:
            result = await test.execute_workflow(_echo("use", "http = await get_resource('http')"))
            assert result.get_output("use", "http") is test.mock_http

    @pytest.mark.asyncio
    async def test_a_workflow_asking_for_cache_makes_mock_cache(self) -> None:
        """A workflow's ``get_resource("cache")`` makes the memory test cache ``mock_cache``."""
        async with Case() as test:
            await test.execute_workflow(
                _echo("put", "await (await get_resource('cache')).set('k', {'v': 1})")
            )
            assert isinstance(test.mock_cache, MemoryTestCache)
            assert await test.mock_cache.get("k") == {"v": 1}
            assert [c.method for c in test.mock_cache.get_calls()] == ["set", "get"]
            test.assert_resource_called("cache", "set", times=1)

    @pytest.mark.asyncio
    async def test_a_created_http_resource_is_mock_http(self) -> None:
        """``mock_http`` is the resource ``"http"`` the test created, whatever it is."""
        async with Case() as test:
            given = mock.AsyncMock()
            await test.create_test_resource("http", lambda: given, mock=True)
            assert test.mock_http is given

    @pytest.mark.asyncio
    async def test_other_unknown_resources_are_still_missing(self) -> None:
        """Only ``http`` and ``cache`` are made on demand; other names fail as usual."""
        async with Case() as test:
            with pytest.raises(ResourceNotFoundError, match="'nope'"):
                await test.execute_workflow(_echo("use", "x = await get_resource('nope')"))

    @pytest.mark.asyncio
    async def test_default_mocks_are_closed_at_teardown(self) -> None:
        """The default mocks are cleaned up with the other test resources."""
        async with Case() as test:
            http = test.mock_http
            cache = test.mock_cache
        assert cache.cleaned_up
        with pytest.raises(RuntimeError, match="closed"):
            await http.get("/x")


# -- assertions -----------------------------------------------------------------------------


async def _result(code: str, *, parallel: bool = False, **nodes: str) -> WorkflowResult:
    builder = AsyncWorkflowBuilder("wf").add_async_code("main", code)
    for node_id, node_code in nodes.items():
        builder.add_async_code(node_id, node_code)
    if parallel:
        builder.with_parallel_execution()
    async with AsyncLocalRuntime() as runtime:
        return await runtime.execute(builder, {"name": "World"}, raise_on_error=False)


class TestAssertWorkflowSuccess:
    @pytest.mark.asyncio
    async def test_passes_on_success(self) -> None:
        """A successful result passes."""
        Case().assert_workflow_success(await _result("result = 1"))

    @pytest.mark.asyncio
    async def test_lists_each_failed_node_with_error_and_traceback(self) -> None:
        """The message names the workflow, each node's status, the error and its traceback."""
        result = await _result("x = 1", bad="items = []\nfirst = items[0]")
        with pytest.raises(AssertionError) as caught:
            Case().assert_workflow_success(result)
        message = str(caught.value)
        assert "workflow 'wf' failed" in message
        assert "(nodes: main=completed, bad=failed)" in message
        assert "node 'bad' (failed):" in message
        assert "Traceback (most recent call last)" in message
        assert "first = items[0]" in message
        assert "IndexError: list index out of range" in message
        assert "_execution.py" not in message  # the engine's own frames are left out

    @pytest.mark.asyncio
    async def test_refuses_what_is_not_a_result(self) -> None:
        """Passing something else than a WorkflowResult is a TypeError."""
        with pytest.raises(TypeError, match=r"assert_workflow_success\(\) needs a WorkflowResult"):
            Case().assert_workflow_success({"success": True})  # type: ignore[arg-type]


class TestAssertNodeOutput:
    @pytest.mark.asyncio
    async def test_passes_on_a_key_a_dotted_key_and_the_whole_output(self) -> None:
        """Equal values pass, by key, dotted key or whole output."""
        result = await _result("result = {'msg': f'Hello {name}!', 'meta': {'n': 1}}")
        test = Case()
        test.assert_node_output(result, "main", "Hello World!", "msg")
        test.assert_node_output(result, "main", 1, "meta.n")
        test.assert_node_output(result, "main", {"msg": "Hello World!", "meta": {"n": 1}})

    @pytest.mark.asyncio
    async def test_a_different_value_gives_both_values(self) -> None:
        """The message shows the actual and the expected value."""
        result = await _result("result = {'msg': 'Hello World!'}")
        with pytest.raises(
            AssertionError,
            match=r"output 'msg' of node 'main' is 'Hello World!', expected 'Bye'",
        ):
            Case().assert_node_output(result, "main", "Bye", "msg")

    @pytest.mark.asyncio
    async def test_a_missing_key_lists_the_keys(self) -> None:
        """A key the output does not have is reported with the keys it has."""
        result = await _result("result = {'msg': 1}")
        with pytest.raises(AssertionError, match=r"no output 'mgs'; its keys: \['msg'\]"):
            Case().assert_node_output(result, "main", 1, "mgs")

    @pytest.mark.asyncio
    async def test_a_failed_node_reports_its_error(self) -> None:
        """A node without output because it failed shows its status and error."""
        result = await _result("raise KeyError('sku')")
        with pytest.raises(AssertionError, match=r"status is 'failed'; its error: KeyError"):
            Case().assert_node_output(result, "main", 1, "x")


class TestAssertResourceCalled:
    @pytest.mark.asyncio
    async def test_times_none_means_at_least_once(self) -> None:
        """Two calls satisfy ``times=None``."""
        async with Case() as test:
            db = await test.create_test_resource("db", None, mock=True)
            await db.fetch("a")
            await db.fetch("b")
            test.assert_resource_called("db", "fetch")

    @pytest.mark.asyncio
    async def test_no_call_lists_what_was_called(self) -> None:
        """Zero calls fail ``times=None``, listing the calls the resource did get."""
        async with Case() as test:
            db = await test.create_test_resource("db", None, mock=True)
            await db.insert(1)
            with pytest.raises(
                AssertionError,
                match=r"db.fetch was called 0 time\(s\), expected at least once; "
                r"calls recorded on 'db': insert x1",
            ):
                test.assert_resource_called("db", "fetch")

    @pytest.mark.asyncio
    async def test_a_wrong_count_lists_the_calls(self) -> None:
        """A count other than ``times`` fails, showing each call's arguments."""
        fake = Fake()
        async with Case() as test:
            await test.create_test_resource("warehouse", lambda: fake, mock=True)
            await fake.insert({"id": 1})
            await fake.insert({"id": 2})
            with pytest.raises(
                AssertionError,
                match=r"(?s)warehouse.insert was called 2 time\(s\), expected 1 time\(s\); "
                r"its calls:\n  insert\(\*\(\{'id': 1\},\).*insert\(\*\(\{'id': 2\},\)",
            ):
                test.assert_resource_called("warehouse", "insert", times=1)

    @pytest.mark.asyncio
    async def test_times_zero_passes_when_never_called(self) -> None:
        """``times=0`` asserts the method was not called."""
        async with Case() as test:
            await test.create_test_resource("db", None, mock=True)
            test.assert_resource_called("db", "delete", times=0)

    @pytest.mark.asyncio
    async def test_dotted_methods_on_mocks(self) -> None:
        """On a mock, a dotted path reaches a nested method."""
        async with Case() as test:
            client = await test.create_test_resource("client", None, mock=True)
            await client.tables.users.insert({"id": 1})
            test.assert_resource_called("client", "tables.users.insert", times=1)

    @pytest.mark.asyncio
    async def test_an_unknown_resource_lists_the_resources(self) -> None:
        """Asking about a resource the test did not create lists the ones it did."""
        async with Case() as test:
            await test.create_test_resource("db", None, mock=True)
            with pytest.raises(AssertionError, match=r"no test resource named 'dB'; .*\['db'\]"):
                test.assert_resource_called("dB", "fetch")

    @pytest.mark.asyncio
    async def test_a_resource_not_recorded_says_how_to_record(self) -> None:
        """A resource made without ``mock=True`` is not recorded, and the message says so."""
        async with Case() as test:
            await test.create_test_resource("db", Fake)
            with pytest.raises(AssertionError, match="are not recorded; create it with mock=True"):
                test.assert_resource_called("db", "insert")

    @pytest.mark.asyncio
    async def test_a_bad_times_is_refused(self) -> None:
        """``times`` must be an int >= 0 or None."""
        async with Case() as test:
            with pytest.raises(ValueError, match="times must be an int >= 0 or None, got -1"):
                test.assert_resource_called("db", "fetch", times=-1)


class TestAssertTimeLimit:
    @pytest.mark.asyncio
    async def test_a_quick_block_passes_and_reports_its_time(self) -> None:
        """A block within its limit passes; ``elapsed`` tells how long it took."""
        async with Case() as test, test.assert_time_limit(2.0) as limit:
            await test.execute_workflow(_echo(), {"value": 1})
        assert isinstance(limit, TimeLimit)
        assert limit.elapsed is not None and 0 <= limit.elapsed < 2.0

    @pytest.mark.asyncio
    async def test_a_slow_block_is_cancelled_at_the_limit(self) -> None:
        """A block still running at the limit is cancelled there, and the test fails."""
        cleaned: list[str] = []
        started = time.monotonic()
        async with Case() as test:
            with pytest.raises(
                AssertionError,
                match=r"exceeded its time limit of 0.05s: it was cancelled after 0.0\d\ds",
            ):
                async with test.assert_time_limit(0.05):
                    try:
                        await asyncio.sleep(30)
                    finally:
                        cleaned.append("finally")
        assert cleaned == ["finally"]
        assert time.monotonic() - started < 5

    @pytest.mark.asyncio
    async def test_a_block_that_never_yields_fails_on_its_time(self) -> None:
        """A block that overruns without letting the timeout fire still fails, with its time."""
        async with Case() as test:
            with pytest.raises(AssertionError, match=r"took 0\.\d+s, over its time limit of 0.01s"):
                async with test.assert_time_limit(0.01):
                    time.sleep(0.03)  # noqa: ASYNC251 - blocks the loop on purpose: no timer can fire

    @pytest.mark.asyncio
    async def test_the_blocks_own_timeout_passes_through(self) -> None:
        """A TimeoutError of the block itself is not turned into a time-limit failure."""
        async with Case() as test:
            with pytest.raises(TimeoutError, match="workflow 'echo' timed out"):
                async with test.assert_time_limit(5):
                    await test.execute_workflow(
                        _echo("wait", "await asyncio.sleep(5)").with_timeout(0.01)
                    )

    @pytest.mark.asyncio
    async def test_a_bad_limit_is_refused(self) -> None:
        """The limit must be a finite number of seconds > 0."""
        with pytest.raises(ValueError, match="finite number of seconds > 0, got 0"):
            Case().assert_time_limit(0)


class TestCountsAndTracing:
    @pytest.mark.asyncio
    async def test_node_executions_are_counted_over_every_workflow_and_runtime(self) -> None:
        """Counts add up over executions, over workflows, and over replaced runtimes."""
        async with Case() as test:
            await test.execute_workflow(_echo(), {"value": 1})
            await test.execute_workflow(_echo(), {"value": 2})
            test.runtime = AsyncLocalRuntime()
            await test.execute_workflow(_echo(), {"value": 3})
            assert test.get_node_execution_count("echo") == 3
            assert test.get_node_execution_count("never") == 0

    @pytest.mark.asyncio
    async def test_each_retry_attempt_counts(self) -> None:
        """A node retried twice counts three executions."""
        async with Case() as test:
            service = await test.create_test_resource("service", None, mock=True)
            service.operation.side_effect = [ConnectionError("1"), ConnectionError("2"), "ok"]
            workflow = AsyncWorkflowBuilder("retry").add_async_code(
                "call",
                "result = await (await get_resource('service')).operation()",
                retry=RetryPolicy(max_attempts=3, backoff=0.001),
            )
            result = await test.execute_workflow(workflow)
            assert result.get_output("call", "result") == "ok"
            assert test.get_node_execution_count("call") == 3

    @pytest.mark.asyncio
    async def test_the_trace_records_events_after_tracing_is_enabled(self) -> None:
        """The trace holds dicts with timestamp, event and node_id, from enabling on."""
        async with Case() as test:
            await test.execute_workflow(_echo(), {"value": 1})
            assert test.get_execution_trace() == []
            test.enable_tracing()
            await test.execute_workflow(_echo(), {"value": 2})
            trace = test.get_execution_trace()
        assert [(step["event"], step["node_id"]) for step in trace] == [
            ("workflow_started", None),
            ("node_started", "echo"),
            ("node_completed", "echo"),
            ("workflow_completed", None),
        ]
        timestamps = [step["timestamp"] for step in trace]
        assert timestamps == sorted(timestamps)


class TestRecordedCalls:
    @pytest.mark.asyncio
    async def test_recorded_calls_are_resource_calls(self) -> None:
        """Calls of a fake are recorded as ResourceCall(method, args, kwargs)."""
        from awaitflow.testing._recording import calls_of

        fake = Fake()
        async with Case() as test:
            await test.create_test_resource("db", lambda: fake, mock=True)
            await fake.insert({"id": 1})
        assert calls_of(fake, "insert") == [ResourceCall("insert", ({"id": 1},), {})]

    @pytest.mark.asyncio
    async def test_attributes_that_are_not_methods_are_left_alone(self) -> None:
        """Nested classes and properties of a fake keep working once it records."""

        class Service:
            class Error(Exception):
                pass

            @property
            def name(self) -> str:
                return "svc"

            def fail(self) -> None:
                raise self.Error("down")

        service = Service()
        async with Case() as test:
            await test.create_test_resource("svc", lambda: service, mock=True)
            assert service.name == "svc"
            with pytest.raises(Service.Error, match="down"):
                service.fail()
            test.assert_resource_called("svc", "fail", times=1)


# -- hidden frames --------------------------------------------------------------------------

_HIDDEN_FRAME_TEST = """
import asyncio
from awaitflow import AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowTestCase

class Checks(AsyncWorkflowTestCase):
    async def test_success(self):
        result = await self.execute_workflow(
            AsyncWorkflowBuilder("w").add_async_code("bad", "raise ValueError('boom')"),
            raise_on_error=False,
        )
        self.assert_workflow_success(result)

    async def test_output(self):
        result = await self.execute_workflow(
            AsyncWorkflowBuilder("w").add_async_code("n", "result = {'v': 1}")
        )
        self.assert_node_output(result, "n", 2, "v")

    async def test_called(self):
        await self.create_test_resource("db", None, mock=True)
        self.assert_resource_called("db", "fetch", times=1)

    async def test_time_limit(self):
        async with self.assert_time_limit(0.01):
            await asyncio.sleep(1)
"""


@pytest.mark.parametrize(
    ("test_name", "message"),
    [
        ("test_success", "AssertionError: workflow 'w' failed"),
        ("test_output", "AssertionError: output 'v' of node 'n' is 1, expected 2"),
        ("test_called", "AssertionError: db.fetch was called 0 time(s), expected 1 time(s)"),
        ("test_time_limit", "AssertionError: the block exceeded its time limit of 0.01s"),
    ],
)
def test_assertion_failures_point_at_the_test_line(
    pytester: pytest.Pytester, test_name: str, message: str
) -> None:
    """pytest shows the test's own line and message; the assertion helper's frame is hidden."""
    pytester.makepyfile(test_hidden=_HIDDEN_FRAME_TEST)
    outcome = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        f"test_hidden.py::Checks::{test_name}",
    )
    outcome.assert_outcomes(failed=1)
    output = outcome.stdout.str()
    assert f"E       {message}" in output
    assert "_case.py" not in output
    assert "contextlib" not in output
    assert "test_hidden.py:" in output
