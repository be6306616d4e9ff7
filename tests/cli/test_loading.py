"""How the command line finds the workflow in a file, and its usage errors (exit 2)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CliRun

Cli = Callable[..., CliRun]
WriteFile = Callable[[str, str], Path]

TWO = """
from awaitflow import AsyncWorkflowBuilder

first = AsyncWorkflowBuilder("first").add_async_code("one", "x = 1")
second = AsyncWorkflowBuilder("second").add_async_code("two", "y = 2").build()
"""


class TestChoosing:
    def test_two_workflows_without_name_exit_2_listing_them(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """Without NAME, a file with two workflows is an error listing them by variable."""
        path = write_file("two.py", TWO)
        run = cli("run", path)
        assert run.code == 2
        assert run.err == (
            f"awaitflow: error: {str(path)!r} defines 2 workflows; name one as FILE.py:NAME:\n"
            f"  {path}:first  (AsyncWorkflowBuilder 'first')\n"
            f"  {path}:second  (Workflow 'second', 1 nodes)\n"
        )
        assert "Traceback" not in run.err

    @pytest.mark.parametrize(
        ("name", "expected"), [("first", {"one": {"x": 1}}), ("second", {"two": {"y": 2}})]
    )
    def test_file_colon_name_picks_one(
        self, cli: Cli, write_file: WriteFile, name: str, expected: dict[str, object]
    ) -> None:
        """FILE.py:NAME runs the workflow bound to NAME."""
        run = cli("run", f"{write_file('two.py', TWO)}:{name}", "--json")
        assert run.code == 0, run.err
        assert json.loads(run.out) == expected

    def test_unknown_name_exits_2_listing_workflows(self, cli: Cli, write_file: WriteFile) -> None:
        """An unknown NAME is an error that lists the workflows there."""
        path = write_file("two.py", TWO)
        run = cli("run", f"{path}:third")
        assert run.code == 2
        assert f"{str(path)!r} has no name 'third'; workflows there:" in run.err
        assert f"{path}:first" in run.err and f"{path}:second" in run.err

    def test_name_of_something_else_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A NAME bound to a plain value is refused, naming its type."""
        path = write_file("value.py", "LIMIT = 3\n")
        run = cli("run", f"{path}:LIMIT")
        assert run.code == 2
        assert "'LIMIT' in" in run.err and "is a int, not a Workflow" in run.err

    def test_name_of_a_class_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A NAME bound to a class is refused rather than instantiated."""
        path = write_file("cls.py", "from awaitflow import AsyncWorkflowBuilder\n")
        run = cli("run", f"{path}:AsyncWorkflowBuilder")
        assert run.code == 2
        assert "is the class AsyncWorkflowBuilder, not a Workflow" in run.err

    def test_file_without_workflow_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A file defining no workflow says what it looked for."""
        run = cli("run", write_file("empty.py", "def helper(x):\n    return x\n"))
        assert run.code == 2
        assert "defines no workflow: expected a module-level Workflow" in run.err

    def test_missing_file_exits_2(self, cli: Cli, tmp_path: Path) -> None:
        """A file that does not exist exits 2 with its name."""
        run = cli("run", tmp_path / "ghost.py")
        assert run.code == 2
        assert run.err == f"awaitflow: error: no such file: {str(tmp_path / 'ghost.py')!r}\n"

    def test_directory_exits_2(self, cli: Cli, tmp_path: Path) -> None:
        """A directory is not a workflow file."""
        run = cli("run", tmp_path)
        assert run.code == 2
        assert "is not a file" in run.err

    def test_one_object_under_two_names_counts_once(self, cli: Cli, write_file: WriteFile) -> None:
        """Aliases of the same workflow are not an ambiguity."""
        path = write_file(
            "alias.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            pipeline = AsyncWorkflowBuilder("p").add_async_code("a", "x = 1").build()
            default = pipeline
            """,
        )
        assert cli("run", path).code == 0

    def test_private_names_are_not_candidates(self, cli: Cli, write_file: WriteFile) -> None:
        """Names starting with an underscore are skipped when choosing automatically."""
        path = write_file(
            "private.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            _draft = AsyncWorkflowBuilder("draft").add_async_code("d", "x = 0")
            final = AsyncWorkflowBuilder("final").add_async_code("f", "x = 1")
            """,
        )
        run = cli("run", path, "--json")
        assert json.loads(run.out) == {"f": {"x": 1}}
        assert json.loads(cli("run", f"{path}:_draft", "--json").out) == {"d": {"x": 0}}


