"""Leak checks on tests that run workflows: what fails, what it names, how to opt out.

The failing tests run in an inner pytest session (``pytester``), where their
failure is the outcome under test.
"""

from __future__ import annotations

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder
from awaitflow.testing import LeakCheck, VirtualClock


def run(pytester: pytest.Pytester, source: str) -> pytest.RunResult:
    """Run ``source`` as a test module in an inner session, quickly and in strict mode."""
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "--asyncio-mode=strict",
    )


_HEADER = """
import asyncio
import pytest
from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowTestCase

FORGETFUL = AsyncWorkflowBuilder("orders").add_async_code(
    "fetch",
    '''
    asyncio.create_task(asyncio.sleep(100))
    fetched = True
    ''',
)
"""

_LEAKED_SLEEP = (
    "*task 'Task-*' was still running asyncio.sleep(), suspended at *; the leak check cancelled it"
)


def test_a_node_starting_a_background_task_fails_its_test_naming_the_coroutine(
    pytester: pytest.Pytester,
) -> None:
    """A node's create_task(asyncio.sleep(100)) left running fails the test with a LeakError."""
    outcome = run(
        pytester,
        _HEADER
        + """
class OrdersTest(AsyncWorkflowTestCase):
    async def test_fetch(self):
        result = await self.execute_workflow(FORGETFUL)
        self.assert_workflow_success(result)
""",
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*LeakError: the test left 1 leak behind:", _LEAKED_SLEEP])


def test_virtual_time_does_not_run_a_leaked_sleep_to_its_end(pytester: pytest.Pytester) -> None:
    """On a virtual clock the leaked 100 s sleep is still reported, not fast-forwarded away."""
    outcome = run(
        pytester,
        _HEADER
        + """
class OrdersTest(AsyncWorkflowTestCase):
    virtual_time = True

    async def test_fetch(self):
        await self.execute_workflow(FORGETFUL)
        await asyncio.sleep(10)  # the clock jumps 10 s, not past the leaked timer at 100 s
""",
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*LeakError: the test left 1 leak behind:", _LEAKED_SLEEP])


def test_an_unawaited_coroutine_in_node_code_is_reported_with_the_node_line(
    pytester: pytest.Pytester,
) -> None:
    """A node calling an async function without await fails the test, naming both places."""
    outcome = run(
        pytester,
        _HEADER
        + """
async def notify(message):
    return message

class AlertsTest(AsyncWorkflowTestCase):
    async def test_alert(self):
        self.runtime.register_function(notify)
        workflow = AsyncWorkflowBuilder("alerts").add_async_code(
            "alert", "notify('disk full')\\nsent = True"
        )
        await self.execute_workflow(workflow)
""",
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*LeakError: the test left 1 leak behind:",
            "*coroutine 'notify' was never awaited (defined at *test_inner.py:*); "
            "it was created at <node 'alert'>:1 in <module>",
        ]
    )


def test_the_class_attribute_leak_check_false_turns_the_check_off(
    pytester: pytest.Pytester,
) -> None:
    """A test case class with leak_check = False passes although its node leaks a task."""
    outcome = run(
        pytester,
        _HEADER
        + """
class OrdersTest(AsyncWorkflowTestCase):
    leak_check = False

    async def test_fetch(self):
        await self.execute_workflow(FORGETFUL)
""",
    )
    outcome.assert_outcomes(passed=1)


def test_the_marker_leak_check_false_turns_the_check_off_for_one_method(
    pytester: pytest.Pytester,
) -> None:
    """@pytest.mark.leak_check(False) spares the marked method only; its sibling still fails."""
    outcome = run(
        pytester,
        _HEADER
        + """
class OrdersTest(AsyncWorkflowTestCase):
    @pytest.mark.leak_check(False)
    async def test_spared(self):
        await self.execute_workflow(FORGETFUL)

    async def test_checked(self):
        await self.execute_workflow(FORGETFUL)
""",
    )
    outcome.assert_outcomes(passed=1, failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*LeakError: the test left 1 leak behind:",
            "FAILED test_inner.py::OrdersTest::test_checked*",
        ]
    )


def test_a_plain_async_test_opts_in_with_the_leak_check_marker(
    pytester: pytest.Pytester,
) -> None:
    """A plain test marked leak_check errors on the leaked task; an unmarked one passes."""
    outcome = run(
        pytester,
        _HEADER
        + """
@pytest.mark.asyncio
@pytest.mark.leak_check
async def test_checked():
    async with AsyncLocalRuntime() as runtime:
        await runtime.execute(FORGETFUL)

@pytest.mark.asyncio
async def test_unchecked():
    async with AsyncLocalRuntime() as runtime:
        await runtime.execute(FORGETFUL)
""",
    )
    outcome.assert_outcomes(passed=2, errors=1)
    outcome.stdout.fnmatch_lines(
        [
            "*LeakError: the test left 1 leak behind:",
            _LEAKED_SLEEP,
            "ERROR test_inner.py::test_checked*",
        ]
    )


