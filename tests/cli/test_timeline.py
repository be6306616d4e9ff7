"""The timeline picture: render_timeline / write_timeline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, NodeTiming, WorkflowResult
from awaitflow._timeline import (
    format_duration,
    format_user_traceback,
    render_timeline,
    write_timeline,
)


class _Bars(HTMLParser):
    """Collects the elements of class ``bar`` and every tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("class") == "bar":
            self.bars.append(values)


def _bars(page: str) -> _Bars:
    parser = _Bars()
    parser.feed(page)
    return parser


def _result(**overrides: object) -> WorkflowResult:
    base = 100.0
    values: dict[str, object] = {
        "workflow": "demo",
        "success": False,
        "outputs": {"load": {}, "fetch": {}},
        "node_status": {
            "fetch": "completed",
            "load": "completed",
            "parse": "failed",
            "side": "cancelled",
            "report": "skipped",
        },
        "errors": {"parse": ValueError("bad row 7")},
        "timings": {
            "load": NodeTiming(base + 0.050, base + 0.080),
            "fetch": NodeTiming(base + 0.001, base + 0.040),
            "parse": NodeTiming(base + 0.080, base + 0.095),
            "side": NodeTiming(base + 0.041, base + 0.095),
        },
        "execution_time": 0.1,
        "started_at": base,
    }
    values.update(overrides)
    return WorkflowResult(**values)  # type: ignore[arg-type]


def test_every_node_has_a_bar_with_its_status() -> None:
    """Each node gets an element of class bar with data-node and data-status."""
    bars = _bars(render_timeline(_result())).bars
    assert {(b["data-node"], b["data-status"]) for b in bars} == {
        ("fetch", "completed"),
        ("load", "completed"),
        ("parse", "failed"),
        ("side", "cancelled"),
        ("report", "skipped"),
    }


def test_rows_are_in_start_order_with_skipped_last() -> None:
    """Bars come in the order the nodes started; nodes that never started follow."""
    bars = _bars(render_timeline(_result())).bars
    assert [b["data-node"] for b in bars] == ["fetch", "side", "load", "parse", "report"]


def test_bar_geometry_follows_the_timings() -> None:
    """A bar's x and width are proportional to its start offset and duration."""
    page = render_timeline(_result())
    rect = r'.*?<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"'
    fetch = re.search('data-node="fetch"' + rect, page, re.DOTALL)
    load = re.search('data-node="load"' + rect, page, re.DOTALL)
    assert fetch is not None and load is not None
    fetch_x, fetch_w = map(float, fetch.groups())
    load_x, load_w = map(float, load.groups())
    assert fetch_w / load_w == pytest.approx(39 / 30, rel=0.02)
    assert (load_x - fetch_x) / fetch_w == pytest.approx(49 / 39, rel=0.02)


def test_failed_bar_shows_the_error_on_hover() -> None:
    """The failed node's bar has a <title> with its error."""
    page = render_timeline(_result())
    match = re.search(r'data-node="parse" data-status="failed"><title>([^<]*)</title>', page)
    assert match is not None
    assert "ValueError: bad row 7" in match.group(1)
    assert "parse — failed" in match.group(1)


def test_colours_differ_by_status() -> None:
    """Completed, failed and cancelled bars have distinct fills."""
    page = render_timeline(_result())
    fills = {
        status: re.findall(rf'data-status="{status}">.*?fill="(#[0-9a-f]+)"', page, re.DOTALL)[0]
        for status in ("completed", "failed", "cancelled")
    }
    assert len(set(fills.values())) == 3


