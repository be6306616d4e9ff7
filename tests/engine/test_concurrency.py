"""One built workflow executed many times at once: no cross-talk between executions (SPEC 1-2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, Workflow

from ._support import EventLog, other_tasks

_RUNS = 50


def _fan_workflow() -> Workflow:
    """root -> (left, right, fn) -> merge, each node yielding so executions interleave."""

    async def fn(tag: int, seed: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"tag": tag, "seed": seed}

    return (
        AsyncWorkflowBuilder("fan")
        .add_async_code("root", "await asyncio.sleep(0)\nseed = tag * 10")
        .add_async_code("left", "await asyncio.sleep(0)\nv = (tag, seed, 'left')")
        .add_async_code(
            "right",
            "for _ in range(tag % 3):\n    await asyncio.sleep(0)\nv = (tag, seed, 'right')",
        )
        .add_node("fn", fn)
        .add_async_code("merge", "await asyncio.sleep(0)\nresult = {'all': [l, r, f], 'tag': tag}")
        .add_connection("root", "seed", "left", "seed")
        .add_connection("root", "seed", "right", "seed")
        .add_connection("root", "seed", "fn", "seed")
        .add_connection("left", "v", "merge", "l")
        .add_connection("right", "v", "merge", "r")
        .add_connection("fn", "result", "merge", "f")
        .with_parallel_execution()
        .build()
    )


def _expected(tag: int) -> dict[str, Any]:
    seed = tag * 10
    return {
        "all": [(tag, seed, "left"), (tag, seed, "right"), {"tag": tag, "seed": seed}],
        "tag": tag,
    }


@pytest.mark.asyncio
async def test_fifty_concurrent_executions_each_get_their_own_inputs_back(
    runtime: AsyncLocalRuntime,
) -> None:
    """50 executions of one workflow at once each produce exactly their own values."""
    workflow = _fan_workflow()
    results = await asyncio.gather(*(runtime.execute(workflow, {"tag": i}) for i in range(_RUNS)))
    assert [r.get_output("merge") for r in results] == [_expected(i) for i in range(_RUNS)]
    assert all(r.success for r in results)


@pytest.mark.asyncio
async def test_concurrent_executions_really_interleave(runtime: AsyncLocalRuntime) -> None:
    """The executions overlap in time (so the test above exercises concurrency)."""
    log = EventLog()
    runtime.subscribe(log)
    workflow = _fan_workflow()
    await asyncio.gather(*(runtime.execute(workflow, {"tag": i}) for i in range(_RUNS)))
    kinds = [e.kind for e in log.events if e.kind.startswith("workflow_")]
    assert kinds[:_RUNS] == ["workflow_started"] * _RUNS


@pytest.mark.asyncio
async def test_concurrent_executions_with_parameters_stay_apart(
    runtime: AsyncLocalRuntime,
) -> None:
    """Per-node parameters of one execution never reach another running at the same time."""
    workflow = (
        AsyncWorkflowBuilder("load")
        .add_async_code("process_item", "await asyncio.sleep(0)\nresult = {'item': item_id}")
        .build()
    )
    results = await asyncio.gather(
        *(
            runtime.execute(workflow, parameters={"process_item": {"item_id": i}})
            for i in range(_RUNS)
        )
    )
    assert [r.get_output("process_item", "item") for r in results] == list(range(_RUNS))


@pytest.mark.asyncio
async def test_a_failing_execution_does_not_disturb_the_others(
    runtime: AsyncLocalRuntime,
) -> None:
    """Executions that fail run beside ones that succeed without affecting them."""
    workflow = (
        AsyncWorkflowBuilder("mixed")
        .add_async_code(
            "n", "await asyncio.sleep(0)\nif tag % 5 == 0:\n    raise ValueError(tag)\nv = tag"
        )
        .add_async_code("after", "await asyncio.sleep(0)\nw = v + 1")
        .add_connection("n", "v", "after", "v")
        .with_parallel_execution()
        .build()
    )
    before = other_tasks()
    results = await asyncio.gather(
        *(runtime.execute(workflow, {"tag": i}, raise_on_error=False) for i in range(_RUNS))
    )
    for tag, result in enumerate(results):
        if tag % 5 == 0:
            assert result.node_status == {"n": "failed", "after": "skipped"}
        else:
            assert result.get_output("after", "w") == tag + 1
    assert other_tasks() - before == set()


@pytest.mark.asyncio
async def test_executions_on_separate_runtimes_run_side_by_side() -> None:
    """Several runtimes execute the same workflow at once, each with its own functions."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "result = {'who': whoami()}").build()

    async def run(name: str) -> Any:
        async with AsyncLocalRuntime() as runtime:
            runtime.register_function(lambda: name, name="whoami")
            await asyncio.sleep(0)
            return (await runtime.execute(workflow)).get_output("n", "who")

    assert await asyncio.gather(*(run(f"rt{i}") for i in range(10))) == [
        f"rt{i}" for i in range(10)
    ]
