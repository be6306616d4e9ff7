"""Order and concurrency: sequential topological order, parallel readiness, limits (SPEC 2)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder

from ._support import EventLog, Peak


def _logged(builder: AsyncWorkflowBuilder, *ids: str) -> AsyncWorkflowBuilder:
    """Add code nodes that append their id to the input list ``log``, yield once, bind ``out``."""
    for node_id in ids:
        builder.add_async_code(node_id, f"log.append({node_id!r})\nawait asyncio.sleep(0)\nout = 1")
    return builder


@pytest.mark.asyncio
async def test_empty_workflow_succeeds_with_no_outputs(runtime: AsyncLocalRuntime) -> None:
    """A workflow without nodes runs and succeeds."""
    result = await runtime.execute(AsyncWorkflowBuilder("empty").build())
    assert (result.success, result.outputs, result.node_status) == (True, {}, {})


@pytest.mark.asyncio
async def test_sequential_order_is_the_order_added_when_nothing_connects(
    runtime: AsyncLocalRuntime,
) -> None:
    """Unconnected nodes run one after the other in the order they were added."""
    log: list[str] = []
    workflow = _logged(AsyncWorkflowBuilder("wf"), "c", "a", "b").build()
    await runtime.execute(workflow, {"log": log})
    assert log == ["c", "a", "b"]


@pytest.mark.asyncio
async def test_sequential_order_runs_the_first_added_ready_node_next(
    runtime: AsyncLocalRuntime,
) -> None:
    """Of the nodes whose inputs are ready, the one added first runs next."""
    log: list[str] = []
    builder = _logged(AsyncWorkflowBuilder("wf"), "a", "b", "c", "d")
    builder.add_connection("c", "out", "b", "x")  # b waits for c, then comes before d
    await runtime.execute(builder, {"log": log})
    assert log == ["a", "c", "b", "d"]


@pytest.mark.asyncio
async def test_sequential_order_puts_a_node_after_all_of_its_sources(
    runtime: AsyncLocalRuntime,
) -> None:
    """A node added first but fed by later nodes runs after them."""
    log: list[str] = []
    builder = _logged(AsyncWorkflowBuilder("wf"), "sink", "left", "right")
    builder.add_connection("right", "out", "sink", "r").add_connection("left", "out", "sink", "l")
    await runtime.execute(builder, {"log": log})
    assert log == ["left", "right", "sink"]


@pytest.mark.asyncio
async def test_sequential_order_is_the_same_every_time(runtime: AsyncLocalRuntime) -> None:
    """The sequential order is deterministic across executions."""
    builder = _logged(AsyncWorkflowBuilder("wf"), "e", "d", "c", "b", "a")
    builder.add_connection("a", "out", "e", "x").add_connection("c", "out", "d", "x")
    workflow = builder.build()
    logs: list[list[str]] = []
    for _ in range(5):
        logs.append([])
        await runtime.execute(workflow, {"log": logs[-1]})
    assert logs == [["c", "d", "b", "a", "e"]] * 5
    assert list(workflow.order) == ["c", "d", "b", "a", "e"]


@pytest.mark.asyncio
async def test_sequential_mode_runs_one_node_at_a_time(runtime: AsyncLocalRuntime) -> None:
    """Without with_parallel_execution() no two nodes overlap, even unconnected ones."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf")
    for i in range(5):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    await runtime.execute(builder, {"peak": peak})
    assert peak.peak == 1


@pytest.mark.asyncio
async def test_parallel_mode_runs_independent_nodes_at_once(runtime: AsyncLocalRuntime) -> None:
    """With with_parallel_execution() and no limit, every ready node runs at once."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    for i in range(6):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    await runtime.execute(builder, {"peak": peak})
    assert peak.peak == 6


@pytest.mark.asyncio
async def test_parallel_node_starts_after_all_of_its_sources(runtime: AsyncLocalRuntime) -> None:
    """A node fed by a fast and a slow source starts only once the slow one has completed."""
    log: list[str] = []
    release = asyncio.Event()
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("fast", "log.append('fast')\nx = 1")
        .add_async_code("slow", "log.append('slow waits')\nawait release.wait()\nx = 2")
        .add_async_code("checker", "log.append('checker')\nrelease.set()")
        .add_async_code("merge", "log.append('merge')\ntotal = a + b")
        .add_connection("fast", "x", "merge", "a")
        .add_connection("slow", "x", "merge", "b")
        .with_parallel_execution()
        .build()
    )
    result = await runtime.execute(workflow, {"log": log, "release": release})
    assert log.index("merge") > log.index("checker")
    assert result.get_output("merge", "total") == 3


@pytest.mark.asyncio
async def test_parallel_node_starts_as_soon_as_its_own_inputs_are_ready(
    runtime: AsyncLocalRuntime,
) -> None:
    """No level barriers: a chain runs to its end while an unrelated root is still running."""
    chain_done = asyncio.Event()
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("slow_root", "await chain_done.wait()\ny = 1")
        .add_async_code("a", "y = 1")
        .add_async_code("b", "y = x + 1")
        .add_async_code("c", "chain_done.set()\ny = x + 1")
        .add_connection("a", "y", "b", "x")
        .add_connection("b", "y", "c", "x")
        .with_parallel_execution()
        .with_timeout(5)  # with level barriers this would hang until the timeout
        .build()
    )
    result = await runtime.execute(workflow, {"chain_done": chain_done})
    assert result.success
    assert result.timings["c"].end <= result.timings["slow_root"].end


@pytest.mark.asyncio
async def test_parallel_limit_bounds_nodes_running_at_once(runtime: AsyncLocalRuntime) -> None:
    """with_parallel_execution(max_concurrency=2) never runs more than 2 nodes at once."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution(max_concurrency=2)
    for i in range(7):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    result = await runtime.execute(builder, {"peak": peak})
    assert result.success
    assert peak.peak == 2


