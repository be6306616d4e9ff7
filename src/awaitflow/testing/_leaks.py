"""Leak checks for async tests.

A :class:`LeakCheck` brackets a test: ``start()`` before it, ``await finish()`` after
it. ``finish()`` reports what the test left behind, as :class:`Leak` records:

* ``"task"``: a task created during the test and still running at its end. It gets a
  few loop iterations to finish on its own, then the check cancels it and waits for
  it, so it cannot run on into the next test.
* ``"coroutine"``: a coroutine created and never awaited (the ``RuntimeWarning:
  coroutine '...' was never awaited`` of CPython), caught while the check runs.
* ``"resource"``: an object registered with :func:`track_resource` during the test and
  neither released with :func:`untrack_resource` nor alive any more.

:class:`LeakError` turns the records into a test failure that names every culprit.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import math
import os
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "Leak",
    "LeakCheck",
    "LeakError",
    "format_leaks",
    "node_task_name",
    "track_resource",
    "untrack_resource",
]

LeakKind = Literal["task", "coroutine", "resource"]

TASK_NAME_PREFIX: Final = "awaitflow:"
_UNAWAITED_PATTERN: Final = r"coroutine .* was never awaited"
_ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__) + os.sep


@dataclass(frozen=True)
class Leak:
    """One thing a test left behind.

    ``kind`` is ``"task"``, ``"coroutine"`` or ``"resource"``; ``description`` names
    the culprit and where it is. For a task named after the engine's convention
    ``awaitflow:<workflow>:<node_id>``, ``workflow`` and ``node_id`` name the node.
    """

    kind: LeakKind
    description: str
    workflow: str | None = None
    node_id: str | None = None

    def __str__(self) -> str:
        return self.description


def format_leaks(leaks: Sequence[Leak]) -> str:
    """Describe ``leaks`` as one message, a line per leak."""
    if not leaks:
        return "no leaks"
    count = "1 leak" if len(leaks) == 1 else f"{len(leaks)} leaks"
    return f"the test left {count} behind:\n" + "\n".join(f"  - {leak}" for leak in leaks)


class LeakError(AssertionError):
    """A test left tasks, unawaited coroutines or resources behind; ``leaks`` lists them."""

    def __init__(self, leaks: Iterable[Leak]) -> None:
        self.leaks = list(leaks)
        super().__init__(format_leaks(self.leaks))


def node_task_name(workflow: str, node_id: str) -> str:
    """The task name the engine gives a node's task: ``awaitflow:<workflow>:<node_id>``."""
    return f"{TASK_NAME_PREFIX}{workflow}:{node_id}"


def _parse_task_name(name: str) -> tuple[str, str] | None:
    """``(workflow, node_id)`` from a node task name; the node id follows the last colon."""
    if not name.startswith(TASK_NAME_PREFIX):
        return None
    workflow, colon, node_id = name[len(TASK_NAME_PREFIX) :].rpartition(":")
    return (workflow, node_id) if colon else None


# -- resources ---------------------------------------------------------------------------


@dataclass
class _Tracked:
    ref: Callable[[], object | None]
    description: str
    seq: int


_lock = threading.Lock()
_sequence = itertools.count()
_tracked: dict[int, _Tracked] = {}
_collected: collections.deque[tuple[int, _Tracked]] = collections.deque()
_dropped_while_open: list[_Tracked] = []
_active_checks = 0


def track_resource(obj: object, description: str) -> None:
    """Register ``obj`` as a resource its owner must release before the test ends.

    Release it with :func:`untrack_resource`. A leak check running when ``obj`` was
    registered reports it if it is still registered at the end, or if it was
    garbage-collected while registered. Objects that cannot be weakly referenced are
    held strongly until released. Registering an object again replaces its description.
    """
    if not isinstance(description, str) or not description:
        raise ValueError(f"track_resource() needs a non-empty description, got {description!r}")
    key = id(obj)
    with _lock:
        _drain_collected()
        entry = _Tracked(lambda: None, description, next(_sequence))
        try:
            entry.ref = weakref.ref(obj, lambda _ref: _collected.append((key, entry)))
        except TypeError:
            entry.ref = lambda: obj
        _tracked[key] = entry


def untrack_resource(obj: object) -> None:
    """Release ``obj``: it no longer counts as a leak. Unregistered objects are ignored."""
    with _lock:
        _drain_collected()
        entry = _tracked.get(id(obj))
        if entry is not None and entry.ref() is obj:
            del _tracked[id(obj)]


def _drain_collected() -> None:
    """Forget the registered objects that were garbage-collected (call with the lock)."""
    while _collected:
        key, entry = _collected.popleft()
        if _tracked.get(key) is entry:
            del _tracked[key]
            if _active_checks:
                _dropped_while_open.append(entry)


# -- describing tasks and coroutines ------------------------------------------------------------


def _frame_of(awaitable: object) -> types.FrameType | None:
    for attribute in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(awaitable, attribute, None)
        if isinstance(frame, types.FrameType):
            return frame
    return None