def test_the_marker_check_works_with_virtual_time_too(pytester: pytest.Pytester) -> None:
    """A plain test marked both virtual_time and leak_check still reports the leaked task."""
    outcome = run(
        pytester,
        _HEADER
        + """
@pytest.mark.asyncio
@pytest.mark.virtual_time
@pytest.mark.leak_check
async def test_checked():
    async with AsyncLocalRuntime() as runtime:
        await runtime.execute(FORGETFUL)
""",
    )
    outcome.assert_outcomes(passed=1, errors=1)
    outcome.stdout.fnmatch_lines(["*LeakError: the test left 1 leak behind:", _LEAKED_SLEEP])


_RUNTIME_HOLDING_DB = """
def holding_db(runtime):
    runtime.register_resource("db", lambda: {"connected": True})
    return runtime

LOAD = AsyncWorkflowBuilder("orders").add_async_code(
    "load", "db = await get_resource('db')\\nloaded = True"
)
"""


def test_a_runtime_left_holding_resources_is_reported(pytester: pytest.Pytester) -> None:
    """A runtime the test made, used and never shut down fails it; shut down, it passes."""
    outcome = run(
        pytester,
        _HEADER
        + _RUNTIME_HOLDING_DB
        + """
class ReportTest(AsyncWorkflowTestCase):
    async def test_forgets_shutdown(self):
        self.reporting = holding_db(AsyncLocalRuntime())
        await self.reporting.execute(LOAD)

    async def test_shuts_down(self):
        self.reporting = holding_db(AsyncLocalRuntime())
        await self.reporting.execute(LOAD)
        await self.reporting.shutdown()
""",
    )
    outcome.assert_outcomes(passed=1, failed=1)
    outcome.stdout.fnmatch_lines(
        [
            "*LeakError: the test left 1 leak behind:",
            "*AsyncLocalRuntime(*resources=[[]'db'[]]) was not shut down and still holds "
            "resources [[]'db'[]]; use 'async with AsyncLocalRuntime()' or "
            "'await runtime.shutdown()'",
        ]
    )


def test_a_dropped_runtime_left_holding_resources_is_reported(pytester: pytest.Pytester) -> None:
    """A runtime kept in a local variable, used and never shut down, still fails the test."""
    outcome = run(
        pytester,
        _HEADER
        + _RUNTIME_HOLDING_DB
        + """
class ReportTest(AsyncWorkflowTestCase):
    async def test_forgets_shutdown(self):
        runtime = holding_db(AsyncLocalRuntime())
        await runtime.execute(LOAD)
""",
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*LeakError: the test left 1 leak behind:", "*'db'*"])


def test_a_failing_test_shows_its_own_error_not_the_leak(pytester: pytest.Pytester) -> None:
    """When the test itself fails, its own error is reported and the leaked task still ends."""
    outcome = run(
        pytester,
        _HEADER
        + """
class OrdersTest(AsyncWorkflowTestCase):
    async def test_fetch(self):
        await self.execute_workflow(FORGETFUL)
        assert False, "the order total is wrong"
""",
    )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*AssertionError: the order total is wrong*"])
    outcome.stdout.no_fnmatch_line("*LeakError*")


# -- the engine cleans up after itself, on virtual time too ----------------------------------------


@pytest.mark.asyncio
async def test_a_timed_out_parallel_workflow_leaves_no_task_behind(
    virtual_clock: VirtualClock,
) -> None:
    """with_timeout(10) cancelling three long nodes leaves no task, coroutine or resource."""
    workflow = AsyncWorkflowBuilder("fan_out").with_parallel_execution().with_timeout(10)
    for index in range(3):
        workflow.add_async_code(f"slow{index}", f"await asyncio.sleep({60 * (index + 1)})")
    async with LeakCheck(), AsyncLocalRuntime() as runtime:
        with pytest.raises(TimeoutError, match="workflow 'fan_out' timed out after 10s"):
            await runtime.execute(workflow)


@pytest.mark.asyncio
async def test_a_failing_node_leaves_its_cancelled_siblings_no_task_behind(
    virtual_clock: VirtualClock,
) -> None:
    """A node failing at 5 s cancels its sleeping siblings; nothing outlives the execution."""
    workflow = (
        AsyncWorkflowBuilder("fan_out")
        .add_async_code("fail", "await asyncio.sleep(5)\nraise ValueError('bad row')")
        .add_async_code("slow", "await asyncio.sleep(600)")
        .add_async_code("slower", "await asyncio.sleep(6000)")
        .with_parallel_execution()
    )
    async with LeakCheck(), AsyncLocalRuntime() as runtime:
        result = await runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"fail": "failed", "slow": "cancelled", "slower": "cancelled"}
    assert result.execution_time == 5.0
