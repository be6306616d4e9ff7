"""Code nodes: dedent, top-level await, namespace, output rules, tracebacks, compiling (SPEC 1)."""

from __future__ import annotations

import asyncio
import builtins
import re
import time
import traceback
import types
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, WorkflowResult


async def _run(
    runtime: AsyncLocalRuntime,
    code: str,
    inputs: dict[str, Any] | None = None,
    *,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The output of a one-node workflow whose node ``n`` runs ``code``."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", code).build()
    result = await runtime.execute(
        workflow, inputs, parameters={"n": parameters} if parameters is not None else None
    )
    output: dict[str, Any] = result.outputs["n"]
    return output


async def _run_fed(
    runtime: AsyncLocalRuntime,
    code: str,
    fed: dict[str, Any],
    inputs: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The output of node ``n`` running ``code``, fed ``fed`` through connections from ``src``."""
    builder = (
        AsyncWorkflowBuilder("wf").add_node("src", lambda: dict(fed)).add_async_code("n", code)
    )
    for name in fed:
        builder.add_connection("src", name, "n", name)
    result = await runtime.execute(
        builder, inputs, parameters={"n": parameters} if parameters is not None else None
    )
    output: dict[str, Any] = result.outputs["n"]
    return output


# -- the code itself ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_code_indented_in_triple_quotes_is_dedented(runtime: AsyncLocalRuntime) -> None:
    """Code indented as a whole, as inside a method's triple quotes, runs."""
    code = """
        values = [1, 2, 3]
        if values:
            result = {"total": sum(values)}
    """
    assert await _run(runtime, code) == {"total": 6}


@pytest.mark.asyncio
async def test_code_without_await_runs(runtime: AsyncLocalRuntime) -> None:
    """Plain synchronous code is a valid node body."""
    assert await _run(runtime, "result = {'square': 7 * 7}") == {"square": 49}


@pytest.mark.asyncio
async def test_top_level_await_works(runtime: AsyncLocalRuntime) -> None:
    """``await`` at the top level of the code string is allowed."""
    code = "await asyncio.sleep(0)\nresult = {'value': await make()}"

    async def make() -> int:
        return 5

    runtime.register_function(make)
    assert await _run(runtime, code) == {"value": 5}


@pytest.mark.asyncio
async def test_top_level_async_for_works(runtime: AsyncLocalRuntime) -> None:
    """``async for`` at the top level of the code string is allowed."""

    async def numbers() -> AsyncIterator[int]:
        for i in range(4):
            await asyncio.sleep(0)
            yield i

    code = "seen = []\nasync for n in numbers():\n    seen.append(n)\nresult = {'seen': seen}"
    runtime.register_function(numbers)
    assert await _run(runtime, code) == {"seen": [0, 1, 2, 3]}


@pytest.mark.asyncio
async def test_top_level_async_with_works(runtime: AsyncLocalRuntime) -> None:
    """``async with`` at the top level of the code string is allowed, and exits run."""
    events: list[str] = []

    @asynccontextmanager
    async def session() -> AsyncIterator[str]:
        events.append("enter")
        yield "conn"
        events.append("exit")

    code = "async with session() as s:\n    result = {'used': s}"
    runtime.register_function(session)
    assert await _run(runtime, code) == {"used": "conn"}
    assert events == ["enter", "exit"]


# -- output rules --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dict_result_is_the_output(runtime: AsyncLocalRuntime) -> None:
    """A dict bound to ``result`` is the node's output, other variables aside."""
    assert await _run(runtime, "helper = 1\nresult = {'a': 1, 'b': [2]}") == {"a": 1, "b": [2]}


@pytest.mark.parametrize("value", ["42", "'text'", "[1, 2]", "None", "(1, 'x')"])
@pytest.mark.asyncio
async def test_non_dict_result_is_stored_under_result(
    runtime: AsyncLocalRuntime, value: str
) -> None:
    """Any non-dict value bound to ``result`` is stored as ``{"result": value}``."""
    assert await _run(runtime, f"result = {value}") == {"result": eval(value)}


@pytest.mark.asyncio
async def test_without_result_the_output_is_the_variables_bound(
    runtime: AsyncLocalRuntime,
) -> None:
    """Without ``result``, the output is every variable the code bound."""
    code = "count = 3\nnames = ['a']\nfor i in range(2):\n    pass\n"
    assert await _run(runtime, code) == {"count": 3, "names": ["a"], "i": 1}


@pytest.mark.asyncio
async def test_bound_output_leaves_out_injected_names(runtime: AsyncLocalRuntime) -> None:
    """Inputs, parameters and connections the code only read are not part of the output."""
    code = "total = x + p + c"
    output = await _run_fed(runtime, code, {"c": 100}, inputs={"x": 1}, parameters={"p": 10})
    assert output == {"total": 111}


@pytest.mark.asyncio
async def test_bound_output_keeps_an_injected_name_the_code_rebinds(
    runtime: AsyncLocalRuntime,
) -> None:
    """An input the code assigns to again is a variable the code bound, so it is output."""
    output = await _run(
        runtime, "status = 'done'\nsteps = steps + 1", {"status": "new", "steps": 1}
    )
    assert output == {"status": "done", "steps": 2}


@pytest.mark.asyncio
async def test_bound_output_does_not_depend_on_object_identity(
    runtime: AsyncLocalRuntime,
) -> None:
    """Rebinding an input to an equal value gives the same output whether or not it is cached."""
    same_object = await _run(runtime, "count = 1\ndone = True", {"count": 1})
    new_object = await _run(runtime, "count = int('1')\ndone = True", {"count": 1})
    assert same_object == new_object == {"count": 1, "done": True}


@pytest.mark.asyncio
async def test_bound_output_includes_a_walrus_target_in_a_comprehension(
    runtime: AsyncLocalRuntime,
) -> None:
    """``last`` bound by ``:=`` inside a top-level comprehension is a variable the code bound."""
    output = await _run(runtime, "values = [last := v * 2 for v in range(3)]")
    assert output == {"values": [0, 2, 4], "last": 4}


@pytest.mark.asyncio
async def test_bound_output_includes_globals_set_by_functions_of_the_code(
    runtime: AsyncLocalRuntime,
) -> None:
    """A name a function of the code assigns through ``global`` is bound by the code."""
    code = "def setup():\n    global configured\n    configured = True\nsetup()"
    assert await _run(runtime, code) == {"configured": True}


@pytest.mark.asyncio
async def test_bound_output_leaves_out_modules_functions_and_classes(
    runtime: AsyncLocalRuntime,
) -> None:
    """Modules imported, functions and classes defined by the code are not outputs."""
    code = """
        import json
        from os import path
        def helper():
            return 1
        class Thing:
            pass
        square = lambda v: v * v
        kept = helper() + square(2)
    """
    assert await _run(runtime, code) == {"kept": 5}


@pytest.mark.asyncio
async def test_bound_output_leaves_out_underscore_names(runtime: AsyncLocalRuntime) -> None:
    """Variables whose names start with ``_`` are private to the code."""
    assert await _run(runtime, "_tmp = 1\n__x = 2\nshown = _tmp + __x") == {"shown": 3}


@pytest.mark.asyncio
async def test_an_incoming_value_named_result_is_not_the_output(
    runtime: AsyncLocalRuntime,
) -> None:
    """A connection feeding ``result`` is injected, so the node's output is what it bound."""
    output = await _run_fed(runtime, "doubled = result * 2", {"result": 21})
    assert output == {"doubled": 42}


@pytest.mark.asyncio
async def test_code_binding_nothing_has_an_empty_output(runtime: AsyncLocalRuntime) -> None:
    """Code that binds nothing produces ``{}``."""
    assert await _run(runtime, "await asyncio.sleep(0)") == {}


# -- namespace -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_code_sees_the_builtins(runtime: AsyncLocalRuntime) -> None:
    """The builtins are there without an import."""
    assert await _run(runtime, "result = {'n': len(sorted({3, 1}))}") == {"n": 2}


@pytest.mark.asyncio
async def test_code_sees_asyncio_and_time_already_imported(runtime: AsyncLocalRuntime) -> None:
    """``asyncio`` and ``time`` are the real modules, with no import in the code."""
    output = await _run(runtime, "result = {'a': asyncio, 't': time}")
    assert output == {"a": asyncio, "t": time}


@pytest.mark.asyncio
async def test_code_sees_each_input_and_the_inputs_dict(runtime: AsyncLocalRuntime) -> None:
    """Each workflow input is a variable, and ``inputs`` is the dict of all of them."""
    output = await _run(runtime, "result = {'x': x, 'all': dict(inputs)}", {"x": 1, "y": 2})
    assert output == {"x": 1, "all": {"x": 1, "y": 2}}


@pytest.mark.asyncio
async def test_code_sees_its_parameters(runtime: AsyncLocalRuntime) -> None:
    """``parameters={node_id: {...}}`` at execution gives that node those variables."""
    assert await _run(runtime, "result = {'id': item_id}", parameters={"item_id": 9}) == {"id": 9}


@pytest.mark.asyncio
async def test_parameters_reach_only_their_node(runtime: AsyncLocalRuntime) -> None:
    """A node's parameters are not visible to the other nodes."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("a", "result = {'v': v}")
        .add_async_code("b", "result = {'seen': 'v' in dir()}")
        .build()
    )
    result = await runtime.execute(workflow, parameters={"a": {"v": 1}})
    assert result.outputs == {"a": {"v": 1}, "b": {"seen": False}}


@pytest.mark.asyncio
async def test_builtins_rank_below_asyncio_and_time(
    runtime: AsyncLocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A builtin named ``time`` is hidden by the ``time`` module."""
    monkeypatch.setattr(builtins, "time", "builtin", raising=False)
    assert await _run(runtime, "result = {'t': time}") == {"t": time}


@pytest.mark.asyncio
async def test_asyncio_and_time_rank_below_registered_functions(
    runtime: AsyncLocalRuntime,
) -> None:
    """A registered function named ``time`` hides the ``time`` module."""

    def fake_time() -> str:
        return "registered"

    runtime.register_function(fake_time, name="time")
    assert await _run(runtime, "result = {'t': time()}") == {"t": "registered"}


@pytest.mark.asyncio
async def test_registered_functions_rank_below_get_resource_and_wait_for_result(
    runtime: AsyncLocalRuntime,
) -> None:
    """Registered functions named ``get_resource`` or ``wait_for_result`` are hidden."""

    def impostor(name: str) -> str:
        return "registered"

    runtime.register_function(impostor, name="get_resource")
    runtime.register_function(impostor, name="wait_for_result")
    runtime.register_resource("db", lambda: "the db")
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("first", "result = {'v': 1}")
        .add_async_code(
            "n", "result = {'r': await get_resource('db'), 'w': await wait_for_result('first')}"
        )
    )
    result = await runtime.execute(workflow)
    assert result.get_output("n") == {"r": "the db", "w": {"v": 1}}


