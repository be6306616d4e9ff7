"""wait_for_result and deadlock detection: cycles, endless waits, no progress (SPEC 2)."""

from __future__ import annotations

import asyncio

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, DeadlockError

from ._support import other_tasks

# Detection must fire as soon as a cycle forms: far sooner than this no-progress timeout.
_SLOW = 5.0
_FAST = 1.0


def _waiting(builder: AsyncWorkflowBuilder, node_id: str, waits_on: str) -> AsyncWorkflowBuilder:
    """Add node ``node_id`` whose code waits for ``waits_on``'s result."""
    return builder.add_async_code(
        node_id, f"got = await wait_for_result({waits_on!r})\nmine = {node_id!r}"
    )


async def _elapsed_raising(
    runtime: AsyncLocalRuntime, builder: AsyncWorkflowBuilder
) -> tuple[float, DeadlockError]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlockError) as info:
        await runtime.execute(builder)
    return loop.time() - start, info.value


# -- wait_for_result without deadlocks ---------------------------------------------------------


@pytest.mark.asyncio
async def test_wait_for_result_on_a_completed_node_returns_at_once(
    runtime: AsyncLocalRuntime,
) -> None:
    """Waiting on a node that already completed returns its output immediately."""
    builder = AsyncWorkflowBuilder("wf").with_deadlock_detection(timeout=_SLOW)
    builder.add_async_code("first", "result = {'v': 1}")
    _waiting(builder, "second", "first")
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await runtime.execute(builder)
    assert loop.time() - start < _FAST
    assert result.get_output("second") == {"got": {"v": 1}, "mine": "second"}


@pytest.mark.asyncio
async def test_wait_for_result_waits_for_a_running_node(runtime: AsyncLocalRuntime) -> None:
    """In parallel mode a node can await the output of a node still running."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    _waiting(builder, "consumer", "producer")
    builder.add_async_code("producer", "await asyncio.sleep(0)\nresult = {'v': 2}")
    result = await runtime.execute(builder)
    assert result.get_output("consumer", "got") == {"v": 2}


@pytest.mark.asyncio
async def test_wait_for_result_on_an_unknown_node_names_the_nodes(
    runtime: AsyncLocalRuntime,
) -> None:
    """Waiting on a node the workflow lacks raises a KeyError listing its nodes."""
    builder = _waiting(AsyncWorkflowBuilder("wf"), "a", "ghost")
    with pytest.raises(KeyError, match=r"workflow 'wf' has no node 'ghost'; nodes: \['a'\]"):
        await runtime.execute(builder)


@pytest.mark.asyncio
async def test_wait_for_result_is_per_execution(runtime: AsyncLocalRuntime) -> None:
    """Concurrent executions each wait on their own execution's node."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    _waiting(builder, "consumer", "producer")
    builder.add_async_code("producer", "await asyncio.sleep(0)\nresult = {'tag': tag}")
    workflow = builder.build()
    results = await asyncio.gather(*(runtime.execute(workflow, {"tag": i}) for i in range(10)))
    assert [r.get_output("consumer", "got") for r in results] == [{"tag": i} for i in range(10)]


# -- cycles ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_two_node_wait_cycle_raises_deadlock_error_at_once(
    runtime: AsyncLocalRuntime,
) -> None:
    """a waits on b and b on a: DeadlockError as soon as the cycle forms, not at the timeout."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=_SLOW)
    _waiting(builder, "a", "b")
    _waiting(builder, "b", "a")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert elapsed < _FAST
    assert error.cycle == ["b", "a"]
    assert str(error) == "deadlock: 'b' -> 'a' -> 'b'"


@pytest.mark.asyncio
async def test_three_node_cycle_is_listed_in_wait_order_waiter_first(
    runtime: AsyncLocalRuntime,
) -> None:
    """``cycle`` starts with the waiter that closed the cycle and follows the waits."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=_SLOW)
    _waiting(builder, "a", "b")
    _waiting(builder, "b", "c")
    _waiting(builder, "c", "a")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert elapsed < _FAST
    assert error.cycle == ["c", "a", "b"]
    assert str(error).startswith("deadlock: 'c' -> 'a' -> 'b' -> 'c'")


