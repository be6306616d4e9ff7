"""AsyncWorkflowBuilder: fluent assembly of a workflow; every check happens in build()."""

from __future__ import annotations

import heapq
import keyword
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ._code import compile_node_code, is_async_code, stored_names
from ._exceptions import WorkflowValidationError
from ._graph import Connection, Node, Workflow, describe_function
from ._resilience import CircuitBreaker, RetryPolicy

__all__ = ["AsyncWorkflowBuilder"]


@dataclass(slots=True)
class _NodeSpec:
    node_id: Any
    code: Any = None
    func: Any = None
    timeout: Any = None
    retry: Any = None
    circuit_breaker: Any = None


class AsyncWorkflowBuilder:
    """Assemble a workflow step by step; every method returns the builder.

    >>> wf = (AsyncWorkflowBuilder("hello")
    ...       .add_async_code("greet", "result = {'msg': f'Hello {name}!'}")
    ...       .build())
    """

    def __init__(self, name: str = "workflow") -> None:
        if not isinstance(name, str) or not name:
            raise WorkflowValidationError(f"a workflow name must be a non-empty str, got {name!r}")
        self.name = name
        self._specs: list[_NodeSpec] = []
        self._connections: list[Connection] = []
        self._parallel = False
        self._max_concurrency: int | None = None
        self._timeout: float | None = None
        self._deadlock_detection = False
        self._deadlock_timeout = 5.0

    def add_async_code(
        self,
        node_id: str,
        code: str,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
    ) -> AsyncWorkflowBuilder:
        """Add a node whose body is a string of Python source (top-level ``await`` allowed)."""
        self._specs.append(
            _NodeSpec(
                node_id, code=code, timeout=timeout, retry=retry, circuit_breaker=circuit_breaker
            )
        )
        return self

    def add_node(
        self,
        node_id: str,
        func: Callable[..., Any],
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
    ) -> AsyncWorkflowBuilder:
        """Add a node whose body is a Python callable; its parameters are filled by name."""
        self._specs.append(
            _NodeSpec(
                node_id, func=func, timeout=timeout, retry=retry, circuit_breaker=circuit_breaker
            )
        )
        return self

    def add_connection(
        self, source: str, source_output: str, target: str, target_input: str
    ) -> AsyncWorkflowBuilder:
        """Feed ``source_output`` of ``source`` (a dotted path digs in) to ``target_input``."""
        self._connections.append(Connection(source, source_output, target, target_input))
        return self

    def with_parallel_execution(self, max_concurrency: int | None = None) -> AsyncWorkflowBuilder:
        """Start each node as soon as its inputs are ready, at most ``max_concurrency`` at once."""
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise WorkflowValidationError(
                f"max_concurrency must be a positive int or None, got {max_concurrency!r}"
            )
        self._parallel = True
        self._max_concurrency = max_concurrency
        return self

    def with_timeout(self, seconds: float) -> AsyncWorkflowBuilder:
        """Bound the whole execution to ``seconds``."""
        self._timeout = _positive("workflow timeout", seconds)
        return self

    def with_deadlock_detection(self, timeout: float = 5.0) -> AsyncWorkflowBuilder:
        """Raise DeadlockError when nodes wait on each other or make no progress for ``timeout``."""
        self._deadlock_detection = True
        self._deadlock_timeout = _positive("deadlock timeout", timeout)
        return self

    def build(self) -> Workflow:
        """Validate and return an immutable :class:`Workflow`."""
        specs = self._check_nodes()
        incoming, upstream, downstream = self._check_connections(specs)
        order = _topological_order(list(specs), upstream, downstream)
        nodes: dict[str, Node] = {}
        for index, (node_id, spec) in enumerate(specs.items()):
            common: dict[str, Any] = {
                "node_id": node_id,
                "index": index,
                "timeout": spec.timeout,
                "retry": spec.retry,
                "circuit_breaker": spec.circuit_breaker,
                "incoming": tuple(incoming[node_id]),
                "upstream": tuple(upstream[node_id]),
                "downstream": tuple(downstream[node_id]),
            }
            if spec.func is None:
                code, source = compile_node_code(node_id, spec.code)
                nodes[node_id] = Node(
                    kind="code",
                    is_async=is_async_code(code),
                    code=code,
                    source=source,
                    stored_names=stored_names(code),
                    **common,
                )
            else:
                is_async, params, accepts_any = describe_function(node_id, spec.func)
                nodes[node_id] = Node(
                    kind="function",
                    is_async=is_async,
                    func=spec.func,
                    parameters=params,
                    accepts_any=accepts_any,
                    **common,
                )
        return Workflow(
            name=self.name,
            nodes=MappingProxyType(nodes),
            connections=tuple(self._connections),
            order=tuple(order),
            roots=tuple(n for n in specs if not upstream[n]),
            parallel=self._parallel,
            max_concurrency=self._max_concurrency,
            timeout=self._timeout,
            deadlock_detection=self._deadlock_detection,
            deadlock_timeout=self._deadlock_timeout,
        )

    def _check_nodes(self) -> dict[str, _NodeSpec]:
        specs: dict[str, _NodeSpec] = {}
        for spec in self._specs:
            node_id = spec.node_id
            if not isinstance(node_id, str) or not node_id:
                raise WorkflowValidationError(f"a node id must be a non-empty str, got {node_id!r}")
            if node_id in specs:
                raise WorkflowValidationError(
                    f"duplicate node id {node_id!r} in workflow {self.name!r}", node_id=node_id
                )
            if spec.timeout is not None:
                _positive(f"timeout of node {node_id!r}", spec.timeout, node_id)
            if spec.retry is not None and not isinstance(spec.retry, RetryPolicy):
                raise WorkflowValidationError(
                    f"node {node_id!r}: retry must be a RetryPolicy, "
                    f"got {type(spec.retry).__name__}",
                    node_id=node_id,
                )
            if spec.circuit_breaker is not None and not isinstance(
                spec.circuit_breaker, CircuitBreaker
            ):
                raise WorkflowValidationError(
                    f"node {node_id!r}: circuit_breaker must be a CircuitBreaker, "
                    f"got {type(spec.circuit_breaker).__name__}",
                    node_id=node_id,
                )
            specs[node_id] = spec
        return specs

    def _check_connections(
        self, specs: dict[str, _NodeSpec]
    ) -> tuple[dict[str, list[Connection]], dict[str, list[str]], dict[str, list[str]]]:
        incoming: dict[str, list[Connection]] = {n: [] for n in specs}
        upstream: dict[str, list[str]] = {n: [] for n in specs}
        downstream: dict[str, list[str]] = {n: [] for n in specs}
        known = ", ".join(map(repr, specs)) or "(none)"
        for conn in self._connections:
            for role, node_id in (("source", conn.source), ("target", conn.target)):
                if node_id not in specs:
                    raise WorkflowValidationError(
                        f"connection {conn.source!r}.{conn.source_output} -> "
                        f"{conn.target!r}.{conn.target_input}: unknown {role} node {node_id!r}; "
                        f"known nodes: {known}",
                        node_id=node_id,
                    )
            if (
                not isinstance(conn.source_output, str)
                or not conn.source_output
                or any(not part for part in conn.source_output.split("."))
            ):
                raise WorkflowValidationError(
                    f"connection from {conn.source!r}: source output must be a key or a dotted "
                    f"path, got {conn.source_output!r}",
                    node_id=conn.source,
                )
            name = conn.target_input
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise WorkflowValidationError(
                    f"connection to {conn.target!r}: target input {name!r} is not a Python "
                    "identifier (code nodes see it as a variable)",
                    node_id=conn.target,
                )
            for other in incoming[conn.target]:
                if other.target_input == name:
                    raise WorkflowValidationError(
                        f"node {conn.target!r} input {name!r} is fed twice: from "
                        f"{other.source!r}.{other.source_output} and "
                        f"{conn.source!r}.{conn.source_output}",
                        node_id=conn.target,
                    )
            incoming[conn.target].append(conn)
            if conn.source not in upstream[conn.target]:
                upstream[conn.target].append(conn.source)
                downstream[conn.source].append(conn.target)
        return incoming, upstream, downstream


