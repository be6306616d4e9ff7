"""Timeouts: a workflow limit and node limits raise TimeoutError and clean up (SPEC 2)."""

from __future__ import annotations

import asyncio

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder

from ._support import other_tasks

_BLOCK = """
started.append(node)
try:
    await asyncio.sleep(30)
finally:
    cleaned.append(node)
"""


def _record() -> dict[str, list[str]]:
    return {"started": [], "cleaned": []}


def _blocking_nodes(builder: AsyncWorkflowBuilder, *ids: str) -> dict[str, dict[str, str]]:
    """Add nodes that sleep 30 s; return the parameters naming each node."""
    for node_id in ids:
        builder.add_async_code(node_id, _BLOCK)
    return {node_id: {"node": node_id} for node_id in ids}


@pytest.mark.asyncio
async def test_workflow_timeout_raises_timeout_error_naming_workflow_and_limit(
    runtime: AsyncLocalRuntime,
) -> None:
    """with_timeout(s) raises the builtin TimeoutError naming the workflow and the limit."""
    builder = AsyncWorkflowBuilder("nightly").with_timeout(0.05)
    parameters = _blocking_nodes(builder, "slow")
    with pytest.raises(TimeoutError, match=r"^workflow 'nightly' timed out after 0.05s$"):
        await runtime.execute(builder, _record(), parameters=parameters)


@pytest.mark.asyncio
async def test_workflow_timeout_is_asyncio_timeout_error(runtime: AsyncLocalRuntime) -> None:
    """The error is also ``asyncio.TimeoutError``, as the SPEC and the seeds catch it."""
    builder = AsyncWorkflowBuilder("wf").with_timeout(0.05)
    parameters = _blocking_nodes(builder, "slow")
    with pytest.raises(asyncio.TimeoutError, match=r"workflow 'wf' timed out"):
        await runtime.execute(builder, _record(), parameters=parameters)


@pytest.mark.asyncio
async def test_workflow_timeout_fires_at_the_limit(runtime: AsyncLocalRuntime) -> None:
    """The execution stops at the limit, not when the sleeping node would have finished."""
    loop = asyncio.get_running_loop()
    builder = AsyncWorkflowBuilder("wf").with_timeout(0.05)
    parameters = _blocking_nodes(builder, "slow")
    start = loop.time()
    with pytest.raises(TimeoutError):
        await runtime.execute(builder, _record(), parameters=parameters)
    assert 0.05 <= loop.time() - start < 2.0


@pytest.mark.asyncio
async def test_workflow_timeout_cancels_parallel_nodes_and_runs_finally(
    runtime: AsyncLocalRuntime,
) -> None:
    """Running nodes are cancelled, their finally blocks run and no task is left."""
    record = _record()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution().with_timeout(0.05)
    parameters = _blocking_nodes(builder, "a", "b", "c")
    before = other_tasks()
    with pytest.raises(TimeoutError):
        await runtime.execute(builder, record, parameters=parameters)
    assert sorted(record["cleaned"]) == ["a", "b", "c"]
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_workflow_timeout_in_sequential_mode_runs_finally(
    runtime: AsyncLocalRuntime,
) -> None:
    """In sequential mode the running node is cancelled and the rest never start."""
    record = _record()
    builder = AsyncWorkflowBuilder("wf").with_timeout(0.05)
    parameters = _blocking_nodes(builder, "a", "b")
    before = other_tasks()
    result = await runtime.execute(builder, record, parameters=parameters, raise_on_error=False)
    assert record == {"started": ["a"], "cleaned": ["a"]}
    assert result.node_status == {"a": "cancelled", "b": "skipped"}
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_workflow_timeout_without_raising_reports_the_statuses(
    runtime: AsyncLocalRuntime,
) -> None:
    """raise_on_error=False: success is False, finished nodes completed, running ones cancelled."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution().with_timeout(0.05)
    builder.add_async_code("quick", "v = 1")
    parameters = _blocking_nodes(builder, "slow")
    builder.add_async_code("after", "w = v").add_connection("slow", "v", "after", "v")
    result = await runtime.execute(builder, _record(), parameters=parameters, raise_on_error=False)
    assert result.success is False
    assert result.node_status == {"quick": "completed", "slow": "cancelled", "after": "skipped"}
    assert isinstance(result.errors["slow"], TimeoutError)


@pytest.mark.asyncio
async def test_workflow_within_its_timeout_succeeds(runtime: AsyncLocalRuntime) -> None:
    """A workflow that finishes in time is not affected by its timeout."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "v = 1").with_timeout(5).build()
    assert (await runtime.execute(workflow)).outputs == {"n": {"v": 1}}


