"""Failure: the first error propagates, downstream never starts, siblings are cancelled (SPEC 2)."""

from __future__ import annotations

import asyncio

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, WorkflowResult

from ._support import EventLog, other_tasks

_SIBLING = """
started.append(node)
try:
    await asyncio.Event().wait()
finally:
    cleaned.append(node)
"""


def _failing_with_siblings(parallel: bool) -> AsyncWorkflowBuilder:
    """Siblings ``s1``/``s2`` that block forever, ``boom`` that fails once they run, ``after``."""
    builder = AsyncWorkflowBuilder("wf")
    builder.add_async_code("s1", _SIBLING).add_async_code("s2", _SIBLING)
    builder.add_async_code(
        "boom", "while len(started) < 2:\n    await asyncio.sleep(0)\nraise ValueError('bad row 7')"
    )
    builder.add_async_code("after", "ran.append('after')").add_connection("boom", "x", "after", "x")
    if parallel:
        builder.with_parallel_execution()
    return builder


async def _execute_siblings(
    runtime: AsyncLocalRuntime, *, raise_on_error: bool = True
) -> tuple[dict[str, list[str]], object]:
    record: dict[str, list[str]] = {"started": [], "cleaned": [], "ran": []}
    workflow = _failing_with_siblings(parallel=True).build()
    parameters = {"s1": {"node": "s1"}, "s2": {"node": "s2"}}
    outcome: object
    try:
        outcome = await runtime.execute(
            workflow, record, parameters=parameters, raise_on_error=raise_on_error
        )
    except ValueError as exc:
        outcome = exc
    return record, outcome


@pytest.mark.asyncio
async def test_error_keeps_its_type_and_message(runtime: AsyncLocalRuntime) -> None:
    """execute() raises the failing node's own exception type and message."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "raise KeyError('sku-9')").build()
    with pytest.raises(KeyError, match=r"'sku-9'") as info:
        await runtime.execute(workflow)
    assert type(info.value) is KeyError
    assert info.value.args == ("sku-9",)


@pytest.mark.asyncio
async def test_error_carries_a_note_naming_the_node(runtime: AsyncLocalRuntime) -> None:
    """The raised exception has a note naming the node and the workflow."""
    workflow = (
        AsyncWorkflowBuilder("orders").add_async_code("load", "raise OSError('disk')").build()
    )
    with pytest.raises(OSError, match=r"disk") as info:
        await runtime.execute(workflow)
    assert info.value.__notes__ == ["raised by node 'load' of workflow 'orders'"]


@pytest.mark.asyncio
async def test_repeated_failures_do_not_pile_up_notes(runtime: AsyncLocalRuntime) -> None:
    """An exception object raised by two executions carries the node note once."""
    error = RuntimeError("shared")

    def fail() -> None:
        raise error

    workflow = AsyncWorkflowBuilder("wf").add_node("n", fail).build()
    for _ in range(2):
        with pytest.raises(RuntimeError, match="shared"):
            await runtime.execute(workflow)
    assert error.__notes__ == ["raised by node 'n' of workflow 'wf'"]


@pytest.mark.asyncio
async def test_downstream_nodes_never_start_after_a_failure(runtime: AsyncLocalRuntime) -> None:
    """A node fed by a failed node is never started, in sequential mode."""
    ran: list[str] = []
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("extract", "raise ConnectionError('db down')")
        .add_async_code("load", "ran.append('load')")
        .add_connection("extract", "rows", "load", "rows")
        .build()
    )
    with pytest.raises(ConnectionError, match="db down"):
        await runtime.execute(workflow, {"ran": ran})
    assert ran == []


@pytest.mark.asyncio
async def test_sequential_failure_stops_the_remaining_nodes(runtime: AsyncLocalRuntime) -> None:
    """In sequential mode no node runs after the failing one, connected or not."""
    ran: list[str] = []
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("first", "ran.append('first')")
        .add_async_code("boom", "raise ValueError('x')")
        .add_async_code("independent", "ran.append('independent')")
        .build()
    )
    result = await runtime.execute(workflow, {"ran": ran}, raise_on_error=False)
    assert ran == ["first"]
    assert result.node_status == {"first": "completed", "boom": "failed", "independent": "skipped"}


@pytest.mark.asyncio
async def test_parallel_failure_cancels_running_siblings(runtime: AsyncLocalRuntime) -> None:
    """The error propagates and running siblings are cancelled with their finally blocks run."""
    record, outcome = await _execute_siblings(runtime)
    assert isinstance(outcome, ValueError)
    assert str(outcome) == "bad row 7"
    assert sorted(record["started"]) == ["s1", "s2"]
    assert sorted(record["cleaned"]) == ["s1", "s2"]
    assert record["ran"] == []


@pytest.mark.asyncio
async def test_parallel_failure_statuses_without_raising(runtime: AsyncLocalRuntime) -> None:
    """raise_on_error=False: failed, cancelled and skipped nodes are told apart."""
    record, result = await _execute_siblings(runtime, raise_on_error=False)
    assert isinstance(result, WorkflowResult)
    assert result.success is False
    assert result.node_status == {
        "s1": "cancelled",
        "s2": "cancelled",
        "boom": "failed",
        "after": "skipped",
    }
    assert list(result.errors) == ["boom"]
    assert isinstance(result.errors["boom"], ValueError)
    assert sorted(record["cleaned"]) == ["s1", "s2"]


@pytest.mark.asyncio
async def test_completed_outputs_are_kept_in_a_failed_result(runtime: AsyncLocalRuntime) -> None:
    """Nodes that completed before the failure keep their outputs in the result."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("ok", "result = {'v': 1}")
        .add_async_code("bad", "raise ValueError('no')")
        .build()
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert result.outputs == {"ok": {"v": 1}}
    assert result.get_output("ok", "v") == 1


