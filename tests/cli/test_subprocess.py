"""The command line as a real process: ``python -m awaitflow`` and a terminal's progress display."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from .conftest import ETL_NODES, EXAMPLE

ROOT = EXAMPLE.parents[1]


def test_python_dash_m_runs_the_example() -> None:
    """``python -m awaitflow run examples/etl_pipeline.py`` prints outputs and timings."""
    env = {**os.environ, "COLUMNS": "160"}
    done = subprocess.run(
        [sys.executable, "-m", "awaitflow", "run", "examples/etl_pipeline.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Outputs of workflow 'etl_pipeline'" in done.stdout
    assert "Timings of workflow 'etl_pipeline'" in done.stdout
    for node in ETL_NODES:
        assert f"│ {node} " in done.stdout


def test_failure_exit_status_of_the_process(tmp_path: Path) -> None:
    """A failing workflow makes the process exit 1 with the node's traceback on stderr."""
    path = tmp_path / "fails.py"
    path.write_text(
        textwrap.dedent(
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = AsyncWorkflowBuilder("f").add_async_code("bad", "x = 1\\nx.missing")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "awaitflow", "run", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert json.loads(done.stdout) == {}
    assert """File "<node 'bad'>", line 2, in <module>""" in done.stderr
    assert "AttributeError: 'int' object has no attribute 'missing'" in done.stderr


def _read_all(fd: int, deadline: float) -> bytes:
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed (Linux raises EIO)
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_long_run_shows_progress_on_a_terminal_without_touching_json(tmp_path: Path) -> None:
    """On a terminal's stderr, a run longer than 0.5 s shows done/total and running nodes."""
    path = tmp_path / "slow.py"
    path.write_text(
        textwrap.dedent(
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = (
                AsyncWorkflowBuilder("slow")
                .add_async_code("quick", "n = 1")
                .add_async_code("nap_a", "await asyncio.sleep(0.8)\\na = n")
                .add_async_code("nap_b", "await asyncio.sleep(0.8)\\nb = n")
                .add_connection("quick", "n", "nap_a", "n")
                .add_connection("quick", "n", "nap_b", "n")
                .with_parallel_execution()
            )
            """
        )
    )
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "awaitflow", "run", str(path), "--json"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
        )
        os.close(terminal)
        terminal = -1
        screen = _read_all(controller, time.monotonic() + 30).decode("utf-8", "replace")
        stdout, _ = process.communicate(timeout=30)
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    assert process.returncode == 0
    assert json.loads(stdout) == {"quick": {"n": 1}, "nap_a": {"a": 1}, "nap_b": {"b": 1}}
    assert "1/3" in screen
    assert "running: nap_a, nap_b" in screen
    assert "Timings of workflow 'slow'" in screen
