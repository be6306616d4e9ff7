"""The command line: ``awaitflow run`` executes a workflow file, ``awaitflow graph`` draws it.

Exit status: 0 when the workflow succeeded, 1 when it (or the file's ``setup``
hook, or releasing a resource) failed, 2 for a usage error: a bad argument, a
file that cannot be loaded, no such workflow, or a workflow that fails validation.
``rich`` is imported only here, and only when a command prints, so that
``import awaitflow`` stays light.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.machinery
import importlib.util
import inspect
import itertools
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from ._builder import AsyncWorkflowBuilder
from ._events import Event
from ._exceptions import WorkflowValidationError
from ._graph import Workflow
from ._results import WorkflowResult
from ._runtime import AsyncLocalRuntime
from ._timeline import format_duration, format_user_traceback, write_timeline

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_FACTORY_PREFIXES = ("build_", "make_", "create_")
_WORKFLOW_ANNOTATION = re.compile(r"\b(Workflow|AsyncWorkflowBuilder)\b")
_PROGRESS_DELAY = 0.5
_PREVIEW_WIDTH = 72
_KEYS_SHOWN = 8
_module_ids = itertools.count(1)


class UsageError(Exception):
    """A mistake in how the command was called; reported without a traceback, exit 2."""


class _ReportedError(Exception):
    """A failure whose message (a traceback, say) is already complete; exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- arguments ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="awaitflow",
        description="Run or draw an awaitflow workflow defined in a Python file.",
        epilog="Exit status: 0 success, 1 the workflow failed, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"awaitflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    target_help = (
        "a Python file, optionally with :NAME, the module-level Workflow, "
        "AsyncWorkflowBuilder or function returning one (default: the file's only one)"
    )
    run = commands.add_parser(
        "run",
        help="run a workflow and print its outputs and per-node timings",
        description="Run a workflow and print its outputs and per-node timings.",
    )
    run.add_argument("target", metavar="FILE.py[:NAME]", help=target_help)
    run.add_argument(
        "--inputs",
        metavar="JSON",
        help="the workflow inputs as a JSON object, or @path to a file holding one",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print only {node_id: output} as JSON on stdout; timings go to stderr",
    )
    run.add_argument(
        "--trace", metavar="FILE", help="write the runtime's events to FILE as JSON lines"
    )
    run.add_argument(
        "--timeline",
        metavar="FILE.html",
        help="write a timeline picture of the run (a self-contained HTML page)",
    )

    graph = commands.add_parser(
        "graph",
        help="print the workflow as a Mermaid flowchart",
        description="Print the workflow as a Mermaid flowchart.",
    )
    graph.add_argument("target", metavar="FILE.py[:NAME]", help=target_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``awaitflow`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 success, 1 the workflow failed, 2 usage error.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports its own errors and --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "graph":
            return _graph_command(args)
        return _run_command(args)
    except UsageError as exc:
        print(f"awaitflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _ReportedError as exc:
        print(f"awaitflow: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("awaitflow: interrupted", file=sys.stderr)
        return 130


# -- loading a workflow from a file -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    path: Path
    name: str | None
    text: str


def _parse_target(text: str) -> _Target:
    path_text, sep, name = text.rpartition(":")
    if sep and name.isidentifier() and not Path(text).exists():
        target = _Target(Path(path_text), name, text)
    else:
        target = _Target(Path(text), None, text)
    if not target.path.exists():
        raise UsageError(f"no such file: {str(target.path)!r}")
    if not target.path.is_file():
        raise UsageError(f"{str(target.path)!r} is not a file")
    return target


def _user_frames_only(error: BaseException) -> str:
    text = format_user_traceback(error)
    return "\n".join(line for line in text.splitlines() if "<frozen importlib" not in line)


def _last_line_in(error: BaseException, path: Path) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if Path(frame.f_code.co_filename).resolve() == path:
            line = lineno
    return line


@contextlib.contextmanager
def _loaded_module(path: Path) -> Iterator[ModuleType]:
    """Import ``path`` as a fresh module, with its folder on ``sys.path``, for the block."""
    path = path.resolve()
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_awaitflow_cli_{stem}_{next(_module_ids)}"
    folder = str(path.parent)
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        try:
            loader.exec_module(module)
        except SyntaxError as exc:
            detail = "".join(traceback.format_exception_only(exc)).rstrip()
            raise UsageError(f"cannot load {str(path)!r}:\n{detail}") from None
        except WorkflowValidationError as exc:
            line = _last_line_in(exc, path)
            where = f"{path}:{line}" if line else str(path)
            raise UsageError(f"invalid workflow ({where}): {exc}") from None
        except Exception as exc:
            raise _ReportedError(
                f"importing {str(path)!r} raised an exception:\n{_user_frames_only(exc)}",
                EXIT_USAGE,
            ) from None
        yield module
    finally:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _returns_workflow(func: Callable[..., Any]) -> bool:
    try:
        annotation = inspect.signature(func).return_annotation
    except (TypeError, ValueError):
        return False
    if isinstance(annotation, type):
        return issubclass(annotation, Workflow | AsyncWorkflowBuilder)
    return isinstance(annotation, str) and bool(_WORKFLOW_ANNOTATION.search(annotation))


def _callable_without_arguments(func: Callable[..., Any]) -> bool:
    try:
        inspect.signature(func).bind()
    except (TypeError, ValueError):
        return False
    return True


def _is_factory(name: str, value: Any, module: ModuleType) -> bool:
    return (
        inspect.isfunction(value)
        and value.__module__ == module.__name__
        and (name.startswith(_FACTORY_PREFIXES) or _returns_workflow(value))
        and _callable_without_arguments(value)
    )


def _candidates(module: ModuleType) -> dict[str, Any]:
    """The module's public workflows, builders and workflow factories, by variable name."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for name, value in vars(module).items():
        if name.startswith("_") or id(value) in seen:
            continue
        if isinstance(value, Workflow | AsyncWorkflowBuilder) or _is_factory(name, value, module):
            found[name] = value
            seen.add(id(value))
    return found


def _describe(value: Any) -> str:
    if isinstance(value, Workflow):
        return f"Workflow {value.name!r}, {len(value.nodes)} nodes"
    if isinstance(value, AsyncWorkflowBuilder):
        return f"AsyncWorkflowBuilder {value.name!r}"
    kind = "async function" if inspect.iscoroutinefunction(value) else "function"
    return f"{kind} returning a workflow"


def _choose(module: ModuleType, target: _Target) -> tuple[str, Any]:
    """The (name, value) the target designates in ``module``."""
    candidates = _candidates(module)
    listing = "\n".join(
        f"  {target.path}:{name}  ({_describe(value)})" for name, value in candidates.items()
    )
    if target.name is not None:
        if not hasattr(module, target.name):
            known = f"; workflows there:\n{listing}" if listing else "; it defines no workflow"
            raise UsageError(f"{str(target.path)!r} has no name {target.name!r}{known}")
        value = getattr(module, target.name)
        if inspect.isclass(value) or not (
            isinstance(value, Workflow | AsyncWorkflowBuilder) or callable(value)
        ):
            what = (
                f"the class {value.__name__}"
                if inspect.isclass(value)
                else f"a {type(value).__name__}"
            )
            raise UsageError(
                f"{target.name!r} in {str(target.path)!r} is {what}, not a Workflow, "
                "an AsyncWorkflowBuilder or a function returning one"
            )
        return target.name, value
    if len(candidates) == 1:
        return next(iter(candidates.items()))
    if not candidates:
        raise UsageError(
            f"{str(target.path)!r} defines no workflow: expected a module-level Workflow, "
            "AsyncWorkflowBuilder, or a function named build_*, make_* or create_* "
            "(or annotated to return one) that takes no arguments"
        )
    raise UsageError(
        f"{str(target.path)!r} defines {len(candidates)} workflows; name one as FILE.py:NAME:\n"
        f"{listing}"
    )


async def _resolve(name: str, value: Any) -> Workflow:
    """Build the workflow ``value`` stands for (calling and awaiting a factory)."""
    if not isinstance(value, Workflow | AsyncWorkflowBuilder):
        if not _callable_without_arguments(value):
            raise UsageError(f"{name}() cannot be called without arguments")
        try:
            value = value()
            if inspect.isawaitable(value):
                value = await value
        except WorkflowValidationError as exc:
            raise UsageError(f"invalid workflow (from {name}()): {exc}") from None
        except Exception as exc:
            raise _ReportedError(
                f"{name}() raised an exception:\n{format_user_traceback(exc)}", EXIT_USAGE
            ) from None
        if not isinstance(value, Workflow | AsyncWorkflowBuilder):
            raise UsageError(
                f"{name}() returned a {type(value).__name__}, not a Workflow or "
                "AsyncWorkflowBuilder"
            )
    if isinstance(value, AsyncWorkflowBuilder):
        try:
            return value.build()
        except WorkflowValidationError as exc:
            raise UsageError(f"invalid workflow {value.name!r} ({name}): {exc}") from None
    return value


# -- the graph command --------------------------------------------------------------------


def _graph_command(args: argparse.Namespace) -> int:
    target = _parse_target(args.target)
    with _loaded_module(target.path) as module:
        name, value = _choose(module, target)
        workflow = asyncio.run(_resolve(name, value))
    sys.stdout.write(workflow.to_mermaid())
    return EXIT_OK


# -- the run command ----------------------------------------------------------------------


def _parse_inputs(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    source = "--inputs"
    if text.startswith("@"):
        path = Path(text[1:])
        source = f"--inputs file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos})"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"{source} must be a JSON object, got a JSON {_json_kind(value)}")
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _check_writable(option: str, path_text: str | None) -> Path | None:
    if path_text is None:
        return None
    path = Path(path_text)
    if path.is_dir():
        raise UsageError(f"{option} {path_text!r} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path_text!r}: no such directory {str(parent)!r}")
    return path


def _setup_hook(module: ModuleType) -> Callable[[AsyncLocalRuntime], Any] | None:
    hook = getattr(module, "setup", None)
    if hook is None or not callable(hook):
        return None
    try:
        inspect.signature(hook).bind(None)
    except TypeError:
        raise UsageError(
            "setup() must take the runtime as its one argument: def setup(runtime): ..."
        ) from None
    except ValueError:
        pass
    return hook  # type: ignore[no-any-return]


@dataclass(slots=True)
class _RunOutcome:
    workflow: Workflow
    result: WorkflowResult | None = None
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _run_command(args: argparse.Namespace) -> int:
    inputs = _parse_inputs(args.inputs)
    trace_path = _check_writable("--trace", args.trace)
    timeline_path = _check_writable("--timeline", args.timeline)
    target = _parse_target(args.target)
    with _loaded_module(target.path) as module:
        name, value = _choose(module, target)
        outcome = asyncio.run(_execute(module, name, value, inputs))

    if trace_path is not None:
        try:
            _write_trace(trace_path, outcome.events)
        except OSError as exc:
            outcome.problems.append(f"cannot write --trace {str(trace_path)!r}: {exc}")
    if outcome.result is not None:
        if timeline_path is not None:
            try:
                write_timeline(outcome.result, timeline_path)
            except OSError as exc:
                outcome.problems.append(f"cannot write --timeline {str(timeline_path)!r}: {exc}")
        _report(outcome.workflow, outcome.result, as_json=args.json)
    failed = bool(outcome.problems) or outcome.result is None or not outcome.result.success
    for problem in outcome.problems:
        print(f"awaitflow: error: {problem}", file=sys.stderr)
    if outcome.result is not None and not outcome.result.success:
        print(_describe_failure(outcome.result), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def _execute(
    module: ModuleType, name: str, value: Any, inputs: dict[str, Any]
) -> _RunOutcome:
    workflow = await _resolve(name, value)
    hook = _setup_hook(module)
    outcome = _RunOutcome(workflow)
    runtime = AsyncLocalRuntime()
    runtime.subscribe(outcome.events.append)
    progress = _LiveProgress.for_stream(workflow, sys.stderr)
    if progress is not None:
        runtime.subscribe(progress.on_event)
    try:
        if hook is not None:
            try:
                done = hook(runtime)
                if inspect.isawaitable(done):
                    await done
            except Exception as exc:
                outcome.problems.append(
                    f"setup(runtime) raised an exception:\n{format_user_traceback(exc)}"
                )
                return outcome
        try:
            if progress is not None:
                async with progress.shown_after(_PROGRESS_DELAY):
                    outcome.result = await runtime.execute(workflow, inputs, raise_on_error=False)
            else:
                outcome.result = await runtime.execute(workflow, inputs, raise_on_error=False)
        except Exception as exc:
            outcome.problems.append(
                f"workflow {workflow.name!r} could not run:\n{format_user_traceback(exc)}"
            )
    finally:
        try:
            await runtime.shutdown()
        except Exception as exc:
            outcome.problems.append(f"releasing resources failed:\n{format_user_traceback(exc)}")
    return outcome


def _describe_failure(result: WorkflowResult) -> str:
    failed = [n for n, status in result.node_status.items() if status == "failed"]
    lines = [
        f"workflow {result.workflow!r} failed"
        + (f" at node {', '.join(map(repr, failed))}" if failed else "")
    ]
    shown: set[int] = set()
    for node_id, error in result.errors.items():
        status = result.node_status.get(node_id, "failed")
        if id(error) in shown:
            lines.append(f"\nnode {node_id!r} ({status}): {type(error).__name__}: {error}")
            continue
        shown.add(id(error))
        lines.append(f"\nnode {node_id!r} ({status}):\n{format_user_traceback(error)}")
    return "\n".join(lines)


# -- trace --------------------------------------------------------------------------------


def _write_trace(path: Path, events: list[Event]) -> None:
    origin = events[0].timestamp if events else 0.0
    lines = []
    for event in events:
        record = {
            "kind": event.kind,
            "workflow": event.workflow,
            "node_id": event.node_id,
            "timestamp": event.timestamp,
            "elapsed": event.timestamp - origin,
            "error": None if event.error is None else repr(event.error),
            "execution_id": event.execution_id,
            "attempt": event.attempt,
            "resource": event.resource,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# -- output -------------------------------------------------------------------------------


def _jsonable(value: Any, _path: frozenset[int] = frozenset()) -> Any:
    """``value`` as plain JSON data: containers recursed, other values as their ``repr``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        if id(value) in _path:
            return "<cycle>"
        inner = _path | {id(value)}
        if isinstance(value, dict):
            return {str(k): _jsonable(v, inner) for k, v in value.items()}
        return [_jsonable(v, inner) for v in value]
    return repr(value)


def _preview(value: Any, width: int = _PREVIEW_WIDTH) -> str:
    text = json.dumps(_jsonable(value), ensure_ascii=False)
    if len(text) <= width:
        return text
    prefix = ""
    if isinstance(value, dict | list | tuple | set | frozenset):
        prefix = f"({len(value)} items) "
    return prefix + text[: max(width - len(prefix) - 1, 8)] + "…"


_STATUS_STYLE = {
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "skipped": "dim",
}


def _console(stream: TextIO) -> Console:
    from rich.console import Console

    terminal = stream.isatty()
    width = None if terminal or "COLUMNS" in os.environ else 120
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _report(workflow: Workflow, result: WorkflowResult, *, as_json: bool) -> None:
    if as_json:
        outputs = {n: _jsonable(result.outputs[n]) for n in workflow.order if n in result.outputs}
        sys.stdout.write(json.dumps(outputs, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        _console(sys.stderr).print(_timings_table(workflow, result))
        return
    console = _console(sys.stdout)
    console.print(_outputs_table(workflow, result))
    console.print(_timings_table(workflow, result))


def _outputs_table(workflow: Workflow, result: WorkflowResult) -> Any:
    from rich.table import Table
    from rich.text import Text

    title = f"Outputs of workflow {workflow.name!r}"
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    table.add_column("node", no_wrap=True)
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="ellipsis", no_wrap=True)
    for node_id in workflow.order:
        status = result.node_status.get(node_id, "skipped")
        if node_id not in result.outputs:
            table.add_row(
                Text(node_id), Text(""), Text(f"(no output: {status})", style=_STATUS_STYLE[status])
            )
            continue
        output = result.outputs[node_id]
        if not output:
            table.add_row(Text(node_id), Text(""), Text("(empty)", style="dim"))
        items = list(output.items())
        for index, (key, value) in enumerate(items[:_KEYS_SHOWN]):
            label = Text(node_id if index == 0 else "")
            table.add_row(label, Text(str(key)), Text(_preview(value)))
        if len(items) > _KEYS_SHOWN:
            more = len(items) - _KEYS_SHOWN
            table.add_row(Text(""), Text(f"… {more} more keys", style="dim"), Text(""))
        table.add_section()
    return table


def _timings_table(workflow: Workflow, result: WorkflowResult) -> Any:
    from rich.table import Table
    from rich.text import Text

    origin = result.started_at
    span = max(result.execution_time, 1e-9)
    bar_width = 30
    title = f"Timings of workflow {workflow.name!r}"
    table = Table(title=title, title_justify="left", min_width=len(title) + 2)
    table.add_column("node", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("start", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("timeline", no_wrap=True)
    started = sorted(result.timings, key=lambda n: result.timings[n].start)
    never = [n for n in workflow.nodes if n not in result.timings]
    for node_id in started:
        timing = result.timings[node_id]
        status = result.node_status.get(node_id, "completed")
        first = min(int((timing.start - origin) / span * bar_width), bar_width - 1)
        last = max(min(math.ceil((timing.end - origin) / span * bar_width), bar_width), first + 1)
        bar = Text(" " * first)
        bar.append("━" * (last - first), style=_STATUS_STYLE[status])
        table.add_row(
            Text(node_id),
            Text(status, style=_STATUS_STYLE[status]),
            f"+{format_duration(timing.start - origin)}",
            format_duration(timing.duration),
            bar,
        )
    for node_id in never:
        status = result.node_status.get(node_id, "skipped")
        table.add_row(Text(node_id), Text(status, style=_STATUS_STYLE[status]), "", "", "")
    outcome = "succeeded" if result.success else "failed"
    table.add_section()
    table.add_row(
        Text("total", style="bold"),
        Text(outcome, style="green" if result.success else "bold red"),
        "",
        Text(format_duration(result.execution_time), style="bold"),
        "",
    )
    return table


# -- live progress --------------------------------------------------------------------------


class _LiveProgress:
    """A progress line on a terminal's stderr: nodes done of total, the running nodes."""

    def __init__(self, workflow: Workflow, stream: TextIO) -> None:
        self.workflow = workflow
        self.stream = stream
        self.done = 0
        self.running: dict[str, None] = {}
        self.execution_id: int | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @classmethod
    def for_stream(cls, workflow: Workflow, stream: TextIO) -> _LiveProgress | None:
        """A progress display on ``stream`` when it is a terminal, else None."""
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):
            terminal = False
        return cls(workflow, stream) if terminal else None

    def on_event(self, event: Event) -> None:
        """Follow the nodes of the execution this command started."""
        if event.kind == "workflow_started" and self.execution_id is None:
            self.execution_id = event.execution_id
        if event.execution_id != self.execution_id or event.node_id is None:
            return
        if event.kind == "node_started":
            self.running[event.node_id] = None
        elif event.kind in ("node_completed", "node_failed"):
            self.running.pop(event.node_id, None)
            self.done += 1
        self._refresh()

    def _running_text(self) -> str:
        if not self.running:
            return ""
        names = ", ".join(self.running)
        return "running: " + (names if len(names) <= 60 else names[:59] + "…")

    def _refresh(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done, running=self._running_text())

    @contextlib.asynccontextmanager
    async def shown_after(self, delay: float) -> Any:
        """Show the display if the block is still running after ``delay`` seconds."""
        timer = asyncio.get_running_loop().call_later(delay, self._start)
        try:
            yield self
        finally:
            timer.cancel()
            self._stop()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("nodes"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[running]}", markup=False),
            console=Console(file=self.stream),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(
            self.workflow.name,
            total=len(self.workflow.nodes),
            completed=self.done,
            running=self._running_text(),
        )
        self._progress.start()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