@pytest.mark.asyncio
async def test_get_resource_and_wait_for_result_rank_below_inputs(
    runtime: AsyncLocalRuntime,
) -> None:
    """An input named ``wait_for_result`` or ``get_resource`` hides the runtime's helper."""
    output = await _run(
        runtime,
        "result = {'w': wait_for_result, 'g': get_resource}",
        {"wait_for_result": "input w", "get_resource": "input g"},
    )
    assert output == {"w": "input w", "g": "input g"}


@pytest.mark.asyncio
async def test_inputs_rank_below_parameters(runtime: AsyncLocalRuntime) -> None:
    """A per-node parameter hides the workflow input of the same name."""
    output = await _run(runtime, "result = {'x': x}", {"x": "input"}, parameters={"x": "param"})
    assert output == {"x": "param"}


@pytest.mark.asyncio
async def test_inputs_dict_ranks_below_parameters(runtime: AsyncLocalRuntime) -> None:
    """A per-node parameter named ``inputs`` hides the dict of the inputs."""
    output = await _run(runtime, "result = {'i': inputs}", {"x": 1}, parameters={"inputs": "p"})
    assert output == {"i": "p"}


@pytest.mark.asyncio
async def test_parameters_rank_below_connections(runtime: AsyncLocalRuntime) -> None:
    """A connection's value hides the parameter and the input of the same name."""
    output = await _run_fed(
        runtime, "result = {'x': x}", {"x": "connection"}, {"x": "input"}, {"x": "param"}
    )
    assert output == {"x": "connection"}


