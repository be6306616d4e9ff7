"""Connections: keys, dotted paths, ``result`` as the whole output, MissingOutputError (SPEC 1)."""

from __future__ import annotations

from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, MissingOutputError

from ._support import EventLog


def _pair(source_code: str, source_output: str, target_input: str = "v") -> AsyncWorkflowBuilder:
    """``src`` running ``source_code`` connected to ``dst``, which outputs what it received."""
    return (
        AsyncWorkflowBuilder("wf")
        .add_async_code("src", source_code)
        .add_async_code("dst", f"result = {{'got': {target_input}}}")
        .add_connection("src", source_output, "dst", target_input)
    )


async def _received(runtime: AsyncLocalRuntime, source_code: str, source_output: str) -> Any:
    result = await runtime.execute(_pair(source_code, source_output))
    return result.get_output("dst", "got")


@pytest.mark.asyncio
async def test_output_key_becomes_the_target_variable(runtime: AsyncLocalRuntime) -> None:
    """The value of the named key of the source's output is the target's variable."""
    received = await _received(runtime, "result = {'products': ['a', 'b'], 'n': 2}", "products")
    assert received == ["a", "b"]


@pytest.mark.asyncio
async def test_dotted_path_digs_into_nested_dicts(runtime: AsyncLocalRuntime) -> None:
    """``"a.b.c"`` follows nested dicts."""
    received = await _received(runtime, "result = {'a': {'b': {'c': 3, 'd': 4}}}", "a.b.c")
    assert received == 3


@pytest.mark.asyncio
async def test_result_names_the_whole_output_without_a_result_key(
    runtime: AsyncLocalRuntime,
) -> None:
    """``"result"`` gives the whole output dict when the output has no key ``result``."""
    received = await _received(runtime, "result = {'x': 1, 'y': 2}", "result")
    assert received == {"x": 1, "y": 2}


@pytest.mark.asyncio
async def test_result_names_the_result_key_when_there_is_one(runtime: AsyncLocalRuntime) -> None:
    """``"result"`` gives the value of key ``result`` when the output has one."""
    assert await _received(runtime, "result = [1, 2, 3]", "result") == [1, 2, 3]


@pytest.mark.asyncio
async def test_result_dotted_path_digs_into_the_whole_output(runtime: AsyncLocalRuntime) -> None:
    """``"result.data"`` reads key ``data`` of an output that has no key ``result``."""
    received = await _received(runtime, "result = {'data': {'rows': 5}}", "result.data")
    assert received == {"rows": 5}


@pytest.mark.asyncio
async def test_result_dotted_path_digs_into_the_result_key(runtime: AsyncLocalRuntime) -> None:
    """``"result.data"`` reads ``data`` inside the ``result`` key when the output has one."""
    received = await _received(runtime, "result = {'result': {'data': 9}}", "result.data")
    assert received == 9


@pytest.mark.asyncio
async def test_one_output_feeds_several_targets(runtime: AsyncLocalRuntime) -> None:
    """A source output can be connected to any number of targets and inputs."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("src", "result = {'n': 4}")
        .add_async_code("double", "result = {'v': n * 2}")
        .add_async_code("both", "result = {'v': a + b}")
        .add_connection("src", "n", "double", "n")
        .add_connection("src", "n", "both", "a")
        .add_connection("src", "n", "both", "b")
        .build()
    )
    result = await runtime.execute(workflow)
    assert (result.get_output("double", "v"), result.get_output("both", "v")) == (8, 8)


@pytest.mark.asyncio
async def test_a_node_waits_for_every_source(runtime: AsyncLocalRuntime) -> None:
    """A node fed by several sources sees every one of their values."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("users", "result = {'count': 3}")
        .add_async_code("orders", "result = {'count': 5}")
        .add_async_code("merge", "result = {'total': u + o}")
        .add_connection("users", "count", "merge", "u")
        .add_connection("orders", "count", "merge", "o")
        .with_parallel_execution()
        .build()
    )
    assert (await runtime.execute(workflow)).get_output("merge", "total") == 8


# -- MissingOutputError --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_missing_key_raises_missing_output_error(runtime: AsyncLocalRuntime) -> None:
    """A connection naming a key the source lacks raises MissingOutputError, a KeyError."""
    with pytest.raises(KeyError) as info:
        await runtime.execute(_pair("result = {'rows': 1, 'cols': 2}", "rowz"))
    assert isinstance(info.value, MissingOutputError)


@pytest.mark.asyncio
async def test_missing_key_message_names_source_key_target_and_keys(
    runtime: AsyncLocalRuntime,
) -> None:
    """The message names the source node, the key, the target node and the existing keys."""
    with pytest.raises(
        MissingOutputError,
        match=r"node 'src' has no output 'rowz' needed by node 'dst'; "
        r"its output keys are: 'cols', 'rows'",
    ) as info:
        await runtime.execute(_pair("result = {'rows': 1, 'cols': 2}", "rowz"))
    error = info.value
    assert (error.source, error.key, error.target) == ("src", "rowz", "dst")
    assert error.available == ["cols", "rows"]


@pytest.mark.asyncio
async def test_missing_nested_key_names_the_keys_where_it_stopped(
    runtime: AsyncLocalRuntime,
) -> None:
    """A dotted path that breaks inside a nested dict lists the keys at that level."""
    with pytest.raises(
        MissingOutputError,
        match=r"node 'src' has no output 'data.rowz' needed by node 'dst'; "
        r"its output keys are: 'rows'",
    ):
        await runtime.execute(_pair("result = {'data': {'rows': 1}}", "data.rowz"))


@pytest.mark.asyncio
async def test_missing_key_is_raised_before_the_target_starts(runtime: AsyncLocalRuntime) -> None:
    """The target's code never runs, no node_started is emitted for it, its status is failed."""
    ran: list[str] = []
    log = EventLog()
    runtime.subscribe(log)
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("src", "result = {'a': 1}")
        .add_node("dst", lambda b: ran.append("dst"))
        .add_connection("src", "b", "dst", "b")
        .build()
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert ran == []
    assert log.node_sequence("node_started") == ["src"]
    assert result.node_status == {"src": "completed", "dst": "failed"}
    assert isinstance(result.errors["dst"], MissingOutputError)


@pytest.mark.asyncio
async def test_missing_key_in_parallel_mode_fails_the_target(runtime: AsyncLocalRuntime) -> None:
    """In parallel mode too the target fails before starting and downstream is skipped."""
    workflow = (
        _pair("result = {'a': 1}", "b")
        .add_async_code("after", "x = v")
        .add_connection("dst", "got", "after", "v")
        .with_parallel_execution()
        .build()
    )
    result = await runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"src": "completed", "dst": "failed", "after": "skipped"}
