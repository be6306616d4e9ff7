"""Workflows on a virtual clock: timeouts, time readings in nodes, the concurrency seed.

Every test here waits seconds to minutes of virtual time and must take a few
milliseconds of real time; ``REAL_BUDGET`` is the real time each may spend.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _real_timer import REAL_BUDGET, RealTimer

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowTestCase, VirtualClock, assert_ran_concurrently

# -- timeouts ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_workflow_timeout_fires_at_ten_virtual_seconds_in_milliseconds(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """with_timeout(10) around a 60 s node raises at virtual 10 s, at once in real time."""
    workflow = (
        AsyncWorkflowBuilder("slow_service")
        .add_async_code("call", "await asyncio.sleep(60)")
        .with_timeout(10)
    )
    real, start = RealTimer(), virtual_clock.now()
    with pytest.raises(TimeoutError, match=r"^workflow 'slow_service' timed out after 10s$"):
        await awaitflow_runtime.execute(workflow)
    assert virtual_clock.now() - start == 10.0
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_timed_out_workflow_result_records_ten_seconds_and_the_cancelled_node(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """With raise_on_error=False the result shows 10 s of execution and the node cancelled."""
    workflow = (
        AsyncWorkflowBuilder("slow_service")
        .add_async_code("call", "await asyncio.sleep(60)")
        .add_async_code("after", "done = True")
        .add_connection("call", "result", "after", "previous")
        .with_timeout(10)
    )
    result = await awaitflow_runtime.execute(workflow, raise_on_error=False)
    assert (result.success, result.execution_time) == (False, 10.0)
    assert result.node_status == {"call": "cancelled", "after": "skipped"}
    assert result.timings["call"].duration == 10.0
    assert str(result.errors["call"]) == "workflow 'slow_service' timed out after 10s"


@pytest.mark.asyncio
async def test_a_node_timeout_fires_at_its_virtual_limit_in_milliseconds(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A node timeout=10 around a 60 s sleep raises at virtual 10 s, naming node and workflow."""
    workflow = AsyncWorkflowBuilder("slow_service").add_async_code(
        "call", "await asyncio.sleep(60)", timeout=10
    )
    real, start = RealTimer(), virtual_clock.now()
    with pytest.raises(
        TimeoutError, match=r"^node 'call' of workflow 'slow_service' timed out after 10s\n"
    ):
        await awaitflow_runtime.execute(workflow)
    assert virtual_clock.now() - start == 10.0
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_function_node_timeout_follows_the_virtual_clock(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A function node with timeout=2.5 around a one-hour sleep fails after exactly 2.5 s."""

    async def hang() -> None:
        await asyncio.sleep(3600)

    workflow = AsyncWorkflowBuilder("hanging").add_node("hang", hang, timeout=2.5)
    result = await awaitflow_runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"hang": "failed"}
    assert str(result.errors["hang"]) == "node 'hang' of workflow 'hanging' timed out after 2.5s"
    assert result.timings["hang"].duration == 2.5


@pytest.mark.asyncio
async def test_a_node_cancelled_by_the_workflow_timeout_runs_its_finally_at_the_limit(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """The finally block of a node cut by with_timeout(10) runs, with the clock at 10 s."""
    cleaned_at: list[float] = []
    awaitflow_runtime.register_function(cleaned_at.append, "record")
    workflow = (
        AsyncWorkflowBuilder("cut_short")
        .add_async_code(
            "worker",
            """
            started = time.monotonic()
            try:
                await asyncio.sleep(60)
            finally:
                record(time.monotonic() - started)
            """,
        )
        .with_timeout(10)
    )
    with pytest.raises(TimeoutError, match="workflow 'cut_short' timed out after 10s"):
        await awaitflow_runtime.execute(workflow)
    assert cleaned_at == [10.0]


@pytest.mark.asyncio
async def test_parallel_siblings_are_all_cancelled_at_the_workflow_timeout(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Nodes shorter than the limit complete; the longer ones are cancelled at exactly 10 s."""
    workflow = (
        AsyncWorkflowBuilder("fan_out")
        .add_async_code("quick", "await asyncio.sleep(3)")
        .add_async_code("slow", "await asyncio.sleep(30)")
        .add_async_code("slower", "await asyncio.sleep(300)")
        .with_parallel_execution()
        .with_timeout(10)
    )
    result = await awaitflow_runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"quick": "completed", "slow": "cancelled", "slower": "cancelled"}
    assert {n: t.duration for n, t in result.timings.items()} == {
        "quick": 3.0,
        "slow": 10.0,
        "slower": 10.0,
    }


# -- what nodes read -----------------------------------------------------------------------------

_READINGS = """
wall, mono, perf = time.time(), time.monotonic(), time.perf_counter()
wall_ns, mono_ns, perf_ns = time.time_ns(), time.monotonic_ns(), time.perf_counter_ns()
await asyncio.sleep(5)
result = {
    "time": time.time() - wall,
    "monotonic": time.monotonic() - mono,
    "perf_counter": time.perf_counter() - perf,
    "time_ns": time.time_ns() - wall_ns,
    "monotonic_ns": time.monotonic_ns() - mono_ns,
    "perf_counter_ns": time.perf_counter_ns() - perf_ns,
}
"""
_EXACTLY_FIVE_SECONDS = {
    "time": 5.0,
    "monotonic": 5.0,
    "perf_counter": 5.0,
    "time_ns": 5_000_000_000,
    "monotonic_ns": 5_000_000_000,
    "perf_counter_ns": 5_000_000_000,
}