# -- registered functions ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_registered_function_is_callable_by_its_name(runtime: AsyncLocalRuntime) -> None:
    """register_function(func) makes ``func`` callable by its ``__name__``."""

    async def fetch(n: int) -> list[int]:
        return list(range(n))

    runtime.register_function(fetch)
    assert await _run(runtime, "result = {'items': await fetch(3)}") == {"items": [0, 1, 2]}


@pytest.mark.asyncio
async def test_registered_function_takes_the_name_given(runtime: AsyncLocalRuntime) -> None:
    """register_function(func, name=) registers it under that name."""
    runtime.register_function(lambda v: v + 1, name="inc")
    assert await _run(runtime, "result = inc(1)") == {"result": 2}


@pytest.mark.asyncio
async def test_functions_registered_after_build_are_seen(runtime: AsyncLocalRuntime) -> None:
    """Functions are looked up at execution, so registering after build() works."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", "result = late()").build()
    runtime.register_function(lambda: "here", name="late")
    assert (await runtime.execute(workflow)).outputs["n"] == {"result": "here"}


def test_register_function_returns_the_function() -> None:
    """register_function returns its argument, so it also works as a decorator."""
    runtime = AsyncLocalRuntime()

    def helper() -> None:
        """Nothing."""

    assert runtime.register_function(helper) is helper
    assert runtime.functions == {"helper": helper}


def test_register_function_refuses_a_non_callable() -> None:
    """Registering something that cannot be called is refused, quoting it."""
    with pytest.raises(TypeError, match=r"register_function\(\) needs a callable, got 3"):
        AsyncLocalRuntime().register_function(3)  # type: ignore[type-var]


def test_register_function_refuses_a_name_that_is_not_an_identifier() -> None:
    """The name must be usable as a variable in code."""
    with pytest.raises(ValueError, match=r"register_function\(\): 'my-func' is not a usable name"):
        AsyncLocalRuntime().register_function(print, name="my-func")


# -- fresh namespaces ----------------------------------------------------------------------

_LEAK_PROBE = """
try:
    seen = leaked