@pytest.mark.asyncio
async def test_node_timeout_raises_timeout_error_naming_node_and_limit(
    runtime: AsyncLocalRuntime,
) -> None:
    """timeout= on a node raises TimeoutError naming the node, the workflow and the limit."""
    workflow = (
        AsyncWorkflowBuilder("etl")
        .add_async_code("fetch", "await asyncio.sleep(30)", timeout=0.05)
        .build()
    )
    with pytest.raises(
        TimeoutError, match=r"^node 'fetch' of workflow 'etl' timed out after 0.05s\n"
    ):
        await runtime.execute(workflow)


@pytest.mark.asyncio
async def test_node_timeout_applies_to_function_nodes(runtime: AsyncLocalRuntime) -> None:
    """A function node is bounded by its timeout too."""

    async def hang() -> None:
        await asyncio.Event().wait()

    workflow = AsyncWorkflowBuilder("wf").add_node("hang", hang, timeout=0.05).build()
    with pytest.raises(TimeoutError, match=r"node 'hang' of workflow 'wf' timed out after 0.05s"):
        await runtime.execute(workflow)


@pytest.mark.asyncio
async def test_node_timeout_fails_the_node_and_skips_downstream(
    runtime: AsyncLocalRuntime,
) -> None:
    """A timed-out node is ``"failed"``; nodes fed by it are ``"skipped"``."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("slow", "await asyncio.sleep(30)\nv = 1", timeout=0.05)
        .add_async_code("after", "w = v")
        .add_connection("slow", "v", "after", "v")
        .build()
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"slow": "failed", "after": "skipped"}
    assert isinstance(result.errors["slow"], TimeoutError)


@pytest.mark.asyncio
async def test_node_timeout_runs_the_node_finally_block(runtime: AsyncLocalRuntime) -> None:
    """The timed-out node's code is cancelled and its finally block runs."""
    record = _record()
    builder = AsyncWorkflowBuilder("wf")
    builder.add_async_code("slow", _BLOCK, timeout=0.05)
    with pytest.raises(TimeoutError):
        await runtime.execute(builder, record, parameters={"slow": {"node": "slow"}})
    assert record == {"started": ["slow"], "cleaned": ["slow"]}


@pytest.mark.asyncio
async def test_node_timeout_in_parallel_mode_cancels_siblings(
    runtime: AsyncLocalRuntime,
) -> None:
    """A node timing out in parallel mode cancels its running siblings; no task is left."""
    record = _record()
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    parameters = _blocking_nodes(builder, "s1", "s2")
    builder.add_async_code("limited", "await asyncio.sleep(30)", timeout=0.05)
    before = other_tasks()
    result = await runtime.execute(builder, record, parameters=parameters, raise_on_error=False)
    assert result.node_status == {"s1": "cancelled", "s2": "cancelled", "limited": "failed"}
    assert sorted(record["cleaned"]) == ["s1", "s2"]
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_timeout_error_raised_by_the_code_itself_is_kept(
    runtime: AsyncLocalRuntime,
) -> None:
    """A TimeoutError the node raises on its own, within its limit, keeps its message."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("n", "raise TimeoutError('upstream API timed out')", timeout=5)
        .build()
    )
    with pytest.raises(TimeoutError, match=r"^upstream API timed out\n"):
        await runtime.execute(workflow)


@pytest.mark.asyncio
async def test_node_within_its_timeout_succeeds(runtime: AsyncLocalRuntime) -> None:
    """A node that finishes in time is not affected by its timeout."""
    workflow = (
        AsyncWorkflowBuilder("wf").add_async_code("n", "await asyncio.sleep(0)\nv = 2", timeout=5)
    ).build()
    assert (await runtime.execute(workflow)).outputs == {"n": {"v": 2}}
