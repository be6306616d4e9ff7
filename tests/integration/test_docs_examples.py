"""The examples of "Integration tests of your own" (docs/testing.md) run and pass."""

from __future__ import annotations

import os
import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import awaitflow

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
SECTION = "### Integration tests of your own"
INNER_INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""


def section_examples() -> list[str]:
    """The ``python`` code blocks of the section, in order."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(SECTION)
    ends = [text.find(mark, start + len(SECTION)) for mark in ("\n### ", "\n## ")]
    end = min((e for e in ends if e != -1), default=len(text))
    body = text[start:end]
    return re.findall(r"^```python\n(.*?)^```$", body, flags=re.DOTALL | re.MULTILINE)


def test_section_has_the_three_examples() -> None:
    """The section shows the seed pattern, the ETL and the concurrent writers."""
    examples = section_examples()
    assert len(examples) == 3
    assert 'create_test_resource("db", lambda: conn)' in examples[0]
    assert "with_parallel_execution" in examples[1] and "create_test_cache" in examples[1]
    assert "asyncio.gather" in examples[2]


def test_section_examples_pass(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    postgres_dsn: str,
    redis_url: str,
) -> None:
    """Each example, saved as a test module, passes in a pytest of its own (strict mode)."""
    source = str(Path(awaitflow.__file__).resolve().parents[1])
    paths = [source, os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeini(INNER_INI)
    for number, code in enumerate(section_examples(), start=1):
        pytester.makepyfile(**{f"test_doc_example_{number}": code})
    installed = any(ep.name == "awaitflow" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "awaitflow.testing.pytest_plugin"]
    result = pytester.runpytest_subprocess(
        "-p", "asyncio", "-p", "no:cacheprovider", *plugin, timeout=120
    )
    result.assert_outcomes(passed=3)