class TestFactories:
    def test_build_function_is_called(self, cli: Cli, write_file: WriteFile) -> None:
        """A zero-argument build_* function is the file's workflow."""
        path = write_file(
            "factory.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            def build_pipeline():
                return AsyncWorkflowBuilder("made").add_async_code("m", "x = 'made'")
            """,
        )
        assert json.loads(cli("run", path, "--json").out) == {"m": {"x": "made"}}

    def test_async_factory_is_awaited(self, cli: Cli, write_file: WriteFile) -> None:
        """An async make_* function is awaited."""
        path = write_file(
            "afactory.py",
            """
            import asyncio
            from awaitflow import AsyncWorkflowBuilder

            async def make_pipeline():
                await asyncio.sleep(0)
                return AsyncWorkflowBuilder("made").add_async_code("m", "x = 'async'").build()
            """,
        )
        assert json.loads(cli("run", path, "--json").out) == {"m": {"x": "async"}}

    def test_annotated_function_counts(self, cli: Cli, write_file: WriteFile) -> None:
        """A function annotated to return a Workflow counts whatever its name."""
        path = write_file(
            "annotated.py",
            """
            from __future__ import annotations
            from awaitflow import AsyncWorkflowBuilder, Workflow

            def pipeline() -> Workflow:
                return AsyncWorkflowBuilder("a").add_async_code("n", "x = 5").build()
            """,
        )
        assert json.loads(cli("run", path, "--json").out) == {"n": {"x": 5}}

    def test_functions_with_arguments_or_other_names_do_not_count(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """build_* helpers that need arguments, and other functions, are not candidates."""
        path = write_file(
            "helpers.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            def build_query(table):
                return f"SELECT * FROM {table}"

            def pipeline():
                return None

            workflow = AsyncWorkflowBuilder("w").add_async_code("q", "x = 1")
            """,
        )
        assert json.loads(cli("run", path, "--json").out) == {"q": {"x": 1}}

    def test_factory_returning_something_else_exits_2(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """A factory that returns no workflow is refused, naming what it returned."""
        path = write_file("wrong.py", "def build_it():\n    return 42\n")
        run = cli("run", path)
        assert run.code == 2
        assert "build_it() returned a int, not a Workflow or AsyncWorkflowBuilder" in run.err

    def test_factory_raising_exits_2_with_traceback(self, cli: Cli, write_file: WriteFile) -> None:
        """An exception in the factory shows its traceback and exits 2."""
        path = write_file("raising.py", "def build_it():\n    raise LookupError('no config')\n")
        run = cli("run", path)
        assert run.code == 2
        assert "build_it() raised an exception" in run.err
        assert f'File "{path}", line 2, in build_it' in run.err
        assert "LookupError: no config" in run.err


class TestLoadErrors:
    def test_validation_error_at_module_level_exits_2_without_traceback(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """A build() at import that fails validation: exit 2, message and line, no traceback."""
        path = write_file(
            "dup.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = (
                AsyncWorkflowBuilder("dup")
                .add_async_code("a", "x = 1")
                .add_async_code("a", "x = 2")
                .build()
            )
            """,
        )
        run = cli("run", path)
        assert run.code == 2
        assert run.err == (
            f"awaitflow: error: invalid workflow ({path}:7): duplicate node id 'a' in "
            "workflow 'dup'\n"
        )

    def test_validation_error_of_a_builder_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A module-level builder that fails build() exits 2 naming the problem."""
        path = write_file(
            "cycle.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = (
                AsyncWorkflowBuilder("loop")
                .add_async_code("a", "x = 1")
                .add_async_code("b", "y = 1")
                .add_connection("a", "x", "b", "x")
                .add_connection("b", "y", "a", "y")
            )
            """,
        )
        run = cli("graph", path)
        assert run.code == 2
        assert run.err.startswith("awaitflow: error: invalid workflow 'loop' (workflow): ")
        assert "connections form a cycle" in run.err
        assert "Traceback" not in run.err

    def test_code_syntax_error_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A syntax error in a code node is reported with the node, line and column."""
        path = write_file(
            "syntax_node.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = AsyncWorkflowBuilder("s").add_async_code("broken", "x = (1 +")
            """,
        )
        run = cli("run", path)
        assert run.code == 2
        assert "node 'broken': syntax error at line 1" in run.err

    def test_python_syntax_error_exits_2(self, cli: Cli, write_file: WriteFile) -> None:
        """A file that is not valid Python exits 2 showing the bad line."""
        path = write_file("bad_syntax.py", "x = 1\ndef broken(:\n    pass\n")
        run = cli("run", path)
        assert run.code == 2
        assert f"cannot load {str(path)!r}" in run.err
        assert "line 2" in run.err and "def broken(:" in run.err
        assert "Traceback" not in run.err

    def test_import_error_exits_2_with_the_file_line(self, cli: Cli, write_file: WriteFile) -> None:
        """An exception while importing shows the file's traceback, not the loader's."""
        path = write_file("boom.py", "import math\nvalue = math.sqrt(-1)\n")
        run = cli("run", path)
        assert run.code == 2
        assert f"importing {str(path)!r} raised an exception" in run.err
        assert f'File "{path}", line 2, in <module>' in run.err
        assert "ValueError: math domain error" in run.err
        assert "frozen importlib" not in run.err


class TestModuleHygiene:
    def test_sibling_modules_import_and_sys_path_is_restored(
        self, cli: Cli, write_file: WriteFile
    ) -> None:
        """The file's folder is on sys.path while it loads, and removed afterwards."""
        write_file("pkg_helpers_cli_test.py", "GREETING = 'hi from a sibling'\n")
        path = write_file(
            "uses_sibling.py",
            """
            from pkg_helpers_cli_test import GREETING
            from awaitflow import AsyncWorkflowBuilder

            workflow = AsyncWorkflowBuilder("s").add_async_code("g", f"text = {GREETING!r}")
            """,
        )
        before = list(sys.path)
        run = cli("run", path, "--json")
        sys.modules.pop("pkg_helpers_cli_test", None)
        assert json.loads(run.out) == {"g": {"text": "hi from a sibling"}}
        assert sys.path == before

    def test_loaded_module_is_not_left_behind(self, cli: Cli, write_file: WriteFile) -> None:
        """The workflow file's module is removed from sys.modules after the command."""
        before = set(sys.modules)
        assert cli("run", f"{write_file('two.py', TWO)}:first").code == 0
        assert {m for m in set(sys.modules) - before if m.startswith("_awaitflow_cli_")} == set()

    def test_main_guard_does_not_run(self, cli: Cli, write_file: WriteFile) -> None:
        """The file is imported, not run as __main__."""
        path = write_file(
            "guarded.py",
            """
            from awaitflow import AsyncWorkflowBuilder

            workflow = AsyncWorkflowBuilder("g").add_async_code("a", "x = __name__")

            if __name__ == "__main__":
                raise SystemExit("ran as a script")
            """,
        )
        assert cli("run", path).code == 0


class TestArguments:
    def test_no_command_prints_help_and_exits_2(self, cli: Cli) -> None:
        """``awaitflow`` alone shows the usage."""
        run = cli()
        assert run.code == 2
        assert "usage: awaitflow" in run.err
        assert "run" in run.err and "graph" in run.err

    def test_help_exits_0(self, cli: Cli) -> None:
        """``awaitflow run --help`` documents the options."""
        run = cli("run", "--help")
        assert run.code == 0
        for option in ("--inputs", "--json", "--trace", "--timeline"):
            assert option in run.out

    def test_unknown_option_exits_2(self, cli: Cli) -> None:
        """An unknown option is an argparse error, exit 2."""
        run = cli("run", "x.py", "--frobnicate")
        assert run.code == 2
        assert "unrecognized arguments: --frobnicate" in run.err
