"""The three ways to turn virtual time on, each running a workflow (SPEC 3, "Virtual time")."""

from __future__ import annotations

import asyncio
import time

import pytest

from awaitflow import AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowTestCase, VirtualClock, current_clock

REAL_BUDGET = 0.5


def ten_second_timeout() -> AsyncWorkflowBuilder:
    """A workflow bounded to 10 s whose only node would take a minute."""
    return (
        AsyncWorkflowBuilder("slow_service")
        .add_async_code("call", "await asyncio.sleep(60)")
        .with_timeout(10)
    )


def node_clock_reading() -> AsyncWorkflowBuilder:
    """A workflow whose node sleeps 5 s and reports its time module and what it measured."""
    return AsyncWorkflowBuilder("reading").add_async_code(
        "read",
        """
        start = time.monotonic()
        await asyncio.sleep(5)
        result = {"elapsed": time.monotonic() - start, "real_module": time is real_time}
        """,
    )


class VirtualTimeAttributeTest(AsyncWorkflowTestCase):
    """The class attribute ``virtual_time = True``."""

    virtual_time = True

    async def test_a_ten_second_workflow_timeout_passes_ten_virtual_seconds(self) -> None:
        """with_timeout(10) raises after exactly 10 s of the loop's clock, in real milliseconds."""
        assert current_clock() is not None
        loop = asyncio.get_running_loop()
        real, start = time.perf_counter(), loop.time()
        with pytest.raises(TimeoutError, match=r"^workflow 'slow_service' timed out after 10s$"):
            await self.execute_workflow(ten_second_timeout())
        assert loop.time() - start == 10.0
        assert time.perf_counter() - real < REAL_BUDGET

    async def test_code_nodes_get_the_virtual_time_module(self) -> None:
        """A node reads exactly 5 s across a 5 s sleep, on the clock's time module."""
        result = await self.execute_workflow(node_clock_reading(), {"real_time": time})
        assert result.get_output("read") == {"elapsed": 5.0, "real_module": False}


class RealTimeTest(AsyncWorkflowTestCase):
    """Without an opt-in, a test case runs on real time."""

    async def test_no_clock_is_installed_and_nodes_get_the_real_time_module(self) -> None:
        """current_clock() is None and a code node's ``time`` is the real module."""
        assert current_clock() is None
        workflow = AsyncWorkflowBuilder("reading").add_async_code(
            "read", "real_module = time is real_time"
        )
        result = await self.execute_workflow(workflow, {"real_time": time})
        assert result.get_output("read", "real_module") is True


class MarkedMethodTest(AsyncWorkflowTestCase):
    """The marker on one method of a test case turns virtual time on for that method."""

    @pytest.mark.virtual_time
    async def test_marked_method_runs_on_virtual_time(self) -> None:
        """A marked method times out a 10 s workflow in milliseconds."""
        assert current_clock() is not None
        real = time.perf_counter()
        with pytest.raises(TimeoutError, match="timed out after 10s"):
            await self.execute_workflow(ten_second_timeout())
        assert time.perf_counter() - real < REAL_BUDGET

    async def test_unmarked_method_runs_on_real_time(self) -> None:
        """Its unmarked sibling has no clock."""
        assert current_clock() is None


@pytest.mark.asyncio
async def test_a_case_run_with_async_with_installs_the_clock_and_removes_it() -> None:
    """``async with VirtualTimeAttributeTest() as test`` runs on a clock gone after the block."""
    test = VirtualTimeAttributeTest()
    async with test:
        assert current_clock() is not None
        await test.test_a_ten_second_workflow_timeout_passes_ten_virtual_seconds()
    assert current_clock() is None


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_the_marker_runs_a_plain_test_on_virtual_time() -> None:
    """A plain test marked virtual_time times out a 10 s workflow in milliseconds."""
    from awaitflow import AsyncLocalRuntime

    clock = current_clock()
    assert clock is not None
    real, start = time.perf_counter(), clock.now()
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(TimeoutError, match=r"^workflow 'slow_service' timed out after 10s$"):
            await runtime.execute(ten_second_timeout())
        result = await runtime.execute(node_clock_reading(), {"real_time": time})
    assert result.get_output("read") == {"elapsed": 5.0, "real_module": False}
    assert clock.now() - start == 15.0
    assert time.perf_counter() - real < REAL_BUDGET


@pytest.mark.asyncio
async def test_the_fixture_steers_a_running_workflow(virtual_clock: VirtualClock) -> None:
    """With virtual_clock, advance() moves a workflow's 30 s node to its end and now() tells."""
    from awaitflow import AsyncLocalRuntime

    assert current_clock() is virtual_clock
    workflow = AsyncWorkflowBuilder("steered").add_async_code(
        "wait", "await asyncio.sleep(30)\nwoke = time.monotonic()"
    )
    async with AsyncLocalRuntime() as runtime:
        start = virtual_clock.now()
        running = asyncio.create_task(runtime.execute(workflow))
        await virtual_clock.advance(29.5)
        assert (running.done(), virtual_clock.now() - start) == (False, 29.5)
        await virtual_clock.advance(0.5)
        assert running.done()
        result = await running
    assert result.get_output("wait", "woke") - start == 30.0
    assert virtual_clock.now() - start == 30.0


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_the_fixture_and_the_marker_share_one_clock(virtual_clock: VirtualClock) -> None:
    """Marked and asking for the fixture, a test gets one clock: the one of its loop."""
    loop = asyncio.get_running_loop()
    assert current_clock(loop) is virtual_clock
    await virtual_clock.advance(12.25)
    assert loop.time() == virtual_clock.now()
    assert loop.awaitflow_time_module is virtual_clock.time_module  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_plain_test_without_opt_in_runs_on_real_time() -> None:
    """An unmarked plain async test has no clock installed."""
    assert current_clock() is None