except NameError:
    seen = None
leaked = "set"
"""


@pytest.mark.asyncio
async def test_variables_do_not_leak_between_executions(runtime: AsyncLocalRuntime) -> None:
    """A variable bound in one execution is unknown to the next."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", _LEAK_PROBE).build()
    first = await runtime.execute(workflow)
    second = await runtime.execute(workflow)
    assert first.outputs["n"]["seen"] is None
    assert second.outputs["n"]["seen"] is None


@pytest.mark.asyncio
async def test_variables_do_not_leak_between_nodes(runtime: AsyncLocalRuntime) -> None:
    """A variable bound by one node is unknown to the next one of the same execution."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("a", _LEAK_PROBE)
        .add_async_code("b", _LEAK_PROBE)
        .build()
    )
    result = await runtime.execute(workflow)
    assert (result.outputs["a"]["seen"], result.outputs["b"]["seen"]) == (None, None)


@pytest.mark.asyncio
async def test_variables_do_not_leak_between_concurrent_executions(
    runtime: AsyncLocalRuntime,
) -> None:
    """Concurrent executions of one workflow each see only their own variables."""
    code = "mine = tag\nawait asyncio.sleep(0)\nawait asyncio.sleep(0)\nresult = {'tag': mine}"
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", code).build()
    results = await asyncio.gather(*(runtime.execute(workflow, {"tag": i}) for i in range(20)))
    assert [r.outputs["n"]["tag"] for r in results] == list(range(20))


@pytest.mark.asyncio
async def test_caller_inputs_dict_is_not_changed_by_code(runtime: AsyncLocalRuntime) -> None:
    """A node adding a key to ``inputs`` does not change the dict the caller passed."""
    given = {"x": 1}
    await _run(runtime, "inputs['added'] = True", given)
    assert given == {"x": 1}


@pytest.mark.asyncio
async def test_inputs_dict_changes_do_not_leak_between_nodes(runtime: AsyncLocalRuntime) -> None:
    """A key one node adds to ``inputs`` is not seen by the next node."""
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("a", "inputs['added'] = True")
        .add_async_code("b", "result = {'seen': 'added' in inputs}")
        .build()
    )
    result = await runtime.execute(workflow, {"x": 1})
    assert result.outputs["b"] == {"seen": False}


# -- errors and tracebacks -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_exception_keeps_its_type_and_message(runtime: AsyncLocalRuntime) -> None:
    """An exception raised by node code reaches the caller with its own type and message."""
    with pytest.raises(LookupError, match=r"^no such product: 42\nraised by node 'n'") as info:
        await _run(runtime, "await asyncio.sleep(0)\nraise LookupError('no such product: 42')")
    assert type(info.value) is LookupError
    assert info.value.args == ("no such product: 42",)


@pytest.mark.asyncio
async def test_traceback_shows_the_code_line_under_the_node_name(
    runtime: AsyncLocalRuntime,
) -> None:
    """The formatted traceback names ``<node 'fetch_data'>`` and shows the failing source line."""
    code = """
        rows = [1, 2]
        await asyncio.sleep(0)
        missing = rows[5]
    """
    workflow = AsyncWorkflowBuilder("wf").add_async_code("fetch_data", code).build()
    with pytest.raises(IndexError) as info:
        await runtime.execute(workflow)
    text = "".join(traceback.format_exception(info.value))
    assert re.search(
        r"File \"<node 'fetch_data'( #\d+)?>\", line 3, in <module>\n    missing = rows\[5\]\n",
        text,
    )


@pytest.mark.asyncio
async def test_traceback_of_synchronous_code_shows_its_line(runtime: AsyncLocalRuntime) -> None:
    """Code without await also shows its own line in the traceback."""
    workflow = AsyncWorkflowBuilder("wf").add_async_code("calc", "a = 1\nb = a / 0\n").build()
    with pytest.raises(ZeroDivisionError) as info:
        await runtime.execute(workflow)
    text = "".join(traceback.format_exception(info.value))
    assert re.search(r"File \"<node 'calc'( #\d+)?>\", line 2, in <module>\n    b = a / 0\n", text)


# -- compiled once -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_code_is_compiled_once_at_build(
    runtime: AsyncLocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build() compiles a code string once (shared by nodes with the same code); executions
    never call ``compile``."""
    calls: list[object] = []
    real_compile: Callable[..., Any] = builtins.compile

    def counting_compile(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1] if len(args) > 1 else kwargs.get("filename"))
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counting_compile)
    code = "await asyncio.sleep(0)\nv = 'compiled once'"
    builder = AsyncWorkflowBuilder("wf").add_async_code("compiled_once", code)
    workflow = builder.add_async_code("same_code", code).build()
    assert len(calls) <= 1  # one compile for both nodes (none if this source was seen before)
    assert workflow.nodes["compiled_once"].code.co_filename == "<node 'compiled_once'>"
    assert workflow.nodes["same_code"].code.co_filename == "<node 'same_code'>"
    for _ in range(3):
        await runtime.execute(workflow)
    assert len(calls) <= 1


