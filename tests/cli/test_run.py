"""``awaitflow run``: outputs, timings, --json, --inputs, --trace, --timeline, failures."""

from __future__ import annotations

import glob
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from awaitflow._cli import _LiveProgress
from awaitflow._graph import Workflow

from .conftest import ETL_NODES, EXAMPLE, FAILING, CliRun

Cli = Callable[..., CliRun]
WriteFile = Callable[[str, str], Path]


def _row(*cells: str) -> re.Pattern[str]:
    """A table row starting with these cells, whatever the column widths."""
    return re.compile(r"│ " + r"\s*│ ".join(map(re.escape, cells)) + r"\s*│")


GREETER = """
from awaitflow import AsyncWorkflowBuilder

workflow = (
    AsyncWorkflowBuilder("greeter")
    .add_async_code("greet", "message = f'Hello {name}, you are {age}!'")
)
"""


class TestExample:
    def test_prints_every_node_output_and_timing(self, cli: Cli) -> None:
        """The ETL example runs and prints its outputs and per-node timings."""
        run = cli("run", EXAMPLE)
        assert run.code == 0, run.err
        assert "Outputs of workflow 'etl_pipeline'" in run.out
        assert "Timings of workflow 'etl_pipeline'" in run.out
        for node in ETL_NODES:
            assert f"│ {node} " in run.out
        assert "rows_written" in run.out
        assert "balanced" in run.out
        assert "succeeded" in run.out

    def test_outputs_are_meaningful(self, cli: Cli) -> None:
        """The example's outputs count rows and its loaded totals match the revenue."""
        run = cli("run", EXAMPLE, "--json")
        outputs = json.loads(run.out)
        assert outputs["extract"]["count"] == 240
        assert outputs["clean"]["kept"] + outputs["clean"]["rejected"] == 240
        assert outputs["clean"]["rejected"] > 0
        assert outputs["load"]["rows_written"] == 4 + 5  # regions + products
        assert outputs["load"]["balanced"] is True
        assert outputs["load"]["loaded_revenue"] == outputs["daily"]["revenue"]

    def test_leaves_no_database_file(self, cli: Cli) -> None:
        """The example's temporary SQLite file is deleted when the runtime shuts down."""
        pattern = os.path.join(tempfile.gettempdir(), "awaitflow-etl-*.sqlite3")
        before = set(glob.glob(pattern))
        assert cli("run", EXAMPLE).code == 0
        assert set(glob.glob(pattern)) == before

    def test_since_input_filters_rows(self, cli: Cli) -> None:
        """The example's ``since`` input reaches its extract step."""
        run = cli("run", EXAMPLE, "--json", "--inputs", '{"since": "2024-06-01"}')
        outputs = json.loads(run.out)
        assert outputs["extract"]["since"] == "2024-06-01"
        assert 0 < outputs["extract"]["count"] < 240
        assert all(row["sold_on"] >= "2024-06-01" for row in outputs["extract"]["rows"])


class TestPriceWatchExample:
    def test_factory_setup_and_retry(self, cli: Cli) -> None:
        """The second example: a build_* factory, async setup, a retried flaky shop."""
        example = EXAMPLE.with_name("price_watch.py")
        run = cli("run", example, "--json", "--inputs", '{"latency": 0.005}')
        assert run.code == 0, run.err
        outputs = json.loads(run.out)
        assert outputs["budget"]["attempts"] == 2
        assert outputs["cheapest"] == {
            "shop": "budget",
            "price": 36.5,
            "savings": {"corner": 4.5, "deluxe": 15.5},
        }