@pytest.mark.asyncio
async def test_a_failed_node_has_no_output(runtime: AsyncLocalRuntime) -> None:
    """get_output of a failed node raises a KeyError that tells its status."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("bad", "raise ValueError('no')").build()
    result = await runtime.execute(workflow, raise_on_error=False)
    with pytest.raises(KeyError, match=r"node 'bad' has no output: its status is 'failed'"):
        result.get_output("bad")


@pytest.mark.asyncio
async def test_no_task_outlives_a_failed_parallel_execution(runtime: AsyncLocalRuntime) -> None:
    """After a failure in parallel mode, every task the execution made is finished."""
    before = other_tasks()
    await _execute_siblings(runtime)
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_failure_is_reported_by_events(runtime: AsyncLocalRuntime) -> None:
    """node_failed and workflow_failed carry the exception."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "raise ValueError('e1')").build()
    with pytest.raises(ValueError, match="e1") as info:
        await runtime.execute(workflow)
    assert [e.error for e in log.of("node_failed", "n")] == [info.value]
    assert [e.error for e in log.of("workflow_failed")] == [info.value]


@pytest.mark.asyncio
async def test_first_failure_wins_when_several_nodes_fail(runtime: AsyncLocalRuntime) -> None:
    """When two parallel nodes would fail, the first to fail is raised; the other is cancelled."""
    gate = asyncio.Event()
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("early", "gate.set()\nraise ValueError('early')")
        .add_async_code(
            "late", "await gate.wait()\nawait asyncio.sleep(0)\nraise ValueError('late')"
        )
        .with_parallel_execution()
        .build()
    )
    with pytest.raises(ValueError, match="early"):
        await runtime.execute(workflow, {"gate": gate})


@pytest.mark.asyncio
async def test_cancelling_execute_cancels_the_nodes(runtime: AsyncLocalRuntime) -> None:
    """Cancelling the task awaiting execute() cancels running nodes and leaves no task behind."""
    record: dict[str, list[str]] = {"started": [], "cleaned": []}
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution()
    builder.add_async_code("s1", _SIBLING).add_async_code("s2", _SIBLING)
    parameters = {"s1": {"node": "s1"}, "s2": {"node": "s2"}}
    before = other_tasks()
    task = asyncio.create_task(runtime.execute(builder, record, parameters=parameters))
    while len(record["started"]) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(record["cleaned"]) == ["s1", "s2"]
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_failure_before_spawned_siblings_start_still_ends_the_run(
    runtime: AsyncLocalRuntime,
) -> None:
    """A child failing at once, before its just-spawned siblings ran, ends the execution."""
    builder = AsyncWorkflowBuilder("wf").with_parallel_execution().add_async_code("root", "v = 1")
    for i in range(3):
        body = "raise ValueError('first child')" if i == 0 else "w = v"
        builder.add_async_code(f"c{i}", body).add_connection("root", "v", f"c{i}", "v")
    before = other_tasks()
    result = await asyncio.wait_for(runtime.execute(builder, raise_on_error=False), timeout=5)
    assert result.node_status == {
        "root": "completed",
        "c0": "failed",
        "c1": "skipped",
        "c2": "skipped",
    }
    assert other_tasks() - before == set()
