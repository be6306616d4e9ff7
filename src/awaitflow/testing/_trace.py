"""Assertions on when nodes ran, read from a WorkflowResult's timings.

They use the loop clock's timings, so they hold in virtual time too. Each failure
message draws the run as a text timeline.
"""

from __future__ import annotations

from .._results import WorkflowResult

__all__ = [
    "assert_max_concurrency",
    "assert_ran_before",
    "assert_ran_concurrently",
    "text_timeline",
]

_STATUS_MARK = {"completed": "█", "failed": "✗", "cancelled": "░"}


def text_timeline(result: WorkflowResult, width: int = 50) -> str:
    """Each node as a bar of characters on a shared time axis."""
    if not result.timings:
        return "(no node ran)"
    start = min(t.start for t in result.timings.values())
    end = max(t.end for t in result.timings.values())
    span = (end - start) or 1.0
    label_width = max(len(n) for n in result.node_status)
    lines = []
    for node_id in sorted(result.timings, key=lambda n: (result.timings[n].start, n)):
        timing = result.timings[node_id]
        first = int((timing.start - start) / span * width)
        last = max(first + 1, round((timing.end - start) / span * width))
        mark = _STATUS_MARK.get(result.node_status.get(node_id, ""), "?")
        bar = " " * first + mark * (last - first)
        lines.append(
            f"{node_id:<{label_width}} |{bar:<{width}}| "
            f"{timing.start - start:.3f}s..{timing.end - start:.3f}s"
        )
    for node_id, status in result.node_status.items():
        if node_id not in result.timings:
            lines.append(f"{node_id:<{label_width}} |{'':<{width}}| {status}")
    return "\n".join(lines)


def _timing(result: WorkflowResult, node_id: str) -> tuple[float, float]:
    __tracebackhide__ = True
    timing = result.timings.get(node_id)
    if timing is None:
        status = result.node_status.get(node_id, "not a node of this workflow")
        raise AssertionError(f"node {node_id!r} never ran ({status})\n{text_timeline(result)}")
    return timing.start, timing.end


def assert_ran_concurrently(result: WorkflowResult, *node_ids: str) -> None:
    """Fail unless the nodes' run intervals all overlap at some moment."""
    __tracebackhide__ = True
    if len(node_ids) < 2:
        raise ValueError("assert_ran_concurrently needs at least two node ids")
    spans = [_timing(result, n) for n in node_ids]
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    if latest_start >= earliest_end:
        raise AssertionError(
            f"nodes {', '.join(map(repr, node_ids))} did not run concurrently: the last to "
            f"start began {latest_start - earliest_end:.3f}s after the first to end finished\n"
            f"{text_timeline(result)}"
        )


def assert_ran_before(result: WorkflowResult, first: str, second: str) -> None:
    """Fail unless ``first`` ended before (or as) ``second`` started."""
    __tracebackhide__ = True
    _, first_end = _timing(result, first)
    second_start, _ = _timing(result, second)
    if first_end > second_start:
        raise AssertionError(
            f"node {first!r} did not run before {second!r}: it ended "
            f"{first_end - second_start:.3f}s after {second!r} started\n{text_timeline(result)}"
        )


def max_concurrency(result: WorkflowResult) -> int:
    """The most nodes that were running at one moment."""
    edges = []
    for timing in result.timings.values():
        edges.append((timing.start, 1))
        edges.append((timing.end, -1))
    running = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def assert_max_concurrency(result: WorkflowResult, limit: int) -> None:
    """Fail when more than ``limit`` nodes were running at one moment."""
    __tracebackhide__ = True
    peak = max_concurrency(result)
    if peak > limit:
        raise AssertionError(
            f"{peak} nodes ran at once, more than the limit of {limit}\n{text_timeline(result)}"
        )