@pytest.mark.asyncio
async def test_parallel_limit_applies_to_a_fan_out(runtime: AsyncLocalRuntime) -> None:
    """Children of one root respect the limit too, and every child runs."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution(max_concurrency=3)
    builder.add_async_code("root", "x = 1")
    for i in range(10):
        builder.add_async_code(f"c{i}", "await peak.hold()\ny = x")
        builder.add_connection("root", "x", f"c{i}", "x")
    result = await runtime.execute(builder, {"peak": peak})
    assert peak.peak == 3
    assert len(result.outputs) == 11


@pytest.mark.asyncio
async def test_parallel_limit_is_per_execution(runtime: AsyncLocalRuntime) -> None:
    """Two concurrent executions each get their own with_parallel_execution limit."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution(max_concurrency=2)
    for i in range(4):
        builder.add_async_code(f"n{i}", "await peak.hold(10)")
    workflow = builder.build()
    await asyncio.gather(*(runtime.execute(workflow, {"peak": peak}) for _ in range(2)))
    assert peak.peak == 4


@pytest.mark.asyncio
async def test_runtime_limit_bounds_nodes_across_executions() -> None:
    """AsyncLocalRuntime(max_concurrency=3) bounds the nodes of all its executions together."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    for i in range(4):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    workflow = builder.build()
    async with AsyncLocalRuntime(max_concurrency=3) as runtime:
        results = await asyncio.gather(
            *(runtime.execute(workflow, {"peak": peak}) for _ in range(5))
        )
    assert all(r.success for r in results)
    assert peak.peak == 3


@pytest.mark.asyncio
async def test_runtime_limit_bounds_concurrent_sequential_executions() -> None:
    """The runtime limit also bounds sequential executions running side by side."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf")
    for i in range(3):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    workflow = builder.build()
    async with AsyncLocalRuntime(max_concurrency=2) as runtime:
        await asyncio.gather(*(runtime.execute(workflow, {"peak": peak}) for _ in range(6)))
    assert peak.peak == 2


def test_runtime_limit_must_be_a_positive_int() -> None:
    """AsyncLocalRuntime(max_concurrency=0) is refused, quoting the value."""
    with pytest.raises(ValueError, match=r"max_concurrency must be a positive int or None, got 0"):
        AsyncLocalRuntime(max_concurrency=0)


@pytest.mark.asyncio
async def test_parallel_mode_starts_each_node_after_its_sources_complete(
    runtime: AsyncLocalRuntime,
) -> None:
    """In a diamond, events show every node starting after each of its sources completed."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("top", "await asyncio.sleep(0)\ny = 1")
        .add_async_code("left", "await asyncio.sleep(0)\ny = x + 1")
        .add_async_code("right", "for _ in range(3):\n    await asyncio.sleep(0)\ny = x + 2")
        .add_async_code("bottom", "y = l + r")
        .add_connection("top", "y", "left", "x")
        .add_connection("top", "y", "right", "x")
        .add_connection("left", "y", "bottom", "l")
        .add_connection("right", "y", "bottom", "r")
        .with_parallel_execution()
        .build()
    )
    await runtime.execute(workflow)
    position: dict[tuple[str, Any], int] = {
        (e.kind, e.node_id): i for i, e in enumerate(log.events)
    }
    edges = [("top", "left"), ("top", "right"), ("left", "bottom"), ("right", "bottom")]
    for source, target in edges:
        assert position[("node_completed", source)] < position[("node_started", target)]
    assert position[("node_started", "right")] < position[("node_completed", "left")]


def test_runtime_limit_works_on_a_second_event_loop() -> None:
    """A runtime with max_concurrency used under two event loops in turn runs every node."""
    peak = Peak()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    for i in range(3):
        builder.add_async_code(f"n{i}", "await peak.hold()")
    workflow = builder.build()
    runtime = AsyncLocalRuntime(max_concurrency=1)

    unretrieved: list[dict[str, Any]] = []

    async def run_twice() -> list[dict[str, str]]:
        # errors left in tasks are caught here rather than logged when the tasks are collected
        asyncio.get_running_loop().set_exception_handler(lambda _, c: unretrieved.append(c))
        results = await asyncio.gather(
            *(runtime.execute(workflow, {"peak": peak}) for _ in range(2))
        )
        gc.collect()
        return [dict(r.node_status) for r in results]

    for _ in range(2):
        assert asyncio.run(run_twice()) == [{f"n{i}": "completed" for i in range(3)}] * 2
    assert unretrieved == []
    assert peak.peak == 1
