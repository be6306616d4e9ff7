"""BlockingCallWarning: a node that blocks the event loop is named, on real and virtual time.

``time`` in this module is the real one, imported as ``real_time`` to make that plain:
under virtual time a code node's ``time`` is virtual, but its ``sleep`` is still the
real, blocking one.
"""

from __future__ import annotations

import asyncio
import time as real_time
import warnings

import pytest

from awaitflow import AsyncWorkflowBuilder, BlockingCallWarning
from awaitflow.testing import AsyncWorkflowTestCase


class BlockingNodeTest(AsyncWorkflowTestCase):
    """The default blocking threshold (0.2 s) on real time."""

    async def test_a_node_calling_time_sleep_warns_naming_the_node(self) -> None:
        """A code node calling the real time.sleep(0.5) makes execute_workflow warn about it."""
        self.runtime.register_function(real_time.sleep, "blocking_sleep")
        workflow = AsyncWorkflowBuilder("blocking").add_async_code(
            "stall", "blocking_sleep(0.5)\ndone = True"
        )
        with pytest.warns(
            BlockingCallWarning,
            match=r"^node 'stall' of workflow 'blocking' blocked the event loop for 0\.5\d\ds; "
            r"use 'await asyncio\.sleep\(\)' or 'await asyncio\.to_thread\(\)' for blocking work$",
        ) as caught:
            result = await self.execute_workflow(workflow)
        self.assert_workflow_success(result)
        warning = caught[0].message
        assert isinstance(warning, BlockingCallWarning)
        assert (warning.node_id, warning.workflow) == ("stall", "blocking")
        assert warning.seconds >= 0.5

    async def test_a_function_node_calling_time_sleep_warns_naming_the_node(self) -> None:
        """An add_node function that blocks for 0.25 s between two awaits is named too."""

        async def stall() -> dict[str, bool]:
            await asyncio.sleep(0)
            real_time.sleep(0.25)  # noqa: ASYNC251 - the blocking call under test
            await asyncio.sleep(0)
            return {"done": True}

        workflow = AsyncWorkflowBuilder("blocking").add_node("stall", stall)
        with pytest.warns(
            BlockingCallWarning,
            match=r"^node 'stall' of workflow 'blocking' blocked the event loop for 0\.2\d\ds "
            r"\(last at .*test_blocking_calls\.py:\d+\)",
        ):
            await self.execute_workflow(workflow)


class VirtualBlockingTest(AsyncWorkflowTestCase):
    """On virtual time, the node's virtual ``time.sleep`` still blocks for real and is named."""

    virtual_time = True
    blocking_threshold = 0.05

    async def test_time_sleep_in_a_virtual_time_node_still_warns(self) -> None:
        """Between virtual sleeps, a node's time.sleep(0.1) blocks for real and is reported."""
        workflow = AsyncWorkflowBuilder("blocking").add_async_code(
            "stall",
            """
            await asyncio.sleep(60)
            started = time.perf_counter()
            time.sleep(0.1)
            blocked_virtual = time.perf_counter() - started
            await asyncio.sleep(1)
            """,
        )
        with pytest.warns(
            BlockingCallWarning,
            match=r"^node 'stall' of workflow 'blocking' blocked the event loop for 0\.1\d\ds "
            r"\(last at <node 'stall'(?: #\d+)?>:5\)",
        ):
            result = await self.execute_workflow(workflow)
        assert result.get_output("stall", "blocked_virtual") == 0.0  # the clock stood still

    async def test_a_node_awaiting_sleeps_does_not_warn(self) -> None:
        """A node that only awaits (a minute of virtual sleeps) triggers no warning."""
        workflow = AsyncWorkflowBuilder("polite").add_async_code(
            "wait", "for _ in range(60):\n    await asyncio.sleep(1)"
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await self.execute_workflow(workflow)
        assert [w for w in caught if issubclass(w.category, BlockingCallWarning)] == []


class NoBlockingCheckTest(AsyncWorkflowTestCase):
    """blocking_threshold = None turns the warning off."""

    blocking_threshold = None

    async def test_no_warning_without_a_threshold(self) -> None:
        """The same blocking node emits no BlockingCallWarning."""
        self.runtime.register_function(real_time.sleep, "blocking_sleep")
        workflow = AsyncWorkflowBuilder("blocking").add_async_code("stall", "blocking_sleep(0.1)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await self.execute_workflow(workflow)
        assert [w for w in caught if issubclass(w.category, BlockingCallWarning)] == []
