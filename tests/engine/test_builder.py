"""AsyncWorkflowBuilder: fluent assembly, and every validation error of build() (SPEC 1)."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pytest

from awaitflow import (
    AsyncLocalRuntime,
    AsyncWorkflowBuilder,
    CircuitBreaker,
    RetryPolicy,
    Workflow,
    WorkflowValidationError,
)


async def _noop() -> dict[str, Any]:
    return {}


def _chain(*ids: str) -> AsyncWorkflowBuilder:
    """A builder with code nodes ``ids``, each binding ``x``."""
    builder = AsyncWorkflowBuilder("wf")
    for node_id in ids:
        builder.add_async_code(node_id, "x = 1")
    return builder


# -- fluent assembly ----------------------------------------------------------------------


def test_every_builder_method_returns_the_builder() -> None:
    """Each builder method returns the builder itself, so calls chain."""
    builder = AsyncWorkflowBuilder("wf")
    assert builder.add_async_code("a", "x = 1") is builder
    assert builder.add_node("b", _noop) is builder
    assert builder.add_connection("a", "x", "b", "x") is builder
    assert builder.with_parallel_execution(max_concurrency=2) is builder
    assert builder.with_timeout(5) is builder
    assert builder.with_deadlock_detection(timeout=1.0) is builder


def test_build_returns_a_workflow_with_its_settings() -> None:
    """build() returns a Workflow carrying the name, nodes and execution settings."""
    workflow = (
        _chain("a", "b")
        .add_connection("a", "x", "b", "y")
        .with_parallel_execution(max_concurrency=3)
        .with_timeout(2.5)
        .with_deadlock_detection(timeout=0.5)
        .build()
    )
    assert isinstance(workflow, Workflow)
    assert workflow.name == "wf"
    assert list(workflow.nodes) == ["a", "b"]
    assert (workflow.parallel, workflow.max_concurrency) == (True, 3)
    assert workflow.timeout == 2.5
    assert (workflow.deadlock_detection, workflow.deadlock_timeout) == (True, 0.5)


def test_built_workflow_is_immutable() -> None:
    """A built Workflow refuses attribute assignment and node-table changes."""
    workflow = _chain("a").build()
    with pytest.raises(dataclasses.FrozenInstanceError):
        workflow.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        workflow.nodes["b"] = workflow.nodes["a"]  # type: ignore[index]


def test_changing_the_builder_after_build_leaves_the_workflow_alone() -> None:
    """Nodes added to a builder after build() do not appear in the workflow already built."""
    builder = _chain("a")
    workflow = builder.build()
    builder.add_async_code("b", "x = 2").with_parallel_execution()
    assert list(workflow.nodes) == ["a"]
    assert workflow.parallel is False


@pytest.mark.asyncio
async def test_runtime_accepts_a_builder_where_a_workflow_is_expected() -> None:
    """execute() takes a builder and builds it on the spot."""
    async with AsyncLocalRuntime() as runtime:
        result = await runtime.execute(AsyncWorkflowBuilder("wf").add_async_code("a", "y = 7"))
    assert result.outputs == {"a": {"y": 7}}


@pytest.mark.asyncio
async def test_a_built_workflow_runs_any_number_of_times() -> None:
    """One Workflow executes again and again with the same outcome."""
    workflow = _chain("a").build()
    async with AsyncLocalRuntime() as runtime:
        outputs = [(await runtime.execute(workflow)).outputs for _ in range(3)]
    assert outputs == [{"a": {"x": 1}}] * 3


# -- validation: nodes ----------------------------------------------------------------------


def test_duplicate_node_id_is_refused() -> None:
    """Two nodes with one id: build() names the id and the workflow."""
    builder = _chain("load", "load")
    with pytest.raises(WorkflowValidationError, match=r"duplicate node id 'load' in workflow 'wf'"):
        builder.build()


def test_duplicate_id_across_code_and_function_nodes_is_refused() -> None:
    """A function node may not reuse the id of a code node."""
    builder = _chain("step").add_node("step", _noop)
    with pytest.raises(WorkflowValidationError, match=r"duplicate node id 'step'"):
        builder.build()


def test_validation_error_keeps_the_culprit_node_id() -> None:
    """WorkflowValidationError is a ValueError and carries the node id in ``node_id``."""
    with pytest.raises(ValueError, match="duplicate") as info:
        _chain("n", "n").build()
    assert isinstance(info.value, WorkflowValidationError)
    assert info.value.node_id == "n"


@pytest.mark.parametrize("bad_id", ["", None, 3])
def test_node_id_must_be_a_non_empty_string(bad_id: Any) -> None:
    """A node id that is not a non-empty str is refused, quoting it."""
    builder = AsyncWorkflowBuilder("wf").add_async_code(bad_id, "x = 1")
    with pytest.raises(WorkflowValidationError, match=r"node id must be a non-empty str, got "):
        builder.build()


@pytest.mark.parametrize("bad_name", ["", None])
def test_workflow_name_must_be_a_non_empty_string(bad_name: Any) -> None:
    """A workflow needs a non-empty name."""
    with pytest.raises(WorkflowValidationError, match=r"workflow name must be a non-empty str"):
        AsyncWorkflowBuilder(bad_name)


def test_code_must_be_a_string() -> None:
    """A code node whose code is not a str is refused, naming the node and the type."""
    builder = AsyncWorkflowBuilder("wf").add_async_code("n", 42)  # type: ignore[arg-type]
    with pytest.raises(WorkflowValidationError, match=r"node 'n': code must be a str, got int"):
        builder.build()


def test_function_node_needs_a_callable() -> None:
    """A function node whose body is not callable is refused, naming the node."""
    builder = AsyncWorkflowBuilder("wf").add_node("f", "not callable")  # type: ignore[arg-type]
    with pytest.raises(WorkflowValidationError, match=r"node 'f': expected a callable, got str"):
        builder.build()


def test_positional_only_parameter_without_default_is_refused() -> None:
    """Parameters are filled by name, so a required positional-only one cannot be filled."""

    def func(x: int, /) -> int:
        return x

    builder = AsyncWorkflowBuilder("wf").add_node("f", func)
    with pytest.raises(
        WorkflowValidationError, match=r"node 'f': parameter 'x' of .* is positional-only"
    ):
        builder.build()


def test_retry_must_be_a_retry_policy() -> None:
    """retry= takes a RetryPolicy; anything else is refused, naming the node."""
    builder = AsyncWorkflowBuilder("wf").add_async_code("n", "x = 1", retry=3)  # type: ignore[arg-type]
    with pytest.raises(
        WorkflowValidationError, match=r"node 'n': retry must be a RetryPolicy, got int"
    ):
        builder.build()


def test_circuit_breaker_must_be_a_circuit_breaker() -> None:
    """circuit_breaker= takes a CircuitBreaker; anything else is refused, naming the node."""
    builder = AsyncWorkflowBuilder("wf").add_node(
        "n",
        _noop,
        circuit_breaker=object(),  # type: ignore[arg-type]
    )
    with pytest.raises(
        WorkflowValidationError, match=r"node 'n': circuit_breaker must be a CircuitBreaker"
    ):
        builder.build()


def test_node_settings_are_accepted() -> None:
    """Valid timeout, retry and circuit breaker settings reach the built node."""
    policy, breaker = RetryPolicy(max_attempts=2), CircuitBreaker()
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("n", "x = 1", timeout=0.5, retry=policy, circuit_breaker=breaker)
        .build()
    )
    node = workflow.nodes["n"]
    assert (node.timeout, node.retry, node.circuit_breaker) == (0.5, policy, breaker)


# -- validation: timeouts and limits -------------------------------------------------------

_BAD_SECONDS = [0, -1, -0.5, True, "1"]


@pytest.mark.parametrize("bad", _BAD_SECONDS)
def test_node_timeout_must_be_a_positive_number(bad: Any) -> None:
    """timeout= on a node must be a positive number of seconds; the error names the node."""
    builder = AsyncWorkflowBuilder("wf").add_async_code("slow", "x = 1", timeout=bad)
    with pytest.raises(
        WorkflowValidationError,
        match=rf"timeout of node 'slow' must be a positive number of seconds, "
        rf"got {re.escape(repr(bad))}",
    ):
        builder.build()


@pytest.mark.parametrize("bad", _BAD_SECONDS)
def test_workflow_timeout_must_be_a_positive_number(bad: Any) -> None:
    """with_timeout() needs a positive number of seconds."""
    with pytest.raises(
        WorkflowValidationError,
        match=rf"workflow timeout must be a positive number of seconds, "
        rf"got {re.escape(repr(bad))}",
    ):
        _chain("a").with_timeout(bad).build()


@pytest.mark.parametrize("bad", _BAD_SECONDS)
def test_deadlock_timeout_must_be_a_positive_number(bad: Any) -> None:
    """with_deadlock_detection() needs a positive number of seconds."""
    with pytest.raises(
        WorkflowValidationError,
        match=rf"deadlock timeout must be a positive number of seconds, "
        rf"got {re.escape(repr(bad))}",
    ):
        _chain("a").with_deadlock_detection(bad).build()


def test_nan_timeout_is_refused() -> None:
    """A NaN timeout is not a positive number of seconds and is refused."""
    with pytest.raises(WorkflowValidationError, match=r"workflow timeout must be a positive"):
        _chain("a").with_timeout(math.nan).build()


@pytest.mark.parametrize("bad", [0, -2, 1.5, "3"])
def test_max_concurrency_must_be_a_positive_int(bad: Any) -> None:
    """with_parallel_execution(max_concurrency=) takes a positive int or None."""
    with pytest.raises(
        WorkflowValidationError,
        match=rf"max_concurrency must be a positive int or None, got {re.escape(repr(bad))}",
    ):
        _chain("a").with_parallel_execution(max_concurrency=bad).build()


def test_max_concurrency_true_is_refused() -> None:
    """max_concurrency=True is not a count and is refused like the timeouts refuse bools."""
    with pytest.raises(
        WorkflowValidationError, match=r"max_concurrency must be a positive int or None, got True"
    ):
        _chain("a").with_parallel_execution(max_concurrency=True).build()


# -- validation: connections ---------------------------------------------------------------


def test_connection_from_an_unknown_source_lists_the_known_ids() -> None:
    """A connection from a node that does not exist names it and every known id."""
    builder = _chain("extract", "load").add_connection("transform", "x", "load", "x")
    with pytest.raises(
        WorkflowValidationError,
        match=r"unknown source node 'transform'; known nodes: 'extract', 'load'",
    ):
        builder.build()


def test_connection_to_an_unknown_target_lists_the_known_ids() -> None:
    """A connection to a node that does not exist names it and every known id."""
    builder = _chain("extract", "load").add_connection("extract", "x", "laod", "x")
    with pytest.raises(
        WorkflowValidationError, match=r"unknown target node 'laod'; known nodes: 'extract', 'load'"
    ):
        builder.build()


@pytest.mark.parametrize("bad_input", ["bad-name", "1x", "two words", "", "class", "None"])
def test_target_input_must_be_a_python_identifier(bad_input: str) -> None:
    """The target input becomes a variable, so it must be an identifier and not a keyword."""
    builder = _chain("a", "b").add_connection("a", "x", "b", bad_input)
    with pytest.raises(
        WorkflowValidationError,
        match=rf"connection to 'b': target input {re.escape(repr(bad_input))} is not a Python "
        r"identifier",
    ):
        builder.build()


@pytest.mark.parametrize("bad_output", ["", "a..b", ".a", "a."])
def test_source_output_must_be_a_key_or_dotted_path(bad_output: str) -> None:
    """An empty source output or one with an empty dotted part is refused."""
    builder = _chain("a", "b").add_connection("a", bad_output, "b", "x")
    with pytest.raises(
        WorkflowValidationError,
        match=rf"connection from 'a': source output must be a key or a dotted path, got "
        rf"{re.escape(repr(bad_output))}",
    ):
        builder.build()


def test_one_input_fed_by_two_connections_is_refused() -> None:
    """Two connections into the same target input are ambiguous and refused."""
    builder = (
        _chain("a", "b", "c").add_connection("a", "x", "c", "v").add_connection("b", "x", "c", "v")
    )
    with pytest.raises(
        WorkflowValidationError, match=r"node 'c' input 'v' is fed twice: from 'a'.x and 'b'.x"
    ):
        builder.build()


def _cycle_in_message(message: str) -> list[str]:
    match = re.search(r"cycle: (.*)$", message)
    assert match is not None, message
    return re.findall(r"'([^']*)'", match.group(1))


def _rotations(cycle: list[str]) -> list[list[str]]:
    return [cycle[i:] + cycle[:i] for i in range(len(cycle))]


def test_cycle_of_connections_names_its_nodes_in_order() -> None:
    """a -> b -> c -> a is refused, the message walking the cycle along the connections."""
    builder = (
        _chain("a", "b", "c")
        .add_connection("a", "x", "b", "x")
        .add_connection("b", "x", "c", "x")
        .add_connection("c", "x", "a", "x")
    )
    with pytest.raises(WorkflowValidationError, match=r"connections form a cycle: ") as info:
        builder.build()
    walked = _cycle_in_message(str(info.value))
    assert walked[0] == walked[-1]
    assert walked[:-1] in _rotations(["a", "b", "c"])


def test_cycle_message_names_only_the_nodes_of_the_cycle() -> None:
    """Nodes upstream or downstream of a cycle are not named in its message."""
    builder = (
        _chain("root", "p", "q", "leaf")
        .add_connection("root", "x", "p", "r")
        .add_connection("p", "x", "q", "x")
        .add_connection("q", "x", "p", "x")
        .add_connection("q", "x", "leaf", "x")
    )
    with pytest.raises(WorkflowValidationError, match=r"connections form a cycle: ") as info:
        builder.build()
    walked = _cycle_in_message(str(info.value))
    assert walked[:-1] in _rotations(["p", "q"])


def test_node_connected_to_itself_is_a_cycle() -> None:
    """A self-loop is the smallest cycle."""
    builder = _chain("a").add_connection("a", "x", "a", "y")
    with pytest.raises(WorkflowValidationError, match=r"connections form a cycle: 'a' -> 'a'"):
        builder.build()


# -- validation: code ----------------------------------------------------------------------


def test_syntax_error_names_node_line_column_and_the_offending_line() -> None:
    """A syntax error in a code string is refused at build with node, line, column and text."""
    builder = AsyncWorkflowBuilder("wf").add_async_code("parse", "x = 1\ny = 2 +\nz = 3\n")
    with pytest.raises(
        WorkflowValidationError,
        match=r"node 'parse': syntax error at line 2, column 8: invalid syntax\n    y = 2 \+\n",
    ):
        builder.build()


def test_syntax_error_in_indented_code_shows_the_dedented_line() -> None:
    """Code indented inside triple quotes is dedented before its error is reported."""
    code = """
        total = 0
        for item in items
            total += item
    """
    builder = AsyncWorkflowBuilder("wf").add_async_code("sum_items", code)
    with pytest.raises(
        WorkflowValidationError,
        match=r"node 'sum_items': syntax error at line 2, column 18: expected ':'\n"
        r"    for item in items\n",
    ):
        builder.build()


def test_syntax_error_is_raised_by_build_not_by_add() -> None:
    """Adding bad code is accepted; build() is where the workflow is refused."""
    builder = AsyncWorkflowBuilder("wf").add_async_code("bad", "def (:")
    with pytest.raises(WorkflowValidationError, match=r"node 'bad': syntax error at line 1"):
        builder.build()


def test_await_outside_a_function_is_not_a_syntax_error() -> None:
    """Top-level await, async for and async with compile."""
    code = "await asyncio.sleep(0)\nasync for x in gen():\n    pass\nasync with cm():\n    pass\n"
    workflow = AsyncWorkflowBuilder("wf").add_async_code("n", code).build()
    assert "n" in workflow.nodes


# -- execute() arguments -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_execute_refuses_what_is_neither_workflow_nor_builder() -> None:
    """execute() of anything else names the type it got."""
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(
            TypeError, match=r"execute\(\) needs a Workflow or an AsyncWorkflowBuilder, got dict"
        ):
            await runtime.execute({"nodes": []})  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_execute_refuses_inputs_that_are_not_a_mapping() -> None:
    """inputs must map names to values."""
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(
            TypeError, match=r"inputs must be a mapping of names to values, got list"
        ):
            await runtime.execute(_chain("a"), [1, 2])  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_execute_refuses_parameters_for_unknown_nodes() -> None:
    """parameters= naming a node the workflow lacks is refused, listing the nodes."""
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(
            KeyError,
            match=r"parameters name unknown nodes \['b'\] of workflow 'wf'; nodes: \['a'\]",
        ):
            await runtime.execute(_chain("a"), parameters={"b": {"x": 1}})
