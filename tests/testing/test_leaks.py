"""LeakCheck: tasks, unawaited coroutines and resources a test leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import sys
import warnings
from typing import Any

import pytest

from awaitflow.testing._clock import VirtualClock
from awaitflow.testing._leaks import (
    Leak,
    LeakCheck,
    LeakError,
    format_leaks,
    node_task_name,
    track_resource,
    untrack_resource,
)


class Pool:
    """Stands for something holding connections."""


async def fetch_forever() -> None:
    while True:
        await asyncio.sleep(10)


async def helper() -> int:
    return 1


class TestTasks:
    @pytest.mark.asyncio
    async def test_a_leaked_node_task_is_named_and_cancelled(self) -> None:
        """A running node task is reported with its node, coroutine and line, then cancelled."""
        check = LeakCheck().start()
        task = asyncio.create_task(fetch_forever(), name=node_task_name("wf", "fetch"))
        await asyncio.sleep(0)
        leaks = await check.finish()
        assert [(leak.kind, leak.workflow, leak.node_id) for leak in leaks] == [
            ("task", "wf", "fetch")
        ]
        assert leaks[0].description.startswith(
            "task 'awaitflow:wf:fetch' (node 'fetch' of workflow 'wf') was still running "
            "fetch_forever(), suspended at "
        )
        sleep_line = inspect.getsourcelines(fetch_forever)[1] + 2
        assert f"{__file__}:{sleep_line} in fetch_forever awaiting asyncio.sleep" in (
            leaks[0].description
        )
        assert task.cancelled()

    @pytest.mark.asyncio
    async def test_a_plain_task_is_named_by_its_coroutine(self) -> None:
        """A task without a node name is reported by task name and coroutine."""
        check = LeakCheck().start()
        task = asyncio.create_task(fetch_forever(), name="poller")
        leaks = await check.finish()
        assert task.cancelled()
        assert (leaks[0].node_id, leaks[0].description[:45]) == (
            None,
            "task 'poller' was still running fetch_forever",
        )

    @pytest.mark.asyncio
    async def test_a_task_that_finishes_within_a_few_iterations_is_not_a_leak(self) -> None:
        """A task about to finish gets a few loop iterations and is not reported."""
        check = LeakCheck().start()

        async def nearly_done() -> None:
            await asyncio.sleep(0)

        task = asyncio.create_task(nearly_done())
        assert await check.finish() == []
        assert task.done() and not task.cancelled()

    @pytest.mark.asyncio
    async def test_tasks_running_before_start_are_not_reported(self) -> None:
        """Only tasks created after start() count."""
        earlier = asyncio.create_task(fetch_forever())
        try:
            check = LeakCheck().start()
            assert await check.finish() == []
            assert not earlier.done()
        finally:
            earlier.cancel()

    @pytest.mark.asyncio
    async def test_a_task_ignoring_cancellation_is_reported_so(self) -> None:
        """A task that swallows its cancellation is reported as such."""
        release = asyncio.Event()

        async def stubborn() -> None:
            while not release.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(10)

        check = LeakCheck(cancel_timeout=0.05).start()
        task = asyncio.create_task(stubborn())
        leaks = await check.finish()
        release.set()
        task.cancel()
        await task
        assert leaks[0].description.endswith("but it ignored cancellation for 0.05 s")

    @pytest.mark.asyncio
    async def test_leaked_tasks_are_cancelled_under_a_virtual_clock(self) -> None:
        """The check works on a loop running a virtual clock."""
        with VirtualClock():
            check = LeakCheck().start()
            task = asyncio.create_task(fetch_forever())
            leaks = await check.finish()
        assert (len(leaks), task.cancelled()) == (1, True)


class TestCoroutines:
    @pytest.mark.asyncio
    async def test_an_unawaited_coroutine_is_reported_by_name_and_origin(self) -> None:
        """A coroutine never awaited is reported with its name and the line creating it."""
        check = LeakCheck().start()
        helper()  # type: ignore[unused-coroutine]
        line = sys._getframe().f_lineno - 1
        leaks = await check.finish()
        assert [leak.kind for leak in leaks] == ["coroutine"]
        assert leaks[0].description.startswith("coroutine 'helper' was never awaited (defined at ")
        assert leaks[0].description.endswith(
            f"; it was created at {__file__}:{line} in "
            "test_an_unawaited_coroutine_is_reported_by_name_and_origin"
        )

    @pytest.mark.asyncio
    async def test_an_unawaited_coroutine_in_a_reference_cycle_is_found(self) -> None:
        """A never-awaited coroutine kept alive by a cycle is found by the final collection."""
        check = LeakCheck().start()
        holder: dict[str, Any] = {"coro": helper()}
        holder["self"] = holder
        del holder
        leaks = await check.finish()
        assert [leak.description[:36] for leak in leaks] == ["coroutine 'helper' was never awaited"]

    @pytest.mark.asyncio
    async def test_other_unraisable_errors_go_to_the_previous_hook(self) -> None:
        """Unraisable errors that are not unawaited coroutines reach the previous hook."""
        seen: list[BaseException | None] = []
        previous = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_value)
        try:
            check = LeakCheck().start()

            class Noisy:
                def __del__(self) -> None:
                    raise ValueError("from __del__")

            Noisy()
            leaks = await check.finish()
        finally:
            sys.unraisablehook = previous
        assert (leaks, [str(error) for error in seen]) == ([], ["from __del__"])

    @pytest.mark.asyncio
    async def test_finish_restores_the_hooks(self) -> None:
        """finish() puts back the unraisable hook, warning filters and origin tracking."""
        hook, filters = sys.unraisablehook, list(warnings.filters)
        depth = sys.get_coroutine_origin_tracking_depth()
        check = LeakCheck().start()
        assert sys.unraisablehook != hook
        await check.finish()
        assert (sys.unraisablehook, list(warnings.filters)) == (hook, filters)
        assert sys.get_coroutine_origin_tracking_depth() == depth


class TestResources:
    @pytest.mark.asyncio
    async def test_a_tracked_resource_left_open_is_reported(self) -> None:
        """A resource tracked during the test and never untracked is reported."""
        check = LeakCheck().start()
        pool = Pool()
        track_resource(pool, "database pool 'main'")
        try:
            leaks = await check.finish()
        finally:
            untrack_resource(pool)
        assert leaks == [Leak("resource", "resource database pool 'main' is still open")]

    @pytest.mark.asyncio
    async def test_an_untracked_resource_is_not_reported(self) -> None:
        """A resource released with untrack_resource() is not a leak."""
        check = LeakCheck().start()
        pool = Pool()
        track_resource(pool, "pool")
        untrack_resource(pool)
        assert await check.finish() == []

    @pytest.mark.asyncio
    async def test_a_resource_collected_while_tracked_is_reported(self) -> None:
        """A tracked resource garbage-collected without release is reported."""
        check = LeakCheck().start()
        track_resource(Pool(), "runtime 'r1'")
        gc.collect()
        leaks = await check.finish()
        assert [str(leak) for leak in leaks] == [
            "resource runtime 'r1' was garbage-collected while still open"
        ]

    @pytest.mark.asyncio
    async def test_resources_tracked_before_start_are_not_reported(self) -> None:
        """Only resources tracked after start() count."""
        pool = Pool()
        track_resource(pool, "session pool")
        try:
            check = LeakCheck().start()
            assert await check.finish() == []
        finally:
            untrack_resource(pool)

    def test_an_empty_description_is_refused(self) -> None:
        """track_resource() needs a description to name the culprit."""
        with pytest.raises(ValueError, match="non-empty description"):
            track_resource(Pool(), "")


class TestReporting:
    @pytest.mark.asyncio
    async def test_a_clean_test_reports_nothing(self) -> None:
        """A test that awaits its work and releases its resources has no leaks."""
        check = LeakCheck().start()
        task = asyncio.create_task(helper())
        await task
        await helper()
        pool = Pool()
        track_resource(pool, "pool")
        untrack_resource(pool)
        assert await check.finish() == []

    @pytest.mark.asyncio
    async def test_finish_can_raise_a_leak_error_listing_every_leak(self) -> None:
        """finish(raise_on_leak=True) raises LeakError whose message lists each leak."""
        check = LeakCheck().start()
        task = asyncio.create_task(fetch_forever(), name=node_task_name("etl", "load"))
        helper()  # type: ignore[unused-coroutine]
        pool = Pool()
        track_resource(pool, "pool")
        try:
            with pytest.raises(LeakError, match="the test left 3 leaks behind") as caught:
                await check.finish(raise_on_leak=True)
        finally:
            untrack_resource(pool)
        message = str(caught.value).splitlines()
        assert [line[:20] for line in message[1:]] == [
            "  - task 'awaitflow:",
            "  - coroutine 'helpe",
            "  - resource pool is",
        ]
        assert (len(caught.value.leaks), task.cancelled()) == (3, True)

    @pytest.mark.asyncio
    async def test_as_a_context_manager_it_raises_on_leaks(self) -> None:
        """async with LeakCheck() raises LeakError when the body leaks."""
        with pytest.raises(LeakError, match=r"task 'poller'"):
            async with LeakCheck():
                task = asyncio.create_task(fetch_forever(), name="poller")
        assert task.cancelled()

    @pytest.mark.asyncio
    async def test_as_a_context_manager_it_lets_the_body_error_through(self) -> None:
        """When the body raises, its error propagates and leftover tasks are still cancelled."""
        with pytest.raises(KeyError, match="boom"):
            async with LeakCheck():
                task = asyncio.create_task(fetch_forever())
                raise KeyError("boom")
        assert task.cancelled()

    def test_format_leaks_with_one_leak(self) -> None:
        """The message counts the leaks and gives a line each."""
        assert format_leaks([Leak("coroutine", "coroutine 'x' was never awaited")]) == (
            "the test left 1 leak behind:\n  - coroutine 'x' was never awaited"
        )

    @pytest.mark.asyncio
    async def test_node_task_names_keep_colons_in_the_workflow_name(self) -> None:
        """The node id is what follows the last colon of a node task name."""
        name = node_task_name("orders:nightly", "load")
        check = LeakCheck().start()
        task = asyncio.create_task(fetch_forever(), name=name)
        leaks = await check.finish()
        assert (name, leaks[0].workflow, leaks[0].node_id, task.cancelled()) == (
            "awaitflow:orders:nightly:load",
            "orders:nightly",
            "load",
            True,
        )


class TestMisuse:
    @pytest.mark.asyncio
    async def test_starting_twice_is_refused(self) -> None:
        """start() on a running check raises RuntimeError."""
        check = LeakCheck().start()
        try:
            with pytest.raises(RuntimeError, match="already started"):
                check.start()
        finally:
            check.stop()

    @pytest.mark.asyncio
    async def test_finish_before_start_is_refused(self) -> None:
        """finish() without start() raises RuntimeError."""
        with pytest.raises(RuntimeError, match=r"finish\(\) called before start\(\)"):
            await LeakCheck().finish()

    def test_start_without_a_loop_is_refused(self) -> None:
        """start() outside a running loop and without a loop says what to do."""
        with pytest.raises(RuntimeError, match="no running event loop"):
            LeakCheck().start()

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"settle_iterations": -1}, "settle_iterations must be"),
            ({"cancel_timeout": 0}, "cancel_timeout must be"),
            ({"origin_depth": -1}, "origin_depth must be"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, Any], message: str) -> None:
        """Constructor options out of range raise ValueError naming the option."""
        with pytest.raises(ValueError, match=message):
            LeakCheck(**options)


@pytest.mark.asyncio
async def test_a_runtime_holding_resources_at_the_end_is_reported() -> None:
    """A runtime made during the test and never shut down while holding resources is a leak."""
    from awaitflow import AsyncLocalRuntime

    check = LeakCheck().start()
    runtime = AsyncLocalRuntime()
    runtime.register_resource("db", lambda: object())
    await runtime.get_resource("db")
    try:
        with pytest.raises(LeakError, match=r"not shut down and still holds resources \['db'\]"):
            await check.finish(raise_on_leak=True)
    finally:
        await runtime.shutdown()


@pytest.mark.asyncio
async def test_a_runtime_shut_down_is_not_a_leak() -> None:
    """A runtime shut down before the end, or holding nothing, is not reported."""
    from awaitflow import AsyncLocalRuntime

    check = LeakCheck().start()
    idle = AsyncLocalRuntime()
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", lambda: object())
        await runtime.get_resource("db")
    assert await check.finish(raise_on_leak=True) == []
    assert idle.resources_held == []
