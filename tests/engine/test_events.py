"""The event stream: subscribe/unsubscribe, sync and async listeners, kinds and fields (SPEC 2)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, Event, RetryPolicy

from ._support import EventLog


def _two_steps() -> AsyncWorkflowBuilder:
    return (
        AsyncWorkflowBuilder("pipeline")
        .add_async_code("a", "v = 1")
        .add_async_code("b", "w = v + 1")
        .add_connection("a", "v", "b", "v")
    )


@pytest.mark.asyncio
async def test_successful_run_emits_started_and_completed_events(
    runtime: AsyncLocalRuntime,
) -> None:
    """A two-node run emits workflow and node start/complete events, in order."""
    log = EventLog()
    runtime.subscribe(log)
    await runtime.execute(_two_steps())
    assert [(e.kind, e.node_id) for e in log.events] == [
        ("workflow_started", None),
        ("node_started", "a"),
        ("node_completed", "a"),
        ("node_started", "b"),
        ("node_completed", "b"),
        ("workflow_completed", None),
    ]


@pytest.mark.asyncio
async def test_events_name_the_workflow(runtime: AsyncLocalRuntime) -> None:
    """Every event of an execution carries the workflow's name."""
    log = EventLog()
    runtime.subscribe(log)
    await runtime.execute(_two_steps())
    assert {e.workflow for e in log.events} == {"pipeline"}


@pytest.mark.asyncio
async def test_timestamps_follow_the_loop_clock(runtime: AsyncLocalRuntime) -> None:
    """Timestamps are ``loop.time()`` readings, in non-decreasing order."""
    log = EventLog()
    runtime.subscribe(log)
    loop = asyncio.get_running_loop()
    before = loop.time()
    await runtime.execute(_two_steps())
    after = loop.time()
    stamps = [e.timestamp for e in log.events]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] and stamps[-1] <= after


@pytest.mark.asyncio
async def test_failure_emits_node_failed_and_workflow_failed_with_the_error(
    runtime: AsyncLocalRuntime,
) -> None:
    """A failing node emits node_failed, then workflow_failed, both carrying the error."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = AsyncWorkflowBuilder("wf").add_async_code("bad", "raise ValueError('x')")
    result = await runtime.execute(workflow, raise_on_error=False)
    error = result.errors["bad"]
    assert [(e.kind, e.node_id, e.error) for e in log.events] == [
        ("workflow_started", None, None),
        ("node_started", "bad", None),
        ("node_failed", "bad", error),
        ("workflow_failed", None, error),
    ]


@pytest.mark.asyncio
async def test_timeout_emits_workflow_failed_with_the_timeout_error(
    runtime: AsyncLocalRuntime,
) -> None:
    """A workflow timeout ends the stream with workflow_failed carrying the TimeoutError."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("slow", "await asyncio.sleep(30)")
        .with_timeout(0.05)
    )
    with pytest.raises(TimeoutError) as info:
        await runtime.execute(workflow)
    last = log.events[-1]
    assert (last.kind, last.error) == ("workflow_failed", info.value)


@pytest.mark.asyncio
async def test_retry_emits_node_retried_with_the_error_and_attempt(
    runtime: AsyncLocalRuntime,
) -> None:
    """Each retry emits node_retried carrying the attempt's error and number."""
    log = EventLog()
    runtime.subscribe(log)
    counter = {"n": 0}
    code = "counter['n'] += 1\nif counter['n'] == 1:\n    raise OSError('first')"
    workflow = AsyncWorkflowBuilder("wf").add_async_code(
        "n", code, retry=RetryPolicy(backoff=0.001)
    )
    await runtime.execute(workflow, {"counter": counter})
    assert log.kinds("n") == ["node_started", "node_retried", "node_started", "node_completed"]
    retried = log.of("node_retried")[0]
    assert (str(retried.error), retried.attempt) == ("first", 1)


