"""Trace assertions: when nodes ran, read from a result's timings, with a drawn timeline."""

from __future__ import annotations

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, NodeTiming, WorkflowResult
from awaitflow.testing import (
    VirtualClock,
    assert_max_concurrency,
    assert_ran_before,
    assert_ran_concurrently,
    text_timeline,
)


def make_result(
    spans: dict[str, tuple[float, float] | str], *, origin: float = 100.0
) -> WorkflowResult:
    """A result whose nodes ran over ``(start, end)`` seconds, or never ran (a status)."""
    status: dict[str, str] = {}
    timings: dict[str, NodeTiming] = {}
    for node_id, span in spans.items():
        if isinstance(span, str):
            status[node_id] = span
        else:
            status[node_id] = "completed"
            timings[node_id] = NodeTiming(origin + span[0], origin + span[1])
    return WorkflowResult(
        workflow="wf",
        success=all(s == "completed" for s in status.values()),
        node_status=status,  # type: ignore[arg-type]
        timings=timings,
    )


class TestTextTimeline:
    def test_draws_one_bar_per_node_in_start_order(self) -> None:
        """Bars sit on a shared axis, in start order, with start and end times."""
        result = make_result({"late": (1.0, 2.0), "early": (0.0, 1.0)})
        assert text_timeline(result, width=10).splitlines() == [
            "workflow 'wf', 2.000s (█ completed  ✗ failed  ░ cancelled):",
            "  early |█████     | 0.000s..1.000s",
            "  late  |     █████| 1.000s..2.000s",
        ]

    def test_marks_failed_and_cancelled_nodes_and_lists_those_that_never_ran(self) -> None:
        """Failed nodes are drawn with ✗, cancelled ones with ░, skipped ones without a bar."""
        result = make_result({"ok": (0.0, 1.0), "bad": (0.0, 2.0), "stopped": (0.0, 2.0)})
        result.node_status.update({"bad": "failed", "stopped": "cancelled", "after": "skipped"})
        lines = text_timeline(result, width=10).splitlines()
        assert lines[1:] == [
            "  bad     |✗✗✗✗✗✗✗✗✗✗| 0.000s..2.000s",
            "  ok      |█████     | 0.000s..1.000s",
            "  stopped |░░░░░░░░░░| 0.000s..2.000s",
            "  after   |          | skipped",
        ]

    def test_a_node_that_took_no_time_still_shows(self) -> None:
        """A zero-length node gets one mark, even at the very end of the run."""
        result = make_result({"a": (0.0, 1.0), "b": (1.0, 1.0)})
        assert text_timeline(result, width=10).splitlines()[2] == "  b |         █| 1.000s..1.000s"

    def test_a_run_where_no_node_ran(self) -> None:
        """A result without timings says that no node ran."""
        assert text_timeline(make_result({"a": "skipped"})) == "workflow 'wf': no node ran"

    def test_bad_arguments_are_refused(self) -> None:
        """The width must be an int >= 10, and the result a WorkflowResult."""
        with pytest.raises(ValueError, match="width must be an int >= 10, got 3"):
            text_timeline(make_result({"a": (0, 1)}), width=3)
        with pytest.raises(TypeError, match=r"text_timeline\(\) needs a WorkflowResult, got dict"):
            text_timeline({})  # type: ignore[arg-type]


class TestAssertRanConcurrently:
    def test_passes_when_the_spans_overlap(self) -> None:
        """Three nodes all running at t=1.5 ran concurrently."""
        assert_ran_concurrently(
            make_result({"a": (0, 2), "b": (1, 3), "c": (1.5, 4)}), "a", "b", "c"
        )

    def test_fails_naming_the_gap_and_drawing_the_timeline(self) -> None:
        """Nodes one after the other fail, with who started after whom ended, and the timeline."""
        result = make_result({"a": (0, 1), "b": (0.5, 2), "c": (1.25, 3)})
        with pytest.raises(AssertionError) as caught:
            assert_ran_concurrently(result, "a", "b", "c")
        message = str(caught.value)
        assert message.startswith(
            "nodes 'a', 'b', 'c' did not run concurrently: 'c' started 0.250s after 'a' had ended\n"
        )
        assert "  a |" in message and "  c |" in message

    def test_touching_spans_are_not_concurrent(self) -> None:
        """A node starting the moment another ends did not run with it."""
        with pytest.raises(AssertionError, match=r"'b' started 0\.000s after 'a' had ended"):
            assert_ran_concurrently(make_result({"a": (0, 1), "b": (1, 2)}), "a", "b")

    def test_a_node_that_never_ran_fails_with_its_status(self) -> None:
        """A skipped node cannot have run concurrently; the message gives its status."""
        with pytest.raises(
            AssertionError, match="node 'b' never ran \\(its status is 'skipped'\\)"
        ):
            assert_ran_concurrently(make_result({"a": (0, 1), "b": "skipped"}), "a", "b")

    def test_an_unknown_node_is_named(self) -> None:
        """A node id the workflow does not have is reported as such."""
        with pytest.raises(AssertionError, match="node 'x' never ran \\(it is not a node"):
            assert_ran_concurrently(make_result({"a": (0, 1)}), "a", "x")

    def test_needs_two_nodes(self) -> None:
        """One node id is a usage error."""
        with pytest.raises(ValueError, match="needs at least two node ids"):
            assert_ran_concurrently(make_result({"a": (0, 1)}), "a")