def _awaited_by(awaitable: object) -> object | None:
    for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner: object | None = getattr(awaitable, attribute, None)
        if inner is not None:
            return inner
    return None


def _name_of(awaitable: object) -> str:
    code = getattr(_frame_of(awaitable), "f_code", None)
    name = getattr(awaitable, "__qualname__", None)
    if not isinstance(name, str) or code is None:
        kind = type(awaitable).__qualname__
        return "a Future" if kind == "FutureIter" else kind
    return f"asyncio.{name}" if code.co_filename.startswith(_ASYNCIO_DIR) else name


def _suspension(coro: object) -> str:
    """Where a coroutine is suspended: its innermost frame outside asyncio, and what it awaits."""
    chain: list[object] = []
    current: object | None = coro
    while current is not None and len(chain) < 100:
        chain.append(current)
        current = _awaited_by(current)
    framed = [(item, frame) for item in chain if (frame := _frame_of(item)) is not None]
    if not framed:
        return ""
    user = [i for i, (_, frame) in enumerate(framed) if not _in_asyncio(frame)]
    index = user[-1] if user else 0
    frame = framed[index][1]
    text = f", suspended at {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
    position = chain.index(framed[index][0])
    if position + 1 < len(chain):
        text += f" awaiting {_name_of(chain[position + 1])}"
    return text


def _in_asyncio(frame: types.FrameType) -> bool:
    return frame.f_code.co_filename.startswith(_ASYNCIO_DIR)


def _describe_task(task: asyncio.Task[Any]) -> Leak:
    coro = task.get_coro()
    parsed = _parse_task_name(task.get_name())
    node = f" (node {parsed[1]!r} of workflow {parsed[0]!r})" if parsed else ""
    return Leak(
        "task",
        f"task {task.get_name()!r}{node} was still running {_name_of(coro)}()"
        f"{_suspension(coro)}; the leak check cancelled it",
        workflow=parsed[0] if parsed else None,
        node_id=parsed[1] if parsed else None,
    )


def _describe_coroutine(coro: object, message: str) -> Leak:
    name = getattr(coro, "__qualname__", None)
    if name is None:
        return Leak("coroutine", message.splitlines()[0])
    text = f"coroutine {name!r} was never awaited"
    code = getattr(coro, "cr_code", None)
    if isinstance(code, types.CodeType):
        text += f" (defined at {code.co_filename}:{code.co_firstlineno})"
    origin = getattr(coro, "cr_origin", None)
    if origin:
        filename, lineno, function = origin[0]
        text += f"; it was created at {filename}:{lineno} in {function}"
    return Leak("coroutine", text)


# -- the check -----------------------------------------------------------------------------