@pytest.mark.asyncio
async def test_deadlock_fails_the_closing_node_and_cancels_the_others(
    runtime: AsyncLocalRuntime,
) -> None:
    """raise_on_error=False: the node that closed the cycle failed, the other one cancelled."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=_SLOW)
    _waiting(builder, "a", "b")
    _waiting(builder, "b", "a")
    before = other_tasks()
    result = await runtime.execute(builder, raise_on_error=False)
    assert result.node_status == {"a": "cancelled", "b": "failed"}
    assert isinstance(result.errors["b"], DeadlockError)
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_wait_on_a_downstream_node_is_a_deadlock(runtime: AsyncLocalRuntime) -> None:
    """In parallel mode, waiting on a node fed by the waiter can never end."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=_SLOW)
    _waiting(builder, "a", "c")
    builder.add_async_code("c", "v = mine").add_connection("a", "mine", "c", "mine")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert elapsed < _FAST
    assert error.cycle == ["a", "c"]


@pytest.mark.asyncio
async def test_sequential_wait_on_a_later_node_is_a_deadlock(runtime: AsyncLocalRuntime) -> None:
    """One node at a time: a node coming later cannot start while the waiter blocks."""
    builder = AsyncWorkflowBuilder("wf").with_deadlock_detection(timeout=_SLOW)
    _waiting(builder, "early", "late")
    builder.add_async_code("late", "v = 1")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert elapsed < _FAST
    assert error.cycle == ["early", "late"]
    assert "'early'" in str(error) and "'late'" in str(error)


@pytest.mark.asyncio
async def test_parallel_wait_on_a_node_held_back_by_the_limit_is_a_deadlock(
    runtime: AsyncLocalRuntime,
) -> None:
    """With max_concurrency=1 the waiter holds the only slot, so the awaited node never starts."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution(max_concurrency=1)
    builder.with_deadlock_detection(timeout=0.3)
    _waiting(builder, "a", "b")
    builder.add_async_code("b", "v = 1")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert elapsed < 0.15
    assert error.cycle == ["a", "b"]


# -- no progress -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_progress_for_the_timeout_is_a_deadlock(runtime: AsyncLocalRuntime) -> None:
    """A wait with no node completing for ``timeout`` seconds raises DeadlockError then."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=0.1)
    _waiting(builder, "a", "stuck")
    builder.add_async_code("stuck", "await asyncio.Event().wait()")
    elapsed, error = await _elapsed_raising(runtime, builder)
    assert 0.1 <= elapsed < _FAST
    assert error.cycle == ["a", "stuck"]
    assert str(error) == (
        "deadlock: no node made progress for 0.1s while node 'a' waited on node 'stuck'"
    )


@pytest.mark.asyncio
async def test_progress_elsewhere_keeps_a_long_wait_alive(runtime: AsyncLocalRuntime) -> None:
    """A wait longer than the timeout is fine while other nodes keep completing."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.with_deadlock_detection(timeout=0.2)
    _waiting(builder, "waiter", "last")
    previous = None
    for i in range(8):
        builder.add_async_code(f"step{i}", "await asyncio.sleep(0.04)\nv = 1")
        if previous is not None:
            builder.add_connection(previous, "v", f"step{i}", "u")
        previous = f"step{i}"
    builder.add_async_code("last", "result = {'done': True}")
    builder.add_connection("step7", "v", "last", "u")
    result = await runtime.execute(builder)
    assert result.get_output("waiter", "got") == {"done": True}


# -- without detection -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_without_detection_the_workflow_timeout_still_applies(
    runtime: AsyncLocalRuntime,
) -> None:
    """A wait cycle without detection ends at the workflow timeout, with no task left."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution().with_timeout(0.1)
    _waiting(builder, "a", "b")
    _waiting(builder, "b", "a")
    before = other_tasks()
    with pytest.raises(TimeoutError, match=r"workflow 'wf' timed out after 0.1s"):
        await runtime.execute(builder)
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_without_detection_a_sequential_wait_ends_at_the_timeout(
    runtime: AsyncLocalRuntime,
) -> None:
    """A sequential wait on a later node without detection is ended by the workflow timeout."""
    builder = AsyncWorkflowBuilder("wf").with_timeout(0.1)
    _waiting(builder, "early", "late")
    builder.add_async_code("late", "v = 1")
    result = await runtime.execute(builder, raise_on_error=False)
    assert result.node_status == {"early": "cancelled", "late": "skipped"}
