"""The testing helpers on a virtual clock: cache TTLs, polling assertions, time limits."""

from __future__ import annotations

import asyncio

import pytest
from _real_timer import REAL_BUDGET, RealTimer

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder
from awaitflow.testing import AsyncAssertions, AsyncWorkflowTestCase, MemoryTestCache, VirtualClock

TICK = 2.0**-20  # the virtual clock's smallest step


# -- the memory test cache -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cache_entry_expires(
    virtual_clock: VirtualClock, test_cache: MemoryTestCache
) -> None:
    """The documented example: an entry with ttl=60 is gone once the clock advanced 61 s."""
    await test_cache.set("session", {"user": 1}, ttl=60)
    await virtual_clock.advance(61)
    assert await test_cache.get("session") is None


@pytest.mark.asyncio
async def test_a_cache_entry_lives_exactly_its_ttl_in_virtual_time(
    virtual_clock: VirtualClock,
) -> None:
    """An entry with ttl=60 is there one tick before 60 virtual seconds and gone at 60."""
    cache = MemoryTestCache()
    await cache.set("session", {"user": 1}, ttl=60)
    await virtual_clock.advance(60 - TICK)
    assert (await cache.get("session"), await cache.exists("session")) == ({"user": 1}, True)
    await virtual_clock.advance(TICK)
    assert (await cache.get("session"), await cache.exists("session")) == (None, False)
    assert await cache.keys() == []


class CacheTtlTest(AsyncWorkflowTestCase):
    """Workflow nodes using the test case's memory cache see TTLs expire in virtual time."""

    virtual_time = True

    async def test_nodes_see_a_cache_entry_expire_after_its_ttl(self) -> None:
        """A reader 29 s after the write finds the entry; one 31 s after finds it expired."""
        read = """
            await asyncio.sleep(delay)
            cache = await get_resource("cache")
            session = await cache.get("session")
        """
        workflow = (
            AsyncWorkflowBuilder("sessions")
            .add_async_code(
                "store",
                """
                cache = await get_resource("cache")
                await cache.set("session", {"user": 7}, ttl=30)
                stored = True
                """,
            )
            .add_async_code("early", read)
            .add_async_code("late", read)
            .add_connection("store", "stored", "early", "_stored")
            .add_connection("store", "stored", "late", "_stored")
            .with_parallel_execution()
        )
        real = RealTimer()
        result = await self.execute_workflow(
            workflow, parameters={"early": {"delay": 29}, "late": {"delay": 31}}
        )
        assert result.get_output("early", "session") == {"user": 7}
        assert result.get_output("late", "session") is None
        assert result.execution_time == 31.0
        assert real.elapsed < REAL_BUDGET
        self.assert_resource_called("cache", "get", times=2)


# -- AsyncAssertions -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_assert_eventually_true_with_a_30_second_timeout_fails_fast(
    virtual_clock: VirtualClock,
) -> None:
    """A condition never true fails after 30 virtual seconds, in milliseconds of real time."""
    real, start = RealTimer(), virtual_clock.now()
    with pytest.raises(
        AssertionError,
        match=r"^assert_eventually_true: the condition was not true within 30s "
        r"\(\d+ checks over 30\.000s\); the last check returned False",
    ):
        await AsyncAssertions.assert_eventually_true(lambda: False, timeout=30, interval=1)
    assert virtual_clock.now() - start == 30.0
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_assert_eventually_true_waits_for_a_workflow_in_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Polling each second, the check sees a node's write of virtual 20.5 s at exactly 21 s."""
    state: dict[str, float] = {}
    awaitflow_runtime.register_function(state.update, "publish")
    workflow = AsyncWorkflowBuilder("publisher").add_async_code(
        "publish", "await asyncio.sleep(20.5)\npublish(ready=time.monotonic())"
    )
    start = virtual_clock.now()
    running = asyncio.create_task(awaitflow_runtime.execute(workflow))
    ready = await AsyncAssertions.assert_eventually_true(
        lambda: state.get("ready"), timeout=30, interval=1
    )
    await running
    assert ready is not None
    assert (ready - start, virtual_clock.now() - start) == (20.5, 21.0)


@pytest.mark.asyncio
async def test_assert_converges_follows_a_workflow_reading_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A value halving every virtual second, read by a workflow, settles at 7 s on 100/128."""
    workflow = AsyncWorkflowBuilder("decay").add_async_code(
        "level", "value = 100 * 0.5 ** (time.monotonic() - origin)"
    )
    origin = virtual_clock.now()

    async def level() -> float:
        result = await awaitflow_runtime.execute(workflow, {"origin": origin})
        value: float = result.get_output("level", "value")
        return value

    settled = await AsyncAssertions.assert_converges(level, tolerance=1, timeout=30, interval=1)
    assert (settled, virtual_clock.now() - origin) == (100 / 128, 7.0)


@pytest.mark.asyncio
async def test_assert_converges_with_a_30_second_timeout_fails_fast(
    virtual_clock: VirtualClock,
) -> None:
    """A value that never settles fails after 30 virtual seconds, in milliseconds of real time."""
    flips = iter(range(10**6))
    real = RealTimer()
    with pytest.raises(
        AssertionError,
        match=r"^assert_converges: no two successive values differed by at most 0\.1 "
        r"within 30s \(\d+ checks over 30\.000s\); last values: ",
    ):
        await AsyncAssertions.assert_converges(lambda: float(next(flips) % 2), 0.1, timeout=30)
    assert real.elapsed < REAL_BUDGET


@pytest.mark.asyncio
async def test_assert_performance_cancels_a_slow_workflow_at_max_time_in_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A 60 s workflow under max_time=5 fails at virtual 5 s, in milliseconds of real time."""
    workflow = AsyncWorkflowBuilder("slow").add_async_code("work", "await asyncio.sleep(60)")
    real, start = RealTimer(), virtual_clock.now()
    with pytest.raises(
        AssertionError, match=r"did not finish within max_time=5s and was cancelled after 5\.000s"
    ):
        await AsyncAssertions.assert_performance(awaitflow_runtime.execute(workflow), max_time=5)
    assert virtual_clock.now() - start == 5.0
    assert real.elapsed < REAL_BUDGET


# -- assert_time_limit -----------------------------------------------------------------------------


class TimeLimitTest(AsyncWorkflowTestCase):
    """assert_time_limit measures and cuts in virtual time."""

    virtual_time = True

    async def test_a_30_second_limit_cuts_a_one_hour_workflow_fast(self) -> None:
        """The block is cancelled at virtual 30 s with a message saying so, in real ms."""
        workflow = AsyncWorkflowBuilder("slow").add_async_code("work", "await asyncio.sleep(3600)")
        real = RealTimer()
        with pytest.raises(
            AssertionError,
            match=r"^the block exceeded its time limit of 30s: it was cancelled after 30\.000s$",
        ):
            async with self.assert_time_limit(30):
                await self.execute_workflow(workflow)
        assert real.elapsed < REAL_BUDGET

    async def test_a_workflow_within_the_limit_passes_and_reports_its_virtual_time(self) -> None:
        """A 29 s workflow passes a 30 s limit, whose elapsed reads exactly 29.0."""
        workflow = AsyncWorkflowBuilder("nearly").add_async_code("work", "await asyncio.sleep(29)")
        async with self.assert_time_limit(30) as limit:
            await self.execute_workflow(workflow)
        assert limit.elapsed == 29.0
