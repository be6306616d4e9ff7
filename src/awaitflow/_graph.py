"""Workflow: the immutable, validated graph of nodes and connections (pure data)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._resilience import CircuitBreaker, RetryPolicy

__all__ = ["Connection", "Node", "Workflow"]


@dataclass(frozen=True, slots=True)
class Connection:
    """``source_output`` of ``source``'s output becomes ``target_input`` of ``target``."""

    source: str
    source_output: str
    target: str
    target_input: str

    @property
    def path(self) -> tuple[str, ...]:
        """The source output as a tuple of keys."""
        return tuple(self.source_output.split("."))


@dataclass(frozen=True, slots=True)
class FunctionParameter:
    """One parameter of a function node, filled by name at run time."""

    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class Node:
    """One step of a workflow: a code string or a Python callable."""

    node_id: str
    index: int
    kind: Literal["code", "function"]
    is_async: bool
    code: types.CodeType | None = None
    source: str | None = None
    stored_names: frozenset[str] = frozenset()
    func: Callable[..., Any] | None = None
    parameters: tuple[FunctionParameter, ...] = ()
    accepts_any: bool = False
    timeout: float | None = None
    retry: RetryPolicy | None = None
    circuit_breaker: CircuitBreaker | None = None
    incoming: tuple[Connection, ...] = ()
    upstream: tuple[str, ...] = ()
    downstream: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """A short text saying what the node runs."""
        if self.kind == "code":
            return "code"
        return getattr(self.func, "__qualname__", repr(self.func))


@dataclass(frozen=True, slots=True)
class Workflow:
    """An immutable, validated workflow, built by ``AsyncWorkflowBuilder.build()``.

    It can be executed any number of times, concurrently.
    """

    name: str
    nodes: Mapping[str, Node]
    connections: tuple[Connection, ...]
    order: tuple[str, ...]
    roots: tuple[str, ...]
    parallel: bool = False
    max_concurrency: int | None = None
    timeout: float | None = None
    deadlock_detection: bool = False
    deadlock_timeout: float = 5.0

    def __repr__(self) -> str:
        mode = "parallel" if self.parallel else "sequential"
        return f"Workflow({self.name!r}, nodes={len(self.nodes)}, {mode})"

    def to_mermaid(self) -> str:
        """The workflow as a Mermaid flowchart.

        Code nodes are rectangles, function nodes rounded; each edge is labelled with
        what it carries (``output → input``, or the one name when both match), and
        several connections between the same two nodes share one edge.
        """

        def text(value: str) -> str:
            for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
                value = value.replace(char, code)
            return value

        ids = {node_id: f"n{i}" for i, node_id in enumerate(self.nodes)}
        title = " ".join(self.name.split())
        lines = ["flowchart TD", f"    %% workflow: {title}"]
        for node_id, node in self.nodes.items():
            label = text(node_id)
            shape = f'["{label}"]' if node.kind == "code" else f'(["{label}"])'
            lines.append(f"    {ids[node_id]}{shape}")
        edges: dict[tuple[str, str], list[str]] = {}
        for conn in self.connections:
            carried = (
                conn.source_output
                if conn.source_output == conn.target_input
                else f"{conn.source_output} → {conn.target_input}"
            )
            edges.setdefault((conn.source, conn.target), []).append(carried)
        for (source, target), labels in edges.items():
            label = text(", ".join(labels))
            lines.append(f'    {ids[source]} -->|"{label}"| {ids[target]}')
        return "\n".join(lines) + "\n"


def describe_function(
    node_id: str, func: Callable[..., Any]
) -> tuple[bool, tuple[FunctionParameter, ...], bool]:
    """(is_async, parameters, accepts_any) of a node's callable."""
    from ._exceptions import WorkflowValidationError

    if not callable(func):
        raise WorkflowValidationError(
            f"node {node_id!r}: expected a callable, got {type(func).__name__}", node_id=node_id
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise WorkflowValidationError(
            f"node {node_id!r}: cannot read the signature of {func!r}: {exc}", node_id=node_id
        ) from exc
    params: list[FunctionParameter] = []
    accepts_any = False
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            accepts_any = True
        elif p.kind is p.VAR_POSITIONAL:
            continue
        elif p.kind is p.POSITIONAL_ONLY:
            if p.default is p.empty:
                raise WorkflowValidationError(
                    f"node {node_id!r}: parameter {p.name!r} of {func!r} is positional-only; "
                    "node parameters are filled by name",
                    node_id=node_id,
                )
        else:
            params.append(FunctionParameter(p.name, p.default is p.empty))
    call = getattr(func, "__call__", None)  # noqa: B004
    is_async = inspect.iscoroutinefunction(func) or (
        call is not None and inspect.iscoroutinefunction(call)
    )
    return is_async, tuple(params), accepts_any
