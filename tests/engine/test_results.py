"""WorkflowResult: outputs, get_output, statuses, errors, timings (SPEC 2)."""

from __future__ import annotations

import asyncio
import re

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, NodeTiming, WorkflowResult


async def _nested(runtime: AsyncLocalRuntime) -> WorkflowResult:
    workflow = (
        AsyncWorkflowBuilder("report")
        .add_async_code("n", "result = {'count': 2, 'data': {'rows': [1, 2], 'meta': {'v': 3}}}")
        .build()
    )
    return await runtime.execute(workflow)


@pytest.mark.asyncio
async def test_success_and_outputs_of_a_good_run(runtime: AsyncLocalRuntime) -> None:
    """A run without errors has success True and an output dict per node."""
    result = await _nested(runtime)
    assert result.success is True
    assert result.outputs == {"n": {"count": 2, "data": {"rows": [1, 2], "meta": {"v": 3}}}}
    assert (result.node_status, result.errors) == ({"n": "completed"}, {})


@pytest.mark.asyncio
async def test_get_output_without_key_gives_the_whole_dict(runtime: AsyncLocalRuntime) -> None:
    """get_output(node_id) returns the node's output dict."""
    result = await _nested(runtime)
    assert result.get_output("n") == result.outputs["n"]


@pytest.mark.asyncio
async def test_get_output_with_key_gives_one_value(runtime: AsyncLocalRuntime) -> None:
    """get_output(node_id, key) returns the value of that key."""
    assert (await _nested(runtime)).get_output("n", "count") == 2


@pytest.mark.asyncio
async def test_get_output_dotted_key_digs_in(runtime: AsyncLocalRuntime) -> None:
    """A dotted key follows nested dicts."""
    result = await _nested(runtime)
    assert result.get_output("n", "data.rows") == [1, 2]
    assert result.get_output("n", "data.meta.v") == 3


@pytest.mark.asyncio
async def test_get_output_prefers_a_key_containing_a_dot(runtime: AsyncLocalRuntime) -> None:
    """A key that itself contains a dot is found as is before digging."""
    workflow = AsyncWorkflowBuilder("wf").add_node("n", lambda: {"a.b": 1, "a": {"b": 2}})
    assert (await runtime.execute(workflow)).get_output("n", "a.b") == 1


@pytest.mark.asyncio
async def test_get_output_missing_key_lists_the_keys(runtime: AsyncLocalRuntime) -> None:
    """A missing key raises KeyError naming the node, the key and the keys there are."""
    result = await _nested(runtime)
    with pytest.raises(KeyError, match=r"node 'n' has no output 'data.cols'; its keys: "):
        result.get_output("n", "data.cols")


@pytest.mark.asyncio
async def test_get_output_unknown_node_lists_the_nodes(runtime: AsyncLocalRuntime) -> None:
    """An unknown node id raises KeyError naming the workflow and its nodes."""
    result = await _nested(runtime)
    with pytest.raises(KeyError, match=r"workflow 'report' has no node 'm'; nodes: \['n'\]"):
        result.get_output("m")


@pytest.mark.asyncio
async def test_skipped_node_has_no_output(runtime: AsyncLocalRuntime) -> None:
    """get_output of a node that never ran says it was skipped."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("bad", "raise ValueError('x')")
        .add_async_code("later", "v = 1")
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    with pytest.raises(KeyError, match=r"node 'later' has no output: its status is 'skipped'"):
        result.get_output("later")


@pytest.mark.asyncio
async def test_timings_give_start_end_and_duration(runtime: AsyncLocalRuntime) -> None:
    """Each node that ran has a timing on the loop clock whose duration covers its work."""
    loop = asyncio.get_running_loop()
    before = loop.time()
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("sleepy", "await asyncio.sleep(0.03)\nv = 1")
        .add_async_code("quick", "w = v")
        .add_connection("sleepy", "v", "quick", "v")
    )
    result = await runtime.execute(workflow)
    after = loop.time()
    sleepy, quick = result.timings["sleepy"], result.timings["quick"]
    assert isinstance(sleepy, NodeTiming)
    assert before <= sleepy.start <= sleepy.end <= quick.start <= quick.end <= after
    assert sleepy.duration == pytest.approx(sleepy.end - sleepy.start)
    assert 0.03 <= sleepy.duration < 1.0
    assert quick.duration < sleepy.duration


@pytest.mark.asyncio
async def test_execution_time_covers_the_run(runtime: AsyncLocalRuntime) -> None:
    """execution_time is the whole run in seconds, at least the sum of sequential nodes."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("a", "await asyncio.sleep(0.02)")
        .add_async_code("b", "await asyncio.sleep(0.02)")
    )
    result = await runtime.execute(workflow)
    assert 0.04 <= result.execution_time < 1.0
    total = sum(t.duration for t in result.timings.values())
    assert result.execution_time >= total


@pytest.mark.asyncio
async def test_nodes_that_never_started_have_no_timing(runtime: AsyncLocalRuntime) -> None:
    """Only nodes that started appear in ``timings``."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("bad", "raise ValueError('x')")
        .add_async_code("later", "v = 1")
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert list(result.timings) == ["bad"]


@pytest.mark.asyncio
async def test_node_status_lists_every_node_in_order_added(runtime: AsyncLocalRuntime) -> None:
    """node_status has one entry per node, in the order the nodes were added."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("z", "v = 1")
        .add_async_code("y", "raise ValueError('y')")
        .add_async_code("x", "v = 1")
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert list(result.node_status.items()) == [
        ("z", "completed"),
        ("y", "failed"),
        ("x", "skipped"),
    ]


@pytest.mark.asyncio
async def test_errors_maps_the_failed_node_to_its_exception(runtime: AsyncLocalRuntime) -> None:
    """``errors`` holds the exception the node raised, and ``error`` the first one."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("y", "raise ValueError('bad y')")
    result = await runtime.execute(workflow, raise_on_error=False)
    assert list(result.errors) == ["y"]
    assert isinstance(result.errors["y"], ValueError) and str(result.errors["y"]) == "bad y"
    assert result.error is result.errors["y"]


@pytest.mark.asyncio
async def test_describe_errors_shows_node_and_traceback(runtime: AsyncLocalRuntime) -> None:
    """describe_errors() gives each failed node with its traceback and source line."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("y", "v = 1\nraise ValueError('bad y')")
    result = await runtime.execute(workflow, raise_on_error=False)
    text = result.describe_errors()
    assert text.startswith("node 'y' (failed):\nTraceback (most recent call last):")
    # the file name gets a " #n" suffix when another code string used this node id before
    assert re.search(r"File \"<node 'y'( #\d+)?>\", line 2, in <module>\n", text)
    assert text.endswith("ValueError: bad y\nraised by node 'y' of workflow 'wf'")


def test_node_timing_duration_is_end_minus_start() -> None:
    """NodeTiming.duration is ``end - start``."""
    assert NodeTiming(start=2.0, end=3.5).duration == 1.5


@pytest.mark.asyncio
async def test_the_raised_error_carries_the_result_of_its_execution() -> None:
    """The exception execute() raises keeps the failed run's result for reports."""
    from awaitflow._results import result_of

    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("ok", "result = {'v': 1}")
        .add_async_code("boom", "raise ValueError('no')")
        .build()
    )
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(ValueError, match="no") as caught:
            await runtime.execute(workflow)
    result = result_of(caught.value)
    assert result is not None
    assert result.node_status == {"ok": "completed", "boom": "failed"}
    assert result.outputs == {"ok": {"v": 1}}