class LeakCheck:
    """Finds what a test leaves behind: running tasks, unawaited coroutines, resources.

    ``settle_iterations``: loop iterations a leftover task gets to finish on its own;
    ``cancel_timeout``: seconds to wait for cancelled tasks to end; ``collect_garbage``:
    run the garbage collector at the end so unawaited coroutines caught in reference
    cycles are found; ``origin_depth``: frames of coroutine creation to record, so a
    never-awaited coroutine is reported with the line that created it (0: off).

    Also an async context manager that raises :class:`LeakError` on exit when the
    body left something behind (and did not raise itself).
    """

    def __init__(
        self,
        *,
        settle_iterations: int = 3,
        cancel_timeout: float = 1.0,
        collect_garbage: bool = True,
        origin_depth: int = 8,
    ) -> None:
        if settle_iterations < 0:
            raise ValueError(f"settle_iterations must be >= 0, got {settle_iterations!r}")
        if not (math.isfinite(cancel_timeout) and cancel_timeout > 0):
            raise ValueError(f"cancel_timeout must be a finite number > 0, got {cancel_timeout!r}")
        if origin_depth < 0:
            raise ValueError(f"origin_depth must be >= 0, got {origin_depth!r}")
        self.settle_iterations = settle_iterations
        self.cancel_timeout = cancel_timeout
        self.collect_garbage = collect_garbage
        self.origin_depth = origin_depth
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._first_seq = 0
        self._unawaited: list[Leak] = []
        self._warnings: warnings.catch_warnings[None] | None = None
        self._previous_hook: Callable[[sys.UnraisableHookArgs], Any] | None = None
        self._previous_depth = 0

    @property
    def started(self) -> bool:
        """Whether ``start()`` was called and the check has not finished yet."""
        return self._loop is not None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> LeakCheck:
        """Note the tasks that exist now and start catching unawaited coroutines.

        ``loop`` defaults to the running loop. Returns the check.
        """
        global _active_checks
        if self._loop is not None:
            raise RuntimeError("this LeakCheck has already started; call finish() first")
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "LeakCheck.start() found no running event loop: call it from async "
                    "code or pass the loop as start(loop)"
                ) from None
        self._loop = loop
        self._tasks_before = set(asyncio.all_tasks(loop))
        from .._runtime import dropped_holding_resources, live_runtimes

        self._runtimes_before = {id(r) for r in live_runtimes}
        self._dropped_before = len(dropped_holding_resources)
        self._unawaited = []
        with _lock:
            _drain_collected()
            self._first_seq = next(_sequence)
            _active_checks += 1
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.filterwarnings("error", message=_UNAWAITED_PATTERN, category=RuntimeWarning)
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable_hook
        self._previous_depth = sys.get_coroutine_origin_tracking_depth()
        if self.origin_depth > self._previous_depth:
            sys.set_coroutine_origin_tracking_depth(self.origin_depth)
        return self

    def _unraisable_hook(self, unraisable: sys.UnraisableHookArgs) -> None:
        error = unraisable.exc_value
        if isinstance(error, RuntimeWarning) and "was never awaited" in str(error):
            self._unawaited.append(_describe_coroutine(unraisable.object, str(error)))
        elif self._previous_hook is not None:
            self._previous_hook(unraisable)

    async def finish(self, *, raise_on_leak: bool = False) -> list[Leak]:
        """Stop the check and return what the test left behind; leftover tasks are cancelled.

        With ``raise_on_leak=True``, raise :class:`LeakError` instead when there are leaks.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("LeakCheck.finish() called before start()")
        if asyncio.get_running_loop() is not loop:
            raise RuntimeError("LeakCheck.finish() must run on the loop start() watched")
        try:
            leaks = await self._leftover_tasks(loop)
            if self.collect_garbage:
                # the young generations hold what the test just made; a full collection
                # would cost ~10 ms a test once large modules are loaded
                gc.collect(1)
        finally:
            self.stop()
        leaks += [*self._unawaited, *self._resource_leaks()]
        if leaks and raise_on_leak:
            raise LeakError(leaks)
        return leaks

    def stop(self) -> None:
        """Stop catching unawaited coroutines without checking anything; idempotent."""
        global _active_checks
        if self._loop is None:
            return
        self._loop = None
        if sys.unraisablehook == self._unraisable_hook:
            sys.unraisablehook = self._previous_hook or sys.__unraisablehook__
        if self._warnings is not None:
            self._warnings.__exit__(None, None, None)
            self._warnings = None
        sys.set_coroutine_origin_tracking_depth(self._previous_depth)
        with _lock:
            _drain_collected()
            _active_checks -= 1
        self._tasks_before = set()

    async def _leftover_tasks(self, loop: asyncio.AbstractEventLoop) -> list[Leak]:
        current = asyncio.current_task(loop)

        def leftovers() -> list[asyncio.Task[Any]]:
            return [
                task
                for task in asyncio.all_tasks(loop)
                if task is not current and task not in self._tasks_before and not task.done()
            ]

        tasks = leftovers()
        for _ in range(self.settle_iterations if tasks else 0):
            await asyncio.sleep(0)
        tasks = [task for task in leftovers() if task in tasks]
        if not tasks:
            return []
        leaks = [_describe_task(task) for task in tasks]
        for task in tasks:
            task.cancel("cancelled by the leak check: it outlived its test")
        _, pending = await asyncio.wait(tasks, timeout=self.cancel_timeout)
        for index, task in enumerate(tasks):
            if task in pending:
                leak = leaks[index]
                leaks[index] = Leak(
                    leak.kind,
                    f"{leak.description}, but it ignored cancellation for {self.cancel_timeout} s",
                    leak.workflow,
                    leak.node_id,
                )
            elif not task.cancelled():
                task.exception()
        return leaks

    def _resource_leaks(self) -> list[Leak]:
        with _lock:
            _drain_collected()
            open_now = [e for e in _tracked.values() if e.seq >= self._first_seq]
            dropped = [e for e in _dropped_while_open if e.seq >= self._first_seq]
            if not _active_checks:
                _dropped_while_open.clear()
        leaks = [Leak("resource", f"resource {e.description} is still open") for e in open_now]
        leaks += self._runtime_leaks()
        leaks += [
            Leak("resource", f"resource {e.description} was garbage-collected while still open")
            for e in dropped
        ]
        return leaks

    def _runtime_leaks(self) -> list[Leak]:
        """Runtimes made during the test that still hold resources (never shut down)."""
        from .._runtime import dropped_holding_resources, live_runtimes

        before: set[int] = getattr(self, "_runtimes_before", set())
        dropped = dropped_holding_resources[getattr(self, "_dropped_before", 0) :]
        return [Leak("resource", text) for text in dropped] + [
            Leak(
                "resource",
                f"{runtime!r} was not shut down and still holds resources "
                f"{runtime.resources_held}; use 'async with AsyncLocalRuntime()' "
                "or 'await runtime.shutdown()'",
            )
            for runtime in list(live_runtimes)
            if id(runtime) not in before and runtime.resources_held
        ]

    async def __aenter__(self) -> LeakCheck:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        await self.finish(raise_on_leak=exc is None)
