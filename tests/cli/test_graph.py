"""``awaitflow graph``: the workflow as a Mermaid flowchart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import ETL_NODES, EXAMPLE, CliRun

Cli = Callable[..., CliRun]
WriteFile = Callable[[str, str], Path]


def test_prints_flowchart_with_nodes_and_edges(cli: Cli) -> None:
    """The example's graph names every node and every connection."""
    run = cli("graph", EXAMPLE)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    %% workflow: etl_pipeline" in lines
    ids = {node: f"n{i}" for i, node in enumerate(ETL_NODES)}
    assert f'    {ids["extract"]}(["extract"])' in lines
    assert f'    {ids["clean"]}["clean"]' in lines
    assert f'    {ids["extract"]} -->|"rows"| {ids["clean"]}' in lines
    assert f'    {ids["by_region"]} -->|"totals → region_totals"| {ids["load"]}' in lines
    assert sum("-->" in line for line in lines) == 8


def test_connections_between_two_nodes_share_one_edge(cli: Cli, write_file: WriteFile) -> None:
    """Several connections from one node to another are drawn as one labelled edge."""
    path = write_file(
        "pair.py",
        """
        from awaitflow import AsyncWorkflowBuilder

        workflow = (
            AsyncWorkflowBuilder("pair")
            .add_async_code("a", "x = 1\\ny = 2")
            .add_async_code("b", "z = x + w")
            .add_connection("a", "x", "b", "x")
            .add_connection("a", "y", "b", "w")
        )
        """,
    )
    run = cli("graph", path)
    assert run.out.splitlines()[-1] == '    n0 -->|"x, y → w"| n1'


def test_labels_are_escaped(cli: Cli, write_file: WriteFile) -> None:
    """Quotes, '#' and angle brackets in node ids cannot break the chart."""
    path = write_file(
        "odd_ids.py",
        """
        from awaitflow import AsyncWorkflowBuilder

        workflow = AsyncWorkflowBuilder("odd").add_async_code('say "#1" <b>', "x = 1")
        """,
    )
    run = cli("graph", path)
    assert '    n0["say #quot;#35;1#quot; #lt;b#gt;"]' in run.out.splitlines()


def test_graph_needs_a_name_when_ambiguous(cli: Cli, write_file: WriteFile) -> None:
    """``graph`` follows the same NAME rules as ``run``."""
    path = write_file(
        "two.py",
        """
        from awaitflow import AsyncWorkflowBuilder

        a = AsyncWorkflowBuilder("a").add_async_code("x", "v = 1")
        b = AsyncWorkflowBuilder("b").add_async_code("y", "v = 1")
        """,
    )
    run = cli("graph", path)
    assert run.code == 2
    assert "defines 2 workflows" in run.err
    assert cli("graph", f"{path}:b").out.splitlines()[2] == '    n0["y"]'