@pytest.mark.asyncio
async def test_resource_events_name_the_resource(runtime: AsyncLocalRuntime) -> None:
    """get_resource emits resource_acquired (with the node) and shutdown resource_released."""
    log = EventLog()
    runtime.subscribe(log)
    runtime.register_resource("db", lambda: "conn")
    await runtime.execute(
        AsyncWorkflowBuilder("wf").add_async_code("n", "c = await get_resource('db')")
    )
    await runtime.shutdown()
    acquired = log.of("resource_acquired")
    released = log.of("resource_released")
    assert [(e.resource, e.node_id, e.workflow) for e in acquired] == [("db", "n", "wf")]
    assert [(e.resource, e.error) for e in released] == [("db", None)]


@pytest.mark.asyncio
async def test_async_listener_is_awaited(runtime: AsyncLocalRuntime) -> None:
    """An async listener receives every event, awaited in order."""
    kinds: list[str] = []

    async def listener(event: Event) -> None:
        await asyncio.sleep(0)
        kinds.append(event.kind)

    runtime.subscribe(listener)
    await runtime.execute(AsyncWorkflowBuilder("wf").add_async_code("n", "v = 1"))
    assert kinds == ["workflow_started", "node_started", "node_completed", "workflow_completed"]


@pytest.mark.asyncio
async def test_sync_and_async_listeners_both_receive_events(runtime: AsyncLocalRuntime) -> None:
    """Sync and async listeners subscribed together each see the whole stream."""
    sync_log = EventLog()
    async_kinds: list[str] = []

    async def listener(event: Event) -> None:
        async_kinds.append(event.kind)

    runtime.subscribe(sync_log)
    runtime.subscribe(listener)
    await runtime.execute(_two_steps())
    assert sync_log.kinds() == async_kinds
    assert len(async_kinds) == 6


@pytest.mark.asyncio
async def test_unsubscribe_stops_the_events(runtime: AsyncLocalRuntime) -> None:
    """The function returned by subscribe() removes the listener."""
    log = EventLog()
    unsubscribe = runtime.subscribe(log)
    await runtime.execute(_two_steps())
    count = len(log.events)
    unsubscribe()
    await runtime.execute(_two_steps())
    assert len(log.events) == count
    unsubscribe()  # a second call is harmless


def test_subscribe_refuses_a_non_callable() -> None:
    """subscribe() needs a callable."""
    with pytest.raises(TypeError, match=r"subscribe\(\) needs a callable, got 'log'"):
        AsyncLocalRuntime().subscribe("log")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_concurrent_executions_are_told_apart(runtime: AsyncLocalRuntime) -> None:
    """Events of concurrent executions carry distinct execution ids."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "await asyncio.sleep(0)").build()
    await asyncio.gather(runtime.execute(workflow), runtime.execute(workflow))
    started = log.of("workflow_started")
    assert len({e.execution_id for e in started}) == 2
    for event in started:
        mine = [e.kind for e in log.events if e.execution_id == event.execution_id]
        assert mine == ["workflow_started", "node_started", "node_completed", "workflow_completed"]


def test_event_as_dict_has_the_trace_keys() -> None:
    """Event.as_dict() gives at least ``timestamp``, ``event`` and ``node_id``."""
    event = Event("node_started", "wf", "n", 12.5)
    data = event.as_dict()
    trace = {key: data[key] for key in ("timestamp", "event", "node_id", "workflow")}
    assert trace == {"timestamp": 12.5, "event": "node_started", "node_id": "n", "workflow": "wf"}


@pytest.mark.parametrize(
    "parallel",
    [False, True],
)
@pytest.mark.asyncio
async def test_an_error_in_a_listener_is_not_lost(
    runtime: AsyncLocalRuntime, parallel: bool
) -> None:
    """A listener raising during a run makes execute() raise it, in either mode."""

    def listener(event: Event) -> None:
        if event.kind == "node_completed" and event.node_id == "a":
            raise RuntimeError("listener broke")

    runtime.subscribe(listener)
    builder = _two_steps()
    if parallel:
        builder.with_parallel_execution()
    # An error left in a task would be logged by the loop when the task is collected;
    # catch that here so it fails this test only, not pytest's own reporting.
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        with pytest.raises(RuntimeError, match="listener broke"):
            await runtime.execute(builder)
    finally:
        gc.collect()
        loop.set_exception_handler(None)
    assert unretrieved == []
