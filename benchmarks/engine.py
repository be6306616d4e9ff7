"""What the engine costs on this machine, next to plain asyncio doing the same work.

Run ``python benchmarks/engine.py [--repetitions N]``. Every awaitflow figure sits
next to a baseline measured in the same run: the same node code compiled once and
run with ``eval`` (its ``await asyncio.sleep(0)`` is the one loop yield per node),
awaited in the same shape as the workflow:

- chain: N nodes, each fed by the one before (baseline: sequential awaits);
- fan-out: one root and 1,000 children in parallel (baseline: ``gather``);
- 500 concurrent executions of a one-node workflow (baseline: ``gather``);
- build: ``build()`` of an N-node chain (baseline: compiling the N code strings);
- memory: tracemalloc peak while building and running a 10,000-node chain
  (baseline: the N compiled codes and the N output dicts the plain chain keeps);
- import: ``import awaitflow`` in a fresh interpreter (``import asyncio`` alone for
  reference; awaitflow imports asyncio itself).

Each figure is the median of the repetitions. Targets, printed pass/fail: per-node
cost at most 5x the baseline; a 10,000-node chain at most 12x a 1,000-node chain,
build included; ``import awaitflow`` under 50 ms.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, Workflow

NODE_CODE = "await asyncio.sleep(0)\nv = x + 1"
MAX_RATIO = 5.0
MAX_SCALING = 12.0
MAX_IMPORT = 0.050
SRC = Path(__file__).resolve().parent.parent / "src"


@dataclass
class Row:
    """One line of the table: a measurement, its baseline, and an optional target."""

    name: str
    unit: str
    value: float
    baseline: float | None = None
    limit: float | None = None  # the largest acceptable ratio (or value when no baseline)

    @property
    def ratio(self) -> float | None:
        """awaitflow's figure over the baseline's."""
        return None if self.baseline is None else self.value / self.baseline

    @property
    def passed(self) -> bool | None:
        """Whether the target is met (None when the row has no target)."""
        if self.limit is None:
            return None
        measured = self.ratio if self.ratio is not None else self.value
        return measured <= self.limit


class Samples:
    """Named lists of timings, filled round by round so that every measurement of a
    comparison sees the same machine load; figures are the medians."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        """Record one timing of ``name``."""
        self.values.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        """The median timing of ``name``."""
        return statistics.median(self.values[name])


# -- the workflows -------------------------------------------------------------------------------


def chain_builder(nodes: int) -> AsyncWorkflowBuilder:
    """``nodes`` code nodes, each fed ``x`` by the ``v`` of the one before."""
    builder = AsyncWorkflowBuilder(f"chain{nodes}")
    for i in range(nodes):
        builder.add_async_code(f"n{i}", NODE_CODE)
        if i:
            builder.add_connection(f"n{i - 1}", "v", f"n{i}", "x")
    return builder


def fan_out_workflow(children: int) -> Workflow:
    """One root feeding ``children`` nodes that run in parallel."""
    builder = AsyncWorkflowBuilder("fan_out").with_parallel_execution()
    builder.add_async_code("root", NODE_CODE)
    for i in range(children):
        builder.add_async_code(f"c{i}", NODE_CODE).add_connection("root", "v", f"c{i}", "x")
    return builder.build()


# -- the plain-asyncio baselines -----------------------------------------------------------------

BASELINE_CODE = compile(NODE_CODE, "<baseline>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def plain_node(x: int) -> dict[str, Any]:
    """Run the node code once in a fresh namespace and return what it bound."""
    namespace: dict[str, Any] = {"asyncio": asyncio, "x": x}
    await eval(BASELINE_CODE, namespace)
    return {"v": namespace["v"]}


async def plain_chain(nodes: int) -> dict[int, dict[str, Any]]:
    """The chain shape: each node awaited after the one before, fed its output."""
    outputs: dict[int, dict[str, Any]] = {}
    x = 0
    for i in range(nodes):
        outputs[i] = await plain_node(x)
        x = outputs[i]["v"]
    return outputs


async def plain_fan_out(children: int) -> list[dict[str, Any]]:
    """The fan-out shape: a root, then every child at once."""
    root = await plain_node(0)
    return await asyncio.gather(*(plain_node(root["v"]) for _ in range(children)))


def plain_build(nodes: int) -> list[types.CodeType]:
    """What a build must do at least: compile each node's code string."""
    return [
        compile(NODE_CODE, f"<n{i}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        for i in range(nodes)
    ]


# -- measurements --------------------------------------------------------------------------------


async def timed(work: Awaitable[Any]) -> float:
    """Seconds taken awaiting ``work``."""
    start = time.perf_counter()
    await work
    return time.perf_counter() - start


def timed_sync(work: Callable[[], Any]) -> float:
    """Seconds taken calling ``work``."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


async def measure_chains(sizes: tuple[int, int], repetitions: int) -> list[Row]:
    """Per-node run cost and build time of two chain sizes, and how the total scales."""
    runtime = AsyncLocalRuntime()
    workflows = {n: chain_builder(n).build() for n in sizes}
    samples = Samples()
    for _ in range(repetitions):
        for n in sizes:
            builder = chain_builder(n)
            gc.collect()
            samples.add(f"build {n}", timed_sync(builder.build))
            samples.add(f"plain build {n}", timed_sync(lambda n=n: plain_build(n)))  # type: ignore[misc]
            gc.collect()
            samples.add(f"run {n}", await timed(runtime.execute(workflows[n], {"x": 0})))
            samples.add(f"plain run {n}", await timed(plain_chain(n)))
    rows = [
        Row(
            f"chain of {n:,}, per node",
            "us",
            samples.median(f"run {n}") / n * 1e6,
            samples.median(f"plain run {n}") / n * 1e6,
            MAX_RATIO,
        )
        for n in sizes
    ]
    rows += [
        Row(
            f"build of {n:,} nodes",
            "ms",
            samples.median(f"build {n}") * 1e3,
            samples.median(f"plain build {n}") * 1e3,
        )
        for n in sizes
    ]
    small, big = (samples.median(f"build {n}") + samples.median(f"run {n}") for n in sizes)
    label = f"{sizes[1]:,} vs {sizes[0]:,} nodes, build + run"
    rows.append(Row(label, "x", big / small, None, MAX_SCALING))
    return rows


async def measure_pair(
    name: str,
    count: int,
    ours: Callable[[], Awaitable[Any]],
    plain: Callable[[], Awaitable[Any]],
    repetitions: int,
) -> Row:
    """Per-unit cost of ``ours`` next to ``plain``, each doing ``count`` units, interleaved."""
    samples = Samples()
    for _ in range(repetitions):
        gc.collect()
        samples.add("ours", await timed(ours()))
        gc.collect()
        samples.add("plain", await timed(plain()))
    return Row(
        name,
        "us",
        samples.median("ours") / count * 1e6,
        samples.median("plain") / count * 1e6,
        MAX_RATIO,
    )


async def measure_fan_out(children: int, repetitions: int) -> Row:
    """Per-node cost of one root and ``children`` parallel children."""
    workflow = fan_out_workflow(children)
    runtime = AsyncLocalRuntime()
    return await measure_pair(
        f"fan-out of {children:,}, per node",
        children + 1,
        lambda: runtime.execute(workflow, {"x": 0}),
        lambda: plain_fan_out(children),
        repetitions,
    )


async def measure_executions(count: int, repetitions: int) -> Row:
    """Per-execution cost of ``count`` concurrent executions of a one-node workflow."""
    workflow = AsyncWorkflowBuilder("one").add_async_code("n", NODE_CODE).build()
    runtime = AsyncLocalRuntime()

    async def awaitflow_runs() -> Any:
        return await asyncio.gather(*(runtime.execute(workflow, {"x": i}) for i in range(count)))

    async def plain_runs() -> Any:
        return await asyncio.gather(*(plain_node(i) for i in range(count)))

    return await measure_pair(
        f"{count} concurrent executions, per run", count, awaitflow_runs, plain_runs, repetitions
    )


async def measure_memory(nodes: int) -> Row:
    """tracemalloc peak while building and running an N-node chain, and the plain chain's."""

    async def awaitflow_peak() -> int:
        tracemalloc.start()
        workflow = chain_builder(nodes).build()
        result = await AsyncLocalRuntime().execute(workflow, {"x": 0})
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del workflow, result
        return peak

    async def plain_peak() -> int:
        tracemalloc.start()
        codes = plain_build(nodes)
        outputs = await plain_chain(nodes)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del codes, outputs
        return peak

    gc.collect()
    ours = await awaitflow_peak()
    gc.collect()
    base = await plain_peak()
    return Row(f"peak memory, {nodes:,} nodes", "MB", ours / 2**20, base / 2**20)


def import_seconds(module: str, repetitions: int, pycache: str) -> float:
    """The best of ``repetitions`` fresh-interpreter timings of ``import module``.

    Bytecode is cached in ``pycache`` (one warm-up run writes it), as it is after an
    install, even when the environment sets PYTHONDONTWRITEBYTECODE.
    """
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(SRC), PYTHONPYCACHEPREFIX=pycache)
    samples = []
    for _ in range(repetitions + 1):
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout
        samples.append(float(output))
    return min(samples[1:])