class TestAssertRanBefore:
    def test_passes_when_first_ended_before_second_started(self) -> None:
        """Ending exactly when the second starts counts as before."""
        assert_ran_before(make_result({"extract": (0, 1), "load": (1, 2)}), "extract", "load")

    def test_fails_with_the_overlap(self) -> None:
        """Overlapping nodes fail, saying by how much, with the timeline."""
        result = make_result({"extract": (0, 1.5), "load": (1, 2)})
        with pytest.raises(
            AssertionError,
            match=r"(?s)node 'extract' did not run before 'load': it ended 0.500s after "
            r"'load' started\nworkflow 'wf'.*extract.*load",
        ):
            assert_ran_before(result, "extract", "load")


class TestAssertMaxConcurrency:
    def test_passes_at_the_limit(self) -> None:
        """Two nodes at once pass a limit of 2."""
        assert_max_concurrency(make_result({"a": (0, 2), "b": (1, 3), "c": (2, 4)}), 2)

    def test_fails_above_the_limit_naming_the_moment_and_the_nodes(self) -> None:
        """Three nodes at once fail a limit of 2, naming when and which."""
        result = make_result({"a": (0, 3), "b": (1, 3), "c": (2, 3)})
        with pytest.raises(
            AssertionError,
            match=r"3 nodes ran at once, more than the limit of 2: at 2.000s, "
            r"'a', 'b', 'c' were running\nworkflow 'wf'",
        ):
            assert_max_concurrency(result, 2)

    def test_touching_and_instant_nodes_do_not_overlap(self) -> None:
        """Back-to-back nodes and nodes that took no time never count as concurrent."""
        assert_max_concurrency(make_result({"a": (0, 1), "b": (1, 2), "c": (1, 1)}), 1)

    def test_the_limit_must_be_positive(self) -> None:
        """A limit below 1 is a usage error."""
        with pytest.raises(ValueError, match="limit must be an int >= 1, got 0"):
            assert_max_concurrency(make_result({"a": (0, 1)}), 0)


def _fan_out(max_concurrency: int | None) -> AsyncWorkflowBuilder:
    builder = AsyncWorkflowBuilder("fan_out")
    for node_id in ("a", "b", "c"):
        builder.add_async_code(node_id, "await asyncio.sleep(1)\nresult = 1")
    builder.add_async_code("join", "result = 1")
    for node_id in ("a", "b", "c"):
        builder.add_connection(node_id, "result", "join", node_id)
    return builder.with_parallel_execution(max_concurrency=max_concurrency)


class TestOnRealRuns:
    @pytest.mark.asyncio
    async def test_a_parallel_fan_out(self) -> None:
        """Branches of a parallel run overlap, and the join runs after each of them."""
        async with VirtualClock(), AsyncLocalRuntime() as runtime:
            result = await runtime.execute(_fan_out(None))
        assert_ran_concurrently(result, "a", "b", "c")
        for branch in ("a", "b", "c"):
            assert_ran_before(result, branch, "join")
        assert_max_concurrency(result, 3)

    @pytest.mark.asyncio
    async def test_a_concurrency_limit_shows_in_the_timings(self) -> None:
        """With ``max_concurrency=2`` at most two branches overlap, and not all three."""
        async with VirtualClock(), AsyncLocalRuntime() as runtime:
            result = await runtime.execute(_fan_out(2))
        assert_max_concurrency(result, 2)
        with pytest.raises(AssertionError, match="did not run concurrently"):
            assert_ran_concurrently(result, "a", "b", "c")
