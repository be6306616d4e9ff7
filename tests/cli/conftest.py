"""Fixtures of the command-line tests: write workflow files, run ``main`` in-process."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from awaitflow._cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "etl_pipeline.py"
ETL_NODES = ("extract", "rates", "clean", "by_region", "top_products", "daily", "load")


@dataclass(frozen=True)
class CliRun:
    """What one command printed, and its exit status."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliRun]:
    """Run ``awaitflow`` in-process with the given arguments."""
    monkeypatch.delenv("COLUMNS", raising=False)

    def run(*argv: str | Path) -> CliRun:
        code = main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented Python source to ``tmp_path/name`` and return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    return write


FAILING = '''
from awaitflow import AsyncWorkflowBuilder

async def divide(total, parts):
    return {"share": total / parts}

workflow = (
    AsyncWorkflowBuilder("failing")
    .add_async_code("start", "total = 10")
    .add_async_code("cli_explode", """
        parts = total - total
        raise RuntimeError(f"exploded with {parts} parts")
    """)
    .add_async_code("never", "done = True")
    .add_connection("start", "total", "cli_explode", "total")
    .add_connection("cli_explode", "parts", "never", "parts")
)
'''