class TestJson:
    def test_stdout_is_json_of_every_node(self, cli: Cli) -> None:
        """--json prints only {node_id: output} on stdout, timings on stderr."""
        run = cli("run", EXAMPLE, "--json")
        assert run.code == 0
        outputs = json.loads(run.out)
        assert list(outputs) == list(ETL_NODES)
        assert "Timings of workflow 'etl_pipeline'" in run.err
        assert "Timings" not in run.out

    def test_values_that_are_not_json_become_repr(self, cli: Cli, write_file: WriteFile) -> None:
        """Sets, objects and NaN are printed as strings, so stdout stays valid JSON."""
        path = write_file(
            "odd.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            class Thing:
                def __repr__(self):
                    return "<Thing 7>"

            async def odd():
                return {"thing": Thing(), "tags": {"x"}, "nan": float("nan"), "pair": (1, 2)}

            workflow = AsyncWorkflowBuilder("odd").add_node("odd", odd)
            """,
        )
        run = cli("run", path, "--json")
        assert run.code == 0, run.err
        assert json.loads(run.out) == {
            "odd": {"thing": "<Thing 7>", "tags": ["x"], "nan": "nan", "pair": [1, 2]}
        }

    def test_failure_still_prints_json_of_completed_nodes(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """A failed run with --json prints the completed outputs on stdout and exits 1."""
        run = cli("run", write_file("failing.py", FAILING), "--json")
        assert run.code == 1
        assert json.loads(run.out) == {"start": {"total": 10}}


class TestInputs:
    def test_inputs_reach_the_workflow(self, cli: Cli, write_file: WriteFile) -> None:
        """--inputs JSON becomes the workflow inputs."""
        path = write_file("greeter.py", GREETER)
        run = cli("run", path, "--json", "--inputs", '{"name": "Ada", "age": 36}')
        assert run.code == 0, run.err
        assert json.loads(run.out) == {"greet": {"message": "Hello Ada, you are 36!"}}

    def test_inputs_from_a_file(self, cli: Cli, write_file: WriteFile, tmp_path: Path) -> None:
        """--inputs @path reads the JSON object from a file."""
        path = write_file("greeter.py", GREETER)
        (tmp_path / "in.json").write_text('{"name": "Grace", "age": 85}', encoding="utf-8")
        run = cli("run", path, "--json", "--inputs", f"@{tmp_path / 'in.json'}")
        assert json.loads(run.out) == {"greet": {"message": "Hello Grace, you are 85!"}}

    def test_bad_json_exits_2_naming_the_position(self, cli: Cli, write_file: WriteFile) -> None:
        """Malformed --inputs exits 2 with the JSON error and where it is."""
        run = cli("run", write_file("greeter.py", GREETER), "--inputs", '{"name": Ada}')
        assert run.code == 2
        assert run.err == (
            "awaitflow: error: --inputs is not valid JSON: Expecting value at line 1, "
            "column 10 (character 9)\n"
        )
        assert run.out == ""

    def test_inputs_must_be_an_object(self, cli: Cli, write_file: WriteFile) -> None:
        """A JSON array as --inputs exits 2."""
        run = cli("run", write_file("greeter.py", GREETER), "--inputs", "[1, 2]")
        assert run.code == 2
        assert "--inputs must be a JSON object, got a JSON array" in run.err

    def test_missing_inputs_file_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """--inputs @missing.json exits 2 naming the file."""
        run = cli("run", write_file("greeter.py", GREETER), "--inputs", "@nowhere.json")
        assert run.code == 2
        assert "--inputs file 'nowhere.json': cannot read it: No such file" in run.err


class TestFailure:
    def test_exit_1_naming_node_with_its_source_line(self, cli: Cli, write_file: WriteFile) -> None:
        """A failing code node: exit 1, stderr names it and shows its own source line."""
        run = cli("run", write_file("failing.py", FAILING))
        assert run.code == 1
        assert "workflow 'failing' failed at node 'cli_explode'" in run.err
        assert """File "<node 'cli_explode'>", line 2, in <module>""" in run.err
        assert 'raise RuntimeError(f"exploded with {parts} parts")' in run.err
        assert "RuntimeError: exploded with 0 parts" in run.err

    def test_traceback_hides_engine_frames(self, cli: Cli, write_file: WriteFile) -> None:
        """The traceback shows the user's code, not awaitflow's scheduler."""
        run = cli("run", write_file("failing.py", FAILING))
        assert "_execution.py" not in run.err
        assert "_cli.py" not in run.err

    def test_function_node_traceback_shows_its_file_line(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """A failing function node's traceback points into the workflow file."""
        path = write_file(
            "fn.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            async def divide(total):
                return total / 0

            workflow = AsyncWorkflowBuilder("fn").add_node("divide", divide)
            """,
        )
        run = cli("run", path, "--inputs", '{"total": 3}')
        assert run.code == 1
        assert f'File "{path}", line 4, in divide' in run.err
        assert "return total / 0" in run.err
        assert "ZeroDivisionError: division by zero" in run.err

    def test_timings_of_what_ran_are_still_printed(self, cli: Cli, write_file: WriteFile) -> None:
        """After a failure the timings table shows completed, failed and skipped nodes."""
        run = cli("run", write_file("failing.py", FAILING))
        timings = run.out[run.out.index("Timings of workflow 'failing'") :]
        assert _row("start", "completed").search(timings)
        assert _row("cli_explode", "failed").search(timings)
        assert _row("never", "skipped").search(timings)
        assert "(no output: failed)" in run.out

    def test_cancelled_nodes_are_reported(self, cli: Cli, write_file: WriteFile) -> None:
        """In parallel mode a node cancelled by a sibling's failure is listed as cancelled."""
        path = write_file(
            "cancel.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = (
                AsyncWorkflowBuilder("cancel")
                .add_async_code("slow", "await asyncio.sleep(30)")
                .add_async_code("fast", "await asyncio.sleep(0)\\nraise KeyError('gone')")
                .with_parallel_execution()
            )
            """,
        )
        run = cli("run", path)
        assert run.code == 1
        assert _row("slow", "cancelled").search(run.out)
        assert "failed at node 'fast'" in run.err

    def test_workflow_timeout_exits_1(self, cli: Cli, write_file: WriteFile) -> None:
        """A workflow that times out exits 1 with the timeout message."""
        path = write_file(
            "late.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = (
                AsyncWorkflowBuilder("late")
                .add_async_code("wait", "await asyncio.sleep(30)")
                .with_timeout(0.05)
            )
            """,
        )
        run = cli("run", path)
        assert run.code == 1
        assert "workflow 'late' timed out after 0.05s" in run.err


class TestSetupHook:
    def test_setup_registers_resources_released_at_the_end(
        self, cli: Cli, write_file: WriteFile, tmp_path: Path
    ) -> None:
        """setup(runtime) runs first; the resources it registers are cleaned up afterwards."""
        marker = tmp_path / "released.txt"
        path = write_file(
            "with_setup.py",
            f"""
            from awaitflow import AsyncWorkflowBuilder

            def release(conn):
                open({str(marker)!r}, "w").write("released " + conn["name"])

            def setup(runtime):
                runtime.register_resource("conn", lambda: {{"name": "db1"}}, cleanup=release)
                runtime.register_function(lambda x: x * 2, name="double")

            CODE = '''
            conn = await get_resource('conn')
            result = {{'who': conn['name'], 'n': double(21)}}
            '''
            workflow = AsyncWorkflowBuilder("uses").add_async_code("use", CODE)
            """,
        )
        run = cli("run", path, "--json")
        assert run.code == 0, run.err
        assert json.loads(run.out) == {"use": {"who": "db1", "n": 42}}
        assert marker.read_text() == "released db1"

    def test_async_setup_is_awaited(self, cli: Cli, write_file: WriteFile) -> None:
        """An async setup hook is awaited before the run."""
        path = write_file(
            "async_setup.py",
            """
            import asyncio
            from awaitflow import AsyncWorkflowBuilder

            async def setup(runtime):
                await asyncio.sleep(0)
                runtime.register_function(lambda: "ready", name="status")

            workflow = AsyncWorkflowBuilder("a").add_async_code("s", "state = status()")
            """,
        )
        run = cli("run", path, "--json")
        assert json.loads(run.out) == {"s": {"state": "ready"}}

    def test_failing_setup_exits_1_with_traceback(self, cli: Cli, write_file: WriteFile) -> None:
        """An exception in setup(runtime) exits 1 and shows where it was raised."""
        path = write_file(
            "bad_setup.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            def setup(runtime):
                raise ConnectionError("database unreachable")

            workflow = AsyncWorkflowBuilder("a").add_async_code("s", "x = 1")
            """,
        )
        run = cli("run", path)
        assert run.code == 1
        assert "setup(runtime) raised an exception" in run.err
        assert 'raise ConnectionError("database unreachable")' in run.err
        assert "ConnectionError: database unreachable" in run.err

    def test_setup_without_parameter_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A setup() that cannot take the runtime is a usage error."""
        path = write_file(
            "setup0.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            def setup():
                pass

            workflow = AsyncWorkflowBuilder("a").add_async_code("s", "x = 1")
            """,
        )
        run = cli("run", path)
        assert run.code == 2
        assert "setup() must take the runtime as its one argument" in run.err

    def test_failing_cleanup_exits_1(self, cli: Cli, write_file: WriteFile) -> None:
        """A resource whose cleanup raises makes the run exit 1, naming the resource."""
        path = write_file(
            "bad_cleanup.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            def broken(resource):
                raise OSError("disk gone")

            def setup(runtime):
                runtime.register_resource("res", object, cleanup=broken)

            workflow = AsyncWorkflowBuilder("a").add_async_code(
                "s", "r = await get_resource('res')"
            )
            """,
        )
        run = cli("run", path)
        assert run.code == 1
        assert "releasing resources failed" in run.err
        assert "while releasing resource 'res'" in run.err


class TestTrace:
    def test_trace_has_node_events_as_json_lines(self, cli: Cli, tmp_path: Path) -> None:
        """--trace writes one JSON event per line, with node_started/node_completed."""
        trace = tmp_path / "trace.jsonl"
        assert cli("run", EXAMPLE, "--trace", trace).code == 0
        events = [json.loads(line) for line in trace.read_text().splitlines()]
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "workflow_started"
        for node in ETL_NODES:
            assert {"kind": "node_started", "node_id": node}.items() <= next(
                e for e in events if e["node_id"] == node
            ).items()
            assert any(e["kind"] == "node_completed" and e["node_id"] == node for e in events)
        assert "workflow_completed" in kinds
        released = {e["resource"] for e in events if e["kind"] == "resource_released"}
        assert released == {"cache", "db"}
        assert all({"kind", "workflow", "node_id", "timestamp", "error"} <= set(e) for e in events)
        timestamps = [e["timestamp"] for e in events]
        assert timestamps == sorted(timestamps)

    def test_trace_records_the_error(self, cli: Cli, write_file: WriteFile, tmp_path: Path) -> None:
        """A node_failed event carries the error's repr."""
        trace = tmp_path / "trace.jsonl"
        cli("run", write_file("failing.py", FAILING), "--trace", trace)
        events = [json.loads(line) for line in trace.read_text().splitlines()]
        failed = [e for e in events if e["kind"] == "node_failed"]
        assert failed == [
            {
                **failed[0],
                "node_id": "cli_explode",
                "error": "RuntimeError('exploded with 0 parts')",
            }
        ]
        assert events[-1]["kind"] == "workflow_failed"

    def test_trace_into_missing_directory_exits_2(self, cli: Cli, tmp_path: Path) -> None:
        """--trace into a folder that does not exist is refused before running."""
        run = cli("run", EXAMPLE, "--trace", tmp_path / "nope" / "t.jsonl")
        assert run.code == 2
        assert "--trace" in run.err and "no such directory" in run.err
        assert run.out == ""


class TestTimeline:
    def test_timeline_page_has_every_node(self, cli: Cli, tmp_path: Path) -> None:
        """--timeline writes an HTML page with one bar per node."""
        page = tmp_path / "timeline.html"
        assert cli("run", EXAMPLE, "--timeline", page).code == 0
        text = page.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>")
        for node in ETL_NODES:
            assert f'data-node="{node}" data-status="completed"' in text

    def test_timeline_written_on_failure(
        self, cli: Cli, write_file: WriteFile, tmp_path: Path
    ) -> None:
        """--timeline is written when the workflow fails too, with each status."""
        page = tmp_path / "timeline.html"
        assert cli("run", write_file("failing.py", FAILING), "--timeline", page).code == 1
        text = page.read_text(encoding="utf-8")
        assert 'data-node="cli_explode" data-status="failed"' in text
        assert 'data-node="never" data-status="skipped"' in text
        assert "RuntimeError: exploded with 0 parts" in text


class TestProgress:
    def test_no_progress_display_off_a_terminal(self) -> None:
        """The live progress display is only made for a terminal."""
        workflow = Workflow("w", {}, (), (), ())
        assert _LiveProgress.for_stream(workflow, io.StringIO()) is None
