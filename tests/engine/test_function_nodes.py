"""Function nodes: async and plain callables, parameters filled by name, outputs (SPEC 1)."""

from __future__ import annotations

import asyncio
import functools
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder


async def _run(
    runtime: AsyncLocalRuntime,
    func: Callable[..., Any],
    inputs: dict[str, Any] | None = None,
    *,
    parameters: dict[str, Any] | None = None,
    fed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The output of node ``n`` running ``func``, fed ``fed`` through connections from ``src``."""
    builder = AsyncWorkflowBuilder("wf")
    if fed is not None:
        builder.add_node("src", lambda: dict(fed))
    builder.add_node("n", func)
    for name in fed or {}:
        builder.add_connection("src", name, "n", name)
    result = await runtime.execute(
        builder, inputs, parameters={"n": parameters} if parameters is not None else None
    )
    output: dict[str, Any] = result.outputs["n"]
    return output


@pytest.mark.asyncio
async def test_async_function_node_output_is_its_dict(runtime: AsyncLocalRuntime) -> None:
    """An ``async def`` node returning a dict has that dict as output."""

    async def fetch() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"rows": [1, 2]}

    assert await _run(runtime, fetch) == {"rows": [1, 2]}


@pytest.mark.asyncio
async def test_plain_function_node_runs(runtime: AsyncLocalRuntime) -> None:
    """A plain ``def`` node runs and its dict is the output."""

    def compute() -> dict[str, int]:
        return {"answer": 42}

    assert await _run(runtime, compute) == {"answer": 42}


@pytest.mark.parametrize("value", [7, "text", [1, 2], None])
@pytest.mark.asyncio
async def test_non_dict_return_is_stored_under_result(
    runtime: AsyncLocalRuntime, value: Any
) -> None:
    """A returned value that is not a dict is stored as ``{"result": value}``."""

    async def give() -> Any:
        return value

    assert await _run(runtime, give) == {"result": value}


@pytest.mark.asyncio
async def test_parameters_are_filled_from_inputs_by_name(runtime: AsyncLocalRuntime) -> None:
    """Each parameter takes the workflow input of its name."""

    async def add(a: int, b: int) -> int:
        return a + b

    assert await _run(runtime, add, {"a": 2, "b": 3, "unused": 0}) == {"result": 5}


@pytest.mark.asyncio
async def test_parameter_named_inputs_gets_the_inputs_dict(runtime: AsyncLocalRuntime) -> None:
    """A parameter called ``inputs`` receives the dict of every input."""

    def echo(inputs: dict[str, Any]) -> dict[str, Any]:
        return dict(inputs)

    assert await _run(runtime, echo, {"x": 1, "y": 2}) == {"x": 1, "y": 2}


@pytest.mark.asyncio
async def test_parameters_are_filled_from_node_parameters(runtime: AsyncLocalRuntime) -> None:
    """Per-node parameters fill the function's parameters and win over inputs."""

    def pick(item_id: int) -> int:
        return item_id

    assert await _run(runtime, pick, {"item_id": 1}, parameters={"item_id": 2}) == {"result": 2}


@pytest.mark.asyncio
async def test_parameters_are_filled_from_connections(runtime: AsyncLocalRuntime) -> None:
    """Connection values fill parameters and win over parameters and inputs."""

    def pick(x: str) -> str:
        return x

    output = await _run(runtime, pick, {"x": "input"}, parameters={"x": "param"}, fed={"x": "conn"})
    assert output == {"result": "conn"}


@pytest.mark.asyncio
async def test_parameters_can_take_runtime_helpers(runtime: AsyncLocalRuntime) -> None:
    """``get_resource``, registered functions, ``asyncio`` and ``time`` fill parameters too."""

    def double(v: int) -> int:
        return v * 2

    runtime.register_function(double)
    runtime.register_resource("db", lambda: "the db")

    async def use(
        get_resource: Callable[[str], Any], double: Callable[[int], int], asyncio: Any, time: Any
    ) -> dict[str, Any]:
        return {"db": await get_resource("db"), "d": double(4), "a": asyncio, "t": time}

    output = await _run(runtime, use)
    assert output == {"db": "the db", "d": 8, "a": asyncio, "t": time}


@pytest.mark.asyncio
async def test_default_is_used_when_no_value_has_the_name(runtime: AsyncLocalRuntime) -> None:
    """A parameter with a default keeps it when nothing of its name is available."""

    def scale(v: int, factor: int = 10) -> int:
        return v * factor

    assert await _run(runtime, scale, {"v": 2}) == {"result": 20}
    assert await _run(runtime, scale, {"v": 2, "factor": 3}) == {"result": 6}


@pytest.mark.asyncio
async def test_var_keyword_receives_inputs_parameters_and_connections(
    runtime: AsyncLocalRuntime,
) -> None:
    """``**kwargs`` receives every input, parameter and connection value, the closest winning."""

    def collect(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    output = await _run(
        runtime,
        collect,
        {"i": "input", "x": "input"},
        parameters={"p": "param", "x": "param"},
        fed={"c": "conn"},
    )
    assert output == {"i": "input", "p": "param", "c": "conn", "x": "param"}


@pytest.mark.asyncio
async def test_missing_parameter_names_the_node_and_the_parameter(
    runtime: AsyncLocalRuntime,
) -> None:
    """A required parameter nothing can fill fails the node with a TypeError naming both."""

    def needs(customer_id: int) -> int:
        return customer_id

    with pytest.raises(TypeError, match=r"node 'n': no value for parameter 'customer_id'"):
        await _run(runtime, needs, {"customer": 1})


@pytest.mark.asyncio
async def test_missing_parameter_marks_the_node_failed(runtime: AsyncLocalRuntime) -> None:
    """With raise_on_error=False the node that could not be called is ``"failed"``."""

    def needs(customer_id: int) -> int:
        return customer_id

    workflow = AsyncWorkflowBuilder("wf").add_node("n", needs).build()
    result = await runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"n": "failed"}
    assert isinstance(result.errors["n"], TypeError)


@pytest.mark.asyncio
async def test_callable_object_with_async_call_is_awaited(runtime: AsyncLocalRuntime) -> None:
    """An object whose ``__call__`` is ``async def`` is a function node."""

    class Step:
        async def __call__(self, v: int) -> dict[str, int]:
            await asyncio.sleep(0)
            return {"v": v + 1}

    assert await _run(runtime, Step(), {"v": 1}) == {"v": 2}


@pytest.mark.asyncio
async def test_partial_of_an_async_function_is_awaited(runtime: AsyncLocalRuntime) -> None:
    """A ``functools.partial`` of an async function is awaited, its bound arguments kept."""

    async def power(base: int, exp: int) -> int:
        return int(base**exp)

    assert await _run(runtime, functools.partial(power, exp=3), {"base": 2}) == {"result": 8}


@pytest.mark.asyncio
async def test_function_exception_keeps_type_message_and_frame(runtime: AsyncLocalRuntime) -> None:
    """A function node's exception propagates as is; its traceback shows the function."""

    async def explode() -> None:
        await asyncio.sleep(0)
        raise PermissionError("no access to /data")

    with pytest.raises(PermissionError, match=r"^no access to /data\nraised by node 'n'") as info:
        await _run(runtime, explode)
    text = "".join(traceback.format_exception(info.value))
    assert 'in explode\n    raise PermissionError("no access to /data")' in text


@pytest.mark.asyncio
async def test_function_and_code_nodes_connect_both_ways(runtime: AsyncLocalRuntime) -> None:
    """Function nodes feed code nodes and code nodes feed function nodes."""

    def total(values: list[int]) -> dict[str, int]:
        return {"sum": sum(values)}

    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("make", "result = {'values': [1, 2, 3]}")
        .add_node("total", total)
        .add_async_code("report", "result = {'line': f'sum={s}'}")
        .add_connection("make", "values", "total", "values")
        .add_connection("total", "sum", "report", "s")
        .build()
    )
    result = await runtime.execute(workflow)
    assert result.get_output("report", "line") == "sum=6"


@pytest.mark.asyncio
async def test_each_call_of_a_function_node_gets_fresh_arguments(
    runtime: AsyncLocalRuntime,
) -> None:
    """Concurrent executions call the function with their own values."""

    async def echo(tag: int) -> int:
        await asyncio.sleep(0)
        return tag

    workflow = AsyncWorkflowBuilder("wf").add_node("n", echo).build()
    results = await asyncio.gather(*(runtime.execute(workflow, {"tag": i}) for i in range(10)))
    assert [r.get_output("n", "result") for r in results] == list(range(10))


@pytest.mark.asyncio
async def test_plain_function_returning_an_awaitable_is_awaited(
    runtime: AsyncLocalRuntime,
) -> None:
    """A plain function that returns a coroutine has the coroutine's value as output."""

    async def later() -> dict[str, str]:
        return {"done": "yes"}

    def start() -> Any:
        return later()

    assert await _run(runtime, start) == {"done": "yes"}
