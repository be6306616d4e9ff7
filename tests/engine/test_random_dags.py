"""Random DAGs: sequential and parallel executions match a plain reference evaluation.

Each generated graph has 1 to 15 nodes; node ``k`` in topological position may read
outputs (a key, or the dotted path ``nested.v``) of nodes before it. Nodes are added
to the builder in a random order, so the sequential order is a real choice among
ready nodes. Bodies are code strings (binding ``result`` or bare variables) or
Python functions (sync or async), so every kind of node takes part.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, Workflow

from ._support import EventLog

KEYS = ("a", "b", "c")
KINDS = ("code_result", "code_vars", "func_sync", "func_async")


@dataclass
class NodeSpec:
    """One generated node: its body kind, constant, output keys and incoming edges."""

    index: int
    kind: str
    constant: int
    keys: list[str]
    sleeps: bool
    # (source index, source output path, target input name)
    edges: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        """The node id: ``n`` followed by its topological position."""
        return f"n{self.index}"


@dataclass
class Dag:
    """A generated graph, the order its nodes are added in, and the input ``seed``."""

    nodes: list[NodeSpec]
    add_order: list[int]
    seed: int


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """A random DAG with edges from earlier to later topological positions."""
    count = draw(st.integers(min_value=1, max_value=15))
    nodes: list[NodeSpec] = []
    for index in range(count):
        keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
        spec = NodeSpec(
            index=index,
            kind=draw(st.sampled_from(KINDS)),
            constant=draw(st.integers(min_value=-20, max_value=20)),
            keys=keys,
            sleeps=draw(st.booleans()),
        )
        if index:
            sources = draw(
                st.lists(
                    st.integers(min_value=0, max_value=index - 1),
                    max_size=min(index, 4),
                    unique=True,
                )
            )
            for j, source in enumerate(sources):
                path = draw(st.sampled_from([*nodes[source].keys, "nested.v"]))
                spec.edges.append((source, path, f"in{j}"))
        nodes.append(spec)
    add_order = draw(st.permutations(list(range(count))))
    return Dag(nodes, add_order, draw(st.integers(min_value=-5, max_value=5)))


# -- the reference: a plain topological fold --------------------------------------------------


def _values(total: int, keys: list[str]) -> dict[str, Any]:
    output: dict[str, Any] = {key: total * (p + 1) + p for p, key in enumerate(keys)}
    output["nested"] = {"v": total}
    return output


def _dig(output: dict[str, Any], path: str) -> Any:
    value: Any = output
    for part in path.split("."):
        value = value[part]
    return value


def reference_outputs(dag: Dag) -> dict[str, dict[str, Any]]:
    """Every node's output, folding the nodes in topological position order."""
    outputs: dict[str, dict[str, Any]] = {}
    for spec in dag.nodes:
        incoming = [_dig(outputs[f"n{s}"], path) for s, path, _ in spec.edges]
        outputs[spec.node_id] = _values(spec.constant + dag.seed + sum(incoming), spec.keys)
    return outputs


def reference_sequential_order(dag: Dag) -> list[str]:
    """Of the ready nodes, the one added first runs next."""
    added = {index: position for position, index in enumerate(dag.add_order)}
    waiting = {s.index: len({src for src, _, _ in s.edges}) for s in dag.nodes}
    downstream: dict[int, set[int]] = {s.index: set() for s in dag.nodes}
    for spec in dag.nodes:
        for source, _, _ in spec.edges:
            downstream[source].add(spec.index)
    ready = [(added[i], i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, index = heapq.heappop(ready)
        order.append(f"n{index}")
        for nxt in downstream[index]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, (added[nxt], nxt))
    return order


# -- the workflow under test ------------------------------------------------------------------


def _code(spec: NodeSpec) -> str:
    inputs = " + ".join(name for _, _, name in spec.edges) or "0"
    lines = ["await asyncio.sleep(0)"] if spec.sleeps else []
    lines.append(f"_total = {spec.constant} + seed + {inputs}")
    if spec.kind == "code_result":
        body = ", ".join(f"{k!r}: _total * {p + 1} + {p}" for p, k in enumerate(spec.keys))
        lines.append(f"result = {{{body}, 'nested': {{'v': _total}}}}")
    else:
        lines += [f"{k} = _total * {p + 1} + {p}" for p, k in enumerate(spec.keys)]
        lines.append("nested = {'v': _total}")
    return "\n".join(lines)


def _function(spec: NodeSpec) -> Any:
    def compute(seed: int, **values: Any) -> dict[str, Any]:
        incoming = sum(v for name, v in values.items() if name.startswith("in"))
        return _values(spec.constant + seed + incoming, spec.keys)

    async def compute_async(seed: int, **values: Any) -> dict[str, Any]:
        if spec.sleeps:
            await asyncio.sleep(0)
        return compute(seed, **values)

    return compute if spec.kind == "func_sync" else compute_async


def build(dag: Dag, *, parallel: bool) -> Workflow:
    """The awaitflow workflow of ``dag``."""
    builder = AsyncWorkflowBuilder("random")
    for index in dag.add_order:
        spec = dag.nodes[index]
        if spec.kind.startswith("code"):
            builder.add_async_code(spec.node_id, _code(spec))
        else:
            builder.add_node(spec.node_id, _function(spec))
    for spec in dag.nodes:
        for source, path, name in spec.edges:
            builder.add_connection(f"n{source}", path, spec.node_id, name)
    if parallel:
        builder.with_parallel_execution()
    return builder.build()


async def _execute(workflow: Workflow, seed: int) -> tuple[dict[str, dict[str, Any]], EventLog]:
    log = EventLog()
    async with AsyncLocalRuntime() as runtime:
        runtime.subscribe(log)
        result = await runtime.execute(workflow, {"seed": seed})
    return result.outputs, log


_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@_SETTINGS
@given(dags())
def test_sequential_execution_matches_the_reference(dag: Dag) -> None:
    """Sequential outputs equal the reference fold, in the deterministic topological order."""
    outputs, log = asyncio.run(_execute(build(dag, parallel=False), dag.seed))
    assert outputs == reference_outputs(dag)
    assert log.node_sequence("node_started") == reference_sequential_order(dag)


@_SETTINGS
@given(dags())
def test_parallel_execution_matches_the_reference(dag: Dag) -> None:
    """Parallel outputs equal the reference fold; each node starts after its sources completed."""
    outputs, log = asyncio.run(_execute(build(dag, parallel=True), dag.seed))
    assert outputs == reference_outputs(dag)
    position = {(e.kind, e.node_id): i for i, e in enumerate(log.events)}
    for spec in dag.nodes:
        for source, _, _ in spec.edges:
            completed = position[("node_completed", f"n{source}")]
            assert completed < position[("node_started", spec.node_id)]