def _positive(what: str, value: Any, node_id: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise WorkflowValidationError(
            f"{what} must be a positive number of seconds, got {value!r}", node_id=node_id
        )
    return float(value)


def _topological_order(
    ids: list[str], upstream: dict[str, list[str]], downstream: dict[str, list[str]]
) -> list[str]:
    """Of the nodes whose inputs are ready, the one added first comes next."""
    index = {node_id: i for i, node_id in enumerate(ids)}
    waiting = {n: len(upstream[n]) for n in ids}
    ready = [index[n] for n in ids if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node_id = ids[heapq.heappop(ready)]
        order.append(node_id)
        for nxt in downstream[node_id]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, index[nxt])
    if len(order) < len(ids):
        cycle = _find_cycle([n for n in ids if waiting[n] > 0], upstream)
        raise WorkflowValidationError(
            "connections form a cycle: " + " -> ".join(repr(n) for n in [*cycle, cycle[0]]),
            node_id=cycle[0],
        )
    return order


def _find_cycle(candidates: list[str], upstream: dict[str, list[str]]) -> list[str]:
    """A cycle among ``candidates``, in connection order.

    Every candidate still waits on an upstream candidate, so walking upstream
    from any of them must come back to a node already seen.
    """
    remaining = set(candidates)
    path: list[str] = []
    seen: dict[str, int] = {}
    node = candidates[0]
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(n for n in upstream[node] if n in remaining)
    cycle = path[seen[node] :]
    cycle.reverse()
    return cycle