def test_node_ids_and_errors_are_escaped() -> None:
    """Node ids and error messages cannot inject markup into the page."""
    evil = '<script>alert("x")</script>'
    result = _result(
        node_status={evil: "failed", "ok": "completed"},
        errors={evil: RuntimeError('<img src=x onerror="alert(1)">')},
        timings={evil: NodeTiming(100.0, 100.01), "ok": NodeTiming(100.0, 100.02)},
    )
    page = render_timeline(result, title="<b>bold</b> & more")
    parsed = _bars(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert {b["data-node"] for b in parsed.bars} == {evil, "ok"}
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page


def test_page_is_self_contained() -> None:
    """No script, no external stylesheet, image or link: it renders offline."""
    page = render_timeline(_result())
    assert "<script" not in page
    assert not re.search(r"\b(src|href)=", page)
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(
    ("span", "labels"),
    [
        (0.1, ["0 ms", "20 ms", "40 ms", "60 ms", "80 ms", "100 ms"]),
        (2.5, ["0.0 s", "0.5 s", "1.0 s", "1.5 s", "2.0 s", "2.5 s"]),
        (0.0004, ["0.00 ms", "0.05 ms", "0.10 ms"]),
    ],
)
def test_axis_ticks_in_ms_or_s(span: float, labels: list[str]) -> None:
    """The axis has round tick labels in ms below a second, in s above."""
    result = _result(
        node_status={"only": "completed"},
        errors={},
        timings={"only": NodeTiming(100.0, 100.0 + span)},
        execution_time=span,
    )
    ticks = re.findall(r'<g class="tick">.*?<text[^>]*>([^<]*)</text>', render_timeline(result))
    assert ticks[: len(labels)] == labels


def test_summary_and_error_details() -> None:
    """The page says how the run ended and lists each error with its traceback."""
    page = render_timeline(_result())
    assert "Timeline of workflow &#x27;demo&#x27;" in page
    assert "1 failed" in page and "1 skipped" in page and "1 cancelled" in page
    assert "<details open><summary><b>parse</b> (failed): ValueError: bad row 7" in page


def test_empty_workflow_renders() -> None:
    """A result without nodes still renders a page."""
    page = render_timeline(WorkflowResult(workflow="none", success=True))
    assert "this workflow has no nodes" in page


def test_write_timeline_writes_the_page(tmp_path: Path) -> None:
    """write_timeline writes the rendered page and returns its path."""
    target = write_timeline(_result(), tmp_path / "t.html", title="Run 1")
    assert target == tmp_path / "t.html"
    assert target.read_text(encoding="utf-8") == render_timeline(_result(), title="Run 1")


@pytest.mark.asyncio
async def test_renders_a_real_result() -> None:
    """A result from the runtime renders with one bar per node."""
    workflow = (
        AsyncWorkflowBuilder("real")
        .add_async_code("a", "await asyncio.sleep(0.01)\nx = 1")
        .add_async_code("b", "y = x + 1")
        .add_connection("a", "x", "b", "x")
    )
    async with AsyncLocalRuntime() as runtime:
        result = await runtime.execute(workflow)
    bars = _bars(render_timeline(result)).bars
    assert [(b["data-node"], b["data-status"]) for b in bars] == [
        ("a", "completed"),
        ("b", "completed"),
    ]


@pytest.mark.asyncio
async def test_user_traceback_keeps_the_node_line_only() -> None:
    """format_user_traceback drops awaitflow's frames and keeps the node's code line."""
    workflow = AsyncWorkflowBuilder("t").add_async_code(
        "traceback_probe", "x = 1\nraise KeyError('k')"
    )
    async with AsyncLocalRuntime() as runtime:
        result = await runtime.execute(workflow, raise_on_error=False)
    text = format_user_traceback(result.errors["traceback_probe"])
    assert text.splitlines() == [
        "Traceback (most recent call last):",
        """  File "<node 'traceback_probe'>", line 2, in <module>""",
        "    raise KeyError('k')",
        "KeyError: 'k'",
        "raised by node 'traceback_probe' of workflow 't'",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.00042, "420 µs"), (0.0125, "12.5 ms"), (1.25, "1.250 s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations read in µs, ms or s."""
    assert format_duration(seconds) == text
