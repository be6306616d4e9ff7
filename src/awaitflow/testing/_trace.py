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
_LEGEND = "█ completed  ✗ failed  ░ cancelled"


def _check_result(where: str, result: object) -> WorkflowResult:
    if not isinstance(result, WorkflowResult):
        raise TypeError(f"{where}() needs a WorkflowResult, got {type(result).__name__}")
    return result


def text_timeline(result: WorkflowResult, width: int = 50) -> str:
    """Draw each node as a bar on a shared time axis, in the order the nodes started.

    One line per node: its id, its bar (``█`` completed, ``✗`` failed, ``░``
    cancelled) and its start and end in seconds from the first start; nodes that
    never ran are listed with their status and no bar.
    """
    _check_result("text_timeline", result)
    if isinstance(width, bool) or not isinstance(width, int) or width < 10:
        raise ValueError(f"text_timeline(): width must be an int >= 10, got {width!r}")
    if not result.timings:
        return f"workflow {result.workflow!r}: no node ran"
    start = min(t.start for t in result.timings.values())
    end = max(t.end for t in result.timings.values())
    span = (end - start) or 1.0
    label_width = max(len(n) for n in [*result.node_status, *result.timings])
    lines = [f"workflow {result.workflow!r}, {end - start:.3f}s ({_LEGEND}):"]
    for node_id in sorted(result.timings, key=lambda n: (result.timings[n].start, n)):
        timing = result.timings[node_id]
        first = min(width - 1, int((timing.start - start) / span * width))
        last = min(width, max(first + 1, round((timing.end - start) / span * width)))
        mark = _STATUS_MARK.get(result.node_status.get(node_id, ""), "?")
        bar = " " * first + mark * (last - first)
        lines.append(
            f"  {node_id:<{label_width}} |{bar:<{width}}| "
            f"{timing.start - start:.3f}s..{timing.end - start:.3f}s"
        )
    for node_id, status in result.node_status.items():
        if node_id not in result.timings:
            lines.append(f"  {node_id:<{label_width}} |{'':<{width}}| {status}")
    return "\n".join(lines)


def _timing(result: WorkflowResult, node_id: str) -> tuple[float, float]:
    __tracebackhide__ = True
    timing = result.timings.get(node_id)
    if timing is None:
        status = result.node_status.get(node_id)
        why = f"its status is {status!r}" if status else "it is not a node of this workflow"
        raise AssertionError(f"node {node_id!r} never ran ({why})\n{text_timeline(result)}")
    return timing.start, timing.end


def assert_ran_concurrently(result: WorkflowResult, *node_ids: str) -> None:
    """Fail unless the nodes were all running at one same moment."""
    __tracebackhide__ = True
    _check_result("assert_ran_concurrently", result)
    if len(node_ids) < 2:
        raise ValueError("assert_ran_concurrently() needs at least two node ids")
    spans = {n: _timing(result, n) for n in node_ids}
    last_to_start = max(spans, key=lambda n: spans[n][0])
    first_to_end = min(spans, key=lambda n: spans[n][1])
    gap = spans[last_to_start][0] - spans[first_to_end][1]
    if gap >= 0:
        raise AssertionError(
            f"nodes {', '.join(map(repr, node_ids))} did not run concurrently: "
            f"{last_to_start!r} started {gap:.3f}s after {first_to_end!r} had ended\n"
            f"{text_timeline(result)}"
        )


def assert_ran_before(result: WorkflowResult, first: str, second: str) -> None:
    """Fail unless ``first`` ended before (or as) ``second`` started."""
    __tracebackhide__ = True
    _check_result("assert_ran_before", result)
    _, first_end = _timing(result, first)
    second_start, _ = _timing(result, second)
    if first_end > second_start:
        raise AssertionError(
            f"node {first!r} did not run before {second!r}: it ended "
            f"{first_end - second_start:.3f}s after {second!r} started\n{text_timeline(result)}"
        )


def _peak(result: WorkflowResult) -> tuple[int, float, list[str]]:
    """The most nodes running at one moment, that moment and those nodes.

    A node ending at the very moment another starts does not overlap it, and a
    node that took no time at all overlaps nothing.
    """
    edges: list[tuple[float, int, str]] = []
    for node_id, timing in result.timings.items():
        if timing.end <= timing.start:
            continue
        edges.append((timing.start, 1, node_id))
        edges.append((timing.end, -1, node_id))
    running: list[str] = []
    peak, when, who = 0, 0.0, []
    for moment, step, node_id in sorted(edges, key=lambda e: (e[0], e[1])):
        if step > 0:
            running.append(node_id)
            if len(running) > peak:
                peak, when, who = len(running), moment, list(running)
        else:
            running.remove(node_id)
    return peak, when, who


def assert_max_concurrency(result: WorkflowResult, limit: int) -> None:
    """Fail when more than ``limit`` nodes were running at one moment."""
    __tracebackhide__ = True
    _check_result("assert_max_concurrency", result)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"assert_max_concurrency(): limit must be an int >= 1, got {limit!r}")
    peak, when, who = _peak(result)
    if peak > limit:
        origin = min(t.start for t in result.timings.values())
        raise AssertionError(
            f"{peak} nodes ran at once, more than the limit of {limit}: at "
            f"{when - origin:.3f}s, {', '.join(map(repr, who))} were running\n"
            f"{text_timeline(result)}"
        )