@pytest.mark.asyncio
async def test_a_code_node_reads_exactly_five_seconds_across_a_five_second_sleep(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """time.time(), monotonic() and perf_counter() (and _ns) in a code node move by exactly 5 s."""
    workflow = AsyncWorkflowBuilder("readings").add_async_code("measure", _READINGS)
    real = RealTimer()
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("measure") == _EXACTLY_FIVE_SECONDS
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_code_node_that_imports_time_itself_reads_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """After 'import time' (and 'from time import ...') in a node the readings are virtual."""
    code = (
        "import time\nfrom time import monotonic as mono_clock\n"
        + _READINGS
        + 'result["from_import"] = mono_clock() - mono'
    )
    workflow = AsyncWorkflowBuilder("readings").add_async_code("measure", code)
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("measure") == {**_EXACTLY_FIVE_SECONDS, "from_import": 5.0}


@pytest.mark.asyncio
async def test_a_code_node_wall_clock_starts_at_the_real_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A code node's time.time() is about the real wall time, plus the virtual time passed."""
    workflow = AsyncWorkflowBuilder("wall").add_async_code(
        "read", "await asyncio.sleep(3600)\nnow = time.time()"
    )
    before = virtual_clock.time_module.time()
    assert abs(before - time.time()) < REAL_BUDGET
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("read", "now") == before + 3600


@pytest.mark.asyncio
async def test_a_function_node_reads_exactly_five_seconds_on_the_loop_clock(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """An add_node function measures exactly 5.0 s with asyncio.get_running_loop().time()."""

    async def measure() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(5)
        return {"elapsed": loop.time() - start}

    workflow = AsyncWorkflowBuilder("readings").add_node("measure", measure)
    real = RealTimer()
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("measure", "elapsed") == 5.0
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_function_node_taking_a_time_parameter_gets_the_virtual_time_module(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A function node's parameter named 'time' is filled with the node namespace's virtual time."""

    async def measure(time: Any) -> dict[str, float]:
        start = time.monotonic()
        await asyncio.sleep(5)
        return {"elapsed": time.monotonic() - start, "is_clock_module": time is clock_module}

    clock_module = virtual_clock.time_module
    workflow = AsyncWorkflowBuilder("readings").add_node("measure", measure)
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("measure") == {"elapsed": 5.0, "is_clock_module": True}


@pytest.mark.asyncio
async def test_sequential_nodes_add_their_virtual_sleeps_up(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Three sequential nodes of 1, 2 and 4 s run back to back: timings 0-1, 1-3, 3-7."""
    workflow = (
        AsyncWorkflowBuilder("chain")
        .add_async_code("one", "await asyncio.sleep(1)")
        .add_async_code("two", "await asyncio.sleep(2)")
        .add_async_code("four", "await asyncio.sleep(4)")
    )
    result = await awaitflow_runtime.execute(workflow)
    origin = result.timings["one"].start
    assert {n: (t.start - origin, t.end - origin) for n, t in result.timings.items()} == {
        "one": (0.0, 1.0),
        "two": (1.0, 3.0),
        "four": (3.0, 7.0),
    }
    assert result.execution_time == 7.0


# -- seed 001, "Testing Concurrent Operations", on a virtual clock --------------------------------


_SEED_TASK = """
import asyncio
start_time = time.time()
await asyncio.sleep(1)
result = {{"task": "{name}", "duration": time.time() - start_time}}
"""


class ConcurrentSeedTest(AsyncWorkflowTestCase):
    """Seed 001's concurrent example, run as written, with virtual time on."""

    virtual_time = True

    @staticmethod
    def concurrent_workflow(*, parallel: bool = True) -> AsyncWorkflowBuilder:
        """The seed's workflow: two nodes each sleeping 1 s and timing it (parallel by default)."""
        builder = (
            AsyncWorkflowBuilder("concurrent_test")
            .add_async_code("task1", _SEED_TASK.format(name="task1"))
            .add_async_code("task2", _SEED_TASK.format(name="task2"))
        )
        return builder.with_parallel_execution() if parallel else builder

    async def test_concurrent_node_execution(self) -> None:
        """The seed's own assertions hold, and each duration is exactly 1.0."""
        workflow = self.concurrent_workflow().build()
        start = time.time()
        result = await self.execute_workflow(workflow)
        total_time = time.time() - start
        assert total_time < 1.5
        assert result.outputs["task1"]["duration"] >= 1
        assert result.outputs["task2"]["duration"] >= 1
        assert result.outputs["task1"]["duration"] == 1.0
        assert result.outputs["task2"]["duration"] == 1.0
        assert total_time < REAL_BUDGET

    async def test_the_trace_shows_both_tasks_running_together(self) -> None:
        """assert_ran_concurrently passes, both spans being exactly 0-1 s of one run."""
        result = await self.execute_workflow(self.concurrent_workflow())
        assert_ran_concurrently(result, "task1", "task2")
        spans = {n: (t.start - result.started_at, t.duration) for n, t in result.timings.items()}
        assert spans == {"task1": (0.0, 1.0), "task2": (0.0, 1.0)}
        assert result.execution_time == 1.0

    async def test_without_parallel_execution_the_tasks_are_not_concurrent(self) -> None:
        """Run sequentially, the same nodes take 2 s and fail assert_ran_concurrently."""
        result = await self.execute_workflow(self.concurrent_workflow(parallel=False))
        assert result.execution_time == 2.0
        with pytest.raises(AssertionError, match="did not run concurrently: 'task2' started"):
            assert_ran_concurrently(result, "task1", "task2")
