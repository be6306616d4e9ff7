"""The timeline page in a real headless Chromium: every bar is in the rendered DOM."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"
)

EVIL = 'x"><script>alert(1)</script>'

WORKFLOW = f"""
from awaitflow import AsyncWorkflowBuilder

workflow = (
    AsyncWorkflowBuilder("browser_demo")
    .add_async_code("fetch", "await asyncio.sleep(0.02)\\nrows = [1, 2, 3]")
    .add_async_code("parse", "await asyncio.sleep(0.01)\\nraise ValueError('bad row <7>')")
    .add_async_code({EVIL!r}, "await asyncio.sleep(5)")
    .add_async_code("report", "total = sum(rows)")
    .add_connection("fetch", "rows", "parse", "rows")
    .add_connection("parse", "rows", "report", "rows")
    .with_parallel_execution()
)
"""
EXPECTED = {
    "fetch": "completed",
    "parse": "failed",
    EVIL: "cancelled",
    "report": "skipped",
}


def _chromium(user_data: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium in its own process group, killed whole if it hangs."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"chromium did not finish within {timeout}s: {' '.join(args)}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


class _Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str | None, str | None] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("class") == "bar":
            self.bars[values.get("data-node")] = values.get("data-status")


@pytest.fixture(scope="module")
def timeline_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A timeline page written by ``awaitflow run --timeline`` for a failing workflow."""
    from awaitflow._cli import main

    folder = tmp_path_factory.mktemp("browser")
    source = folder / "demo.py"
    source.write_text(WORKFLOW, encoding="utf-8")
    page = folder / "timeline.html"
    assert main(["run", str(source), "--timeline", str(page), "--json"]) == 1
    return page


def test_every_bar_is_in_the_rendered_dom(
    timeline_page: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chromium's DOM has one bar per node, with its status; the odd id injects nothing."""
    done = _chromium(tmp_path / "profile", "--dump-dom", timeline_page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    parsed = _Bars()
    parsed.feed(done.stdout)
    assert parsed.bars == EXPECTED
    assert "script" not in parsed.tags
    assert parsed.tags.count("svg") == 1


def _png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, number of distinct byte values in the decoded image data)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_screenshot_is_a_real_picture(timeline_page: Path, tmp_path: Path) -> None:
    """A screenshot of the page is a 1200x800 PNG with real content in it."""
    shot = tmp_path / "t.png"
    done = _chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1200,800",
        "--hide-scrollbars",
        timeline_page.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    width, height, distinct = _png_facts(data)
    assert (width, height) == (1200, 800)
    assert len(data) > 15_000
    assert distinct > 100