# -- the table -----------------------------------------------------------------------------------


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned text table."""
    header = ("measurement", "awaitflow", "asyncio", "ratio", "target", "")
    lines = [header]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        if row.limit is None:
            target = ""
        elif row.baseline is None:
            target = f"<= {row.limit:g} {row.unit}"
        else:
            target = f"<= {row.limit:g}x"
        verdict = {None: "", True: "pass", False: "FAIL"}[row.passed]
        baseline = "" if row.baseline is None else f"{row.baseline:,.2f} {row.unit}"
        lines.append((row.name, f"{row.value:,.2f} {row.unit}", baseline, ratio, target, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for n, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        rendered.append("  ".join(cells).rstrip())
        if n == 0:
            rendered.append("  ".join("-" * w for w in widths))
    return "\n".join(rendered)


async def run_benchmarks(repetitions: int) -> list[Row]:
    """Every measurement, in table order."""
    chains = await measure_chains((1_000, 10_000), repetitions)
    return [
        *chains[:2],
        await measure_fan_out(1_000, repetitions),
        await measure_executions(500, repetitions),
        *chains[2:],
        await measure_memory(10_000),
    ]


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repetitions", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args(argv)
    rows = asyncio.run(run_benchmarks(args.repetitions))
    imports = max(7, args.repetitions)
    with tempfile.TemporaryDirectory(prefix="awaitflow-bench-") as pycache:
        ours = import_seconds("awaitflow", imports, pycache)
        plain = import_seconds("asyncio", imports, pycache)
    rows.append(Row("import awaitflow (best)", "ms", ours * 1e3, None, MAX_IMPORT * 1e3))
    rows.append(Row("import asyncio alone (best)", "ms", plain * 1e3))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"awaitflow engine benchmark: Python {sys.version.split()[0]} on {sys.platform}, "
        f"{os.cpu_count()} CPUs, load average {load}; medians of {args.repetitions} "
        "interleaved runs"
    )
    print(format_table(rows))
    if any(row.passed is False for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
