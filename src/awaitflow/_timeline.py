"""A timeline picture of one execution: a self-contained HTML page with an inline SVG chart.

Each node is a horizontal bar from its start to its end, relative to the start of
the run, coloured by status; skipped nodes get an empty, labelled row. The chart is
drawn here, on the server side, so the page needs no script, no network and no
external asset.
"""

from __future__ import annotations

import html
import math
import os
import traceback
from pathlib import Path

from ._results import WorkflowResult

__all__ = ["format_duration", "format_user_traceback", "render_timeline", "write_timeline"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

_COLOURS = {
    "completed": "#2f9e5b",
    "failed": "#d0433f",
    "cancelled": "#e09b2d",
    "skipped": "#9aa3ad",
}

# Chart geometry, in SVG user units (the SVG scales to the page width).
_WIDTH = 1000
_LABEL_WIDTH = 230
_RIGHT_PAD = 90
_AXIS_HEIGHT = 34
_ROW_HEIGHT = 28
_BAR_HEIGHT = 16
_LABEL_CHARS = 30

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d2329; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #4a5560; margin: 0 0 14px; }
.summary .ok { color: #2f9e5b; font-weight: 600; }
.summary .bad { color: #d0433f; font-weight: 600; }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
            margin-right: 5px; vertical-align: -1px; }
svg.timeline { width: 100%; max-width: 1200px; height: auto; display: block; margin: 10px 0 18px; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2329; }
svg .tick text { fill: #5b6670; font-size: 11px; }
svg .tick line { stroke: #e3e7eb; }
svg .axis { stroke: #9aa3ad; }
svg .row-bg { fill: #f6f8fa; }
svg .bar:hover rect { stroke: #1d2329; stroke-width: 1.5px; }
svg .bar .note { fill: #5b6670; font-style: italic; }
table { border-collapse: collapse; margin: 8px 0 18px; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #e3e7eb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 4px 0 12px; }
"""


def format_user_traceback(error: BaseException) -> str:
    """``error`` with its traceback, leaving out awaitflow's own frames.

    What remains shows the user's code: a code node's lines appear under
    ``<node 'id'>``, a function node's under its file.
    """
    formatted = traceback.TracebackException.from_exception(error)
    _strip_internal_frames(formatted, set())
    return "".join(formatted.format()).rstrip("\n")


def _strip_internal_frames(exc: traceback.TracebackException, seen: set[int]) -> None:
    if id(exc) in seen:
        return
    seen.add(id(exc))
    kept = [frame for frame in exc.stack if not frame.filename.startswith(_PACKAGE_DIR)]
    exc.stack = traceback.StackSummary.from_list(kept)
    for other in (exc.__cause__, exc.__context__):
        if other is not None:
            _strip_internal_frames(other, seen)
    for member in getattr(exc, "exceptions", None) or ():
        _strip_internal_frames(member, seen)


def format_duration(seconds: float) -> str:
    """``seconds`` for people: ``"420 µs"``, ``"12.5 ms"`` or ``"1.250 s"``."""
    if seconds < 0.001:
        return f"{seconds * 1_000_000:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def _tick_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about eight ticks."""
    raw = span / 8
    magnitude: float = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _tick_label(value: float, step: float, unit: str) -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    digits = max(0, -math.floor(math.log10(step * scale) + 1e-9))
    return f"{value * scale:.{digits}f} {unit}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_line(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def render_timeline(result: WorkflowResult, *, title: str | None = None) -> str:
    """A self-contained HTML page drawing ``result``'s node timings as a timeline.

    Each node is a bar (an SVG ``<g class="bar" data-node=... data-status=...>``)
    from its start to its end relative to the start of the run, one row per node
    in start order, coloured by status; skipped nodes come last as empty rows.
    Hovering a bar shows its timing and, for a failed node, the error.
    """
    esc = html.escape
    page_title = title if title is not None else f"Timeline of workflow {result.workflow!r}"

    started = sorted(result.timings.items(), key=lambda item: (item[1].start, item[1].end))
    not_started = [node for node in result.node_status if node not in result.timings]
    starts = [timing.start for _, timing in started]
    origin = min(starts) if starts else 0.0
    if result.started_at and (not starts or result.started_at <= origin):
        origin = result.started_at
    last_end = max((timing.end for _, timing in started), default=origin)
    span = max(result.execution_time, last_end - origin, 1e-6)

    chart_width = _WIDTH - _LABEL_WIDTH - _RIGHT_PAD
    rows = len(started) + len(not_started)
    height = _AXIS_HEIGHT + max(rows, 1) * _ROW_HEIGHT + 8

    def x_of(seconds: float) -> float:
        return _LABEL_WIDTH + chart_width * (seconds / span)

    svg: list[str] = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
        f'role="img" aria-label="{esc(page_title)}">'
    ]
    for row in range(rows):
        if row % 2 == 0:
            y = _AXIS_HEIGHT + row * _ROW_HEIGHT
            svg.append(
                f'<rect class="row-bg" x="0" y="{y}" width="{_WIDTH}" height="{_ROW_HEIGHT}"/>'
            )

    step = _tick_step(span)
    unit = "ms" if span < 1.0 else "s"
    svg.append('<g class="ticks">')
    tick = 0
    while tick * step <= span * (1 + 1e-9):
        x = x_of(tick * step)
        label = _tick_label(tick * step, step, unit)
        svg.append(
            f'<g class="tick"><line x1="{x:.1f}" y1="{_AXIS_HEIGHT - 4}" x2="{x:.1f}" '
            f'y2="{height - 8}"/><text x="{x:.1f}" y="{_AXIS_HEIGHT - 10}" '
            f'text-anchor="middle">{esc(label)}</text></g>'
        )
        tick += 1
    svg.append("</g>")
    svg.append(
        f'<line class="axis" x1="{_LABEL_WIDTH}" y1="{_AXIS_HEIGHT - 4}" '
        f'x2="{_LABEL_WIDTH + chart_width}" y2="{_AXIS_HEIGHT - 4}"/>'
    )

    for row, (node_id, timing) in enumerate(started):
        status = result.node_status.get(node_id, "completed")
        y = _AXIS_HEIGHT + row * _ROW_HEIGHT
        x0 = x_of(timing.start - origin)
        width = max(x_of(timing.end - origin) - x0, 2.0)
        offset = timing.start - origin
        hover = (
            f"{node_id} — {status}\nstart +{format_duration(offset)}, "
            f"duration {format_duration(timing.duration)}"
        )
        error = result.errors.get(node_id)
        if error is not None:
            hover += "\n" + _error_line(error)
        colour = _COLOURS.get(status, _COLOURS["completed"])
        bar_y = y + (_ROW_HEIGHT - _BAR_HEIGHT) / 2
        svg.append(
            f'<g class="bar" data-node="{esc(node_id)}" data-status="{esc(status)}">'
            f"<title>{esc(hover)}</title>"
            f'<text x="{_LABEL_WIDTH - 10}" y="{y + 18}" text-anchor="end">'
            f"{esc(_short(node_id, _LABEL_CHARS))}</text>"
            f'<rect x="{x0:.1f}" y="{bar_y:.1f}" width="{width:.1f}" height="{_BAR_HEIGHT}" '
            f'rx="3" fill="{colour}"/>'
            f'<text x="{x0 + width + 5:.1f}" y="{y + 18}">'
            f"{esc(format_duration(timing.duration))}</text></g>"
        )

    for index, node_id in enumerate(not_started):
        status = result.node_status.get(node_id, "skipped")
        y = _AXIS_HEIGHT + (len(started) + index) * _ROW_HEIGHT
        svg.append(
            f'<g class="bar" data-node="{esc(node_id)}" data-status="{esc(status)}">'
            f"<title>{esc(f'{node_id} — {status}: it never started')}</title>"
            f'<text x="{_LABEL_WIDTH - 10}" y="{y + 18}" text-anchor="end">'
            f"{esc(_short(node_id, _LABEL_CHARS))}</text>"
            f'<text class="note" x="{_LABEL_WIDTH + 4}" y="{y + 18}">{esc(status)}</text></g>'
        )
    if rows == 0:
        svg.append(
            f'<text x="{_LABEL_WIDTH}" y="{_AXIS_HEIGHT + 18}">this workflow has no nodes</text>'
        )
    svg.append("</svg>")

    counts: dict[str, int] = {}
    for status in result.node_status.values():
        counts[status] = counts.get(status, 0) + 1
    outcome = (
        '<span class="ok">succeeded</span>' if result.success else '<span class="bad">failed</span>'
    )
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no nodes"
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{status}</span>'
        for status, colour in _COLOURS.items()
        if status != "skipped"
    )

    table = [
        "<table><thead><tr><th>node</th><th>status</th><th>start</th><th>duration</th>"
        "</tr></thead><tbody>"
    ]
    for node_id, timing in started:
        table.append(
            f"<tr><td>{esc(node_id)}</td><td>{esc(result.node_status.get(node_id, ''))}</td>"
            f'<td class="num">+{format_duration(timing.start - origin)}</td>'
            f'<td class="num">{format_duration(timing.duration)}</td></tr>'
        )
    for node_id in not_started:
        table.append(
            f"<tr><td>{esc(node_id)}</td><td>{esc(result.node_status.get(node_id, ''))}</td>"
            "<td></td><td></td></tr>"
        )
    table.append("</tbody></table>")

    errors: list[str] = []
    for node_id, error in result.errors.items():
        status = result.node_status.get(node_id, "failed")
        errors.append(
            f"<details open><summary><b>{esc(node_id)}</b> ({esc(status)}): "
            f"{esc(_error_line(error))}</summary>"
            f"<pre>{esc(format_user_traceback(error))}</pre></details>"
        )
    errors_html = "<h2>Errors</h2>\n" + "\n".join(errors) if errors else ""

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f"<title>{esc(page_title)}</title>\n"
        f"<style>{_STYLE}</style></head>\n<body>\n"
        f"<h1>{esc(page_title)}</h1>\n"
        f'<p class="summary">Workflow <b>{esc(result.workflow)}</b> {outcome} in '
        f"{format_duration(result.execution_time)}: {esc(summary)}.</p>\n"
        f'<p class="legend">{legend}</p>\n'
        + "\n".join(svg)
        + "\n"
        + "".join(table)
        + "\n"
        + errors_html
        + "\n</body></html>\n"
    )


def write_timeline(
    result: WorkflowResult, path: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Write :func:`render_timeline` of ``result`` to ``path`` (UTF-8) and return the path."""
    target = Path(path)
    target.write_text(render_timeline(result, title=title), encoding="utf-8")
    return target