@pytest.mark.asyncio
async def test_every_execution_runs_the_same_code_object(runtime: AsyncLocalRuntime) -> None:
    """The code object compiled at build is the one each execution runs."""
    code = "import sys\nframe_code = sys._getframe().f_code\nawait asyncio.sleep(0)"
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", code).build()
    results: list[WorkflowResult] = [await runtime.execute(workflow) for _ in range(2)]
    first, second = (r.outputs["n"]["frame_code"] for r in results)
    assert isinstance(first, types.CodeType)
    assert first is second
    assert first is workflow.nodes["n"].code


@pytest.mark.asyncio
async def test_nodes_sharing_code_name_themselves_in_tracebacks(
    runtime: AsyncLocalRuntime,
) -> None:
    """Nodes built from one code string each show their own name, in nested functions too."""
    code = "def inner():\n    raise ValueError(tag)\ninner()"
    for node_id in ("first", "second"):
        workflow = AsyncWorkflowBuilder(node_id).add_async_code(node_id, code).build()
        with pytest.raises(ValueError) as caught:
            await runtime.execute(workflow, {"tag": node_id})
        text = "".join(traceback.format_exception(caught.value))
        assert re.search(rf"File \"<node '{node_id}'( #\d+)?>\", line 2, in inner", text)
        assert "raise ValueError(tag)" in text
