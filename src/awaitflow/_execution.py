"""One execution of a workflow: the scheduler, node invocation, failure and deadlock rules."""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import functools
import time
from collections import ChainMap, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._code import collect_output
from ._events import Event, EventKind, dispatch
from ._exceptions import DeadlockError, MissingOutputError
from ._graph import Connection, Node, Workflow
from ._results import NodeStatus, NodeTiming, WorkflowResult, attach_result

if TYPE_CHECKING:
    from ._runtime import AsyncLocalRuntime

__all__ = ["Execution", "current_node"]

current_node: contextvars.ContextVar[tuple[Execution, str] | None] = contextvars.ContextVar(
    "awaitflow_current_node", default=None
)
_MISSING: Any = object()
_real_perf_counter = time.perf_counter


def _resolve(conn: Connection, output: Mapping[str, Any]) -> Any:
    """The value a connection carries out of its source's output."""
    value: Any = output
    for step, key in enumerate(conn.path):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif step == 0 and key == "result":
            continue  # "result" names the whole output when it has no key "result"
        else:
            keys = value.keys() if isinstance(value, Mapping) else []
            raise MissingOutputError(conn.source, conn.source_output, conn.target, map(str, keys))
    return value


@functools.cache
def _builtins_with_time(time_module: Any) -> dict[str, Any]:
    """Builtins whose ``import time`` gives ``time_module`` (a virtual clock's time)."""
    real_import = builtins.__import__

    def _import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "time":
            return time_module
        return real_import(name, *args, **kwargs)

    namespace = dict(vars(builtins))
    namespace["__import__"] = _import
    return namespace


class _TimedSteps:
    """Drive a coroutine step by step, reporting each step that blocks the loop too long."""

    __slots__ = ("coro", "execution", "node_id")

    def __init__(self, coro: Any, execution: Execution, node_id: str) -> None:
        self.coro = coro
        self.execution = execution
        self.node_id = node_id

    def __await__(self) -> Any:
        coro, send_value, error = self.coro, None, None
        while True:
            started = _real_perf_counter()
            try:
                yielded = coro.throw(error) if error is not None else coro.send(send_value)
            except StopIteration as stop:
                self.execution.check_blocking(self.node_id, started, coro)
                return stop.value
            self.execution.check_blocking(self.node_id, started, coro)
            try:
                send_value, error = (yield yielded), None
            except BaseException as exc:  # delivered into the coroutine on the next step
                send_value, error = None, exc


class Execution:
    """The state of one run of a workflow on a runtime."""

    def __init__(
        self,
        runtime: AsyncLocalRuntime,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None,
        parameters: Mapping[str, Mapping[str, Any]] | None,
        execution_id: int,
    ) -> None:
        self.runtime = runtime
        self.workflow = workflow
        self.id = execution_id
        self.loop = asyncio.get_running_loop()
        self.inputs = _check_inputs(inputs)
        self.parameters = _check_parameters(workflow, parameters)
        self.listeners = runtime._listeners
        self.outputs: dict[str, dict[str, Any]] = {}
        self.status: dict[str, NodeStatus] = {}
        self.errors: dict[str, BaseException] = {}
        self.timings: dict[str, NodeTiming] = {}
        self.running: set[str] = set()
        self.waiting: dict[str, str] = {}
        self.result_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.first_error: tuple[str, BaseException] | None = None
        self.last_progress = self.loop.time()
        self.tasks: set[asyncio.Task[None]] = set()
        self.ready: deque[str] = deque()
        self.done: asyncio.Future[None] | None = None
        self.base_namespace = self._base_namespace()

    # -- the namespace a node sees ------------------------------------------------------

    def _base_namespace(self) -> dict[str, Any]:
        time_module = getattr(self.loop, "awaitflow_time_module", None)
        namespace: dict[str, Any] = {
            "__builtins__": builtins if time_module is None else _builtins_with_time(time_module),
            "asyncio": asyncio,
            "time": time if time_module is None else time_module,
        }
        namespace.update(self.runtime._functions)
        namespace["get_resource"] = self.runtime.get_resource
        namespace["wait_for_result"] = self.wait_for_result
        namespace.update(self.inputs)
        namespace["inputs"] = self.inputs
        return namespace

    def _gather(self, node: Node) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for conn in node.incoming:
            values[conn.target_input] = _resolve(conn, self.outputs[conn.source])
        return values

    # -- running one node ---------------------------------------------------------------

    async def _invoke(self, node: Node, values: dict[str, Any]) -> dict[str, Any]:
        params = self.parameters.get(node.node_id, {})
        threshold = self.runtime._blocking_threshold
        if node.code is not None:
            namespace = self.base_namespace.copy()
            namespace["inputs"] = self.inputs.copy()
            namespace.update(params)
            namespace.update(values)
            started = _real_perf_counter()
            outcome = eval(node.code, namespace)
            if node.is_async:
                await (outcome if threshold is None else _TimedSteps(outcome, self, node.node_id))
            elif threshold is not None:
                self.check_blocking(node.node_id, started, None)
            return collect_output(namespace, node.stored_names)
        assert node.func is not None
        lookup = ChainMap(values, params, self.base_namespace)
        kwargs: dict[str, Any] = {}
        if node.accepts_any:
            kwargs.update(self.inputs)
            kwargs.update(params)
            kwargs.update(values)
        for param in node.parameters:
            value = lookup.get(param.name, _MISSING)
            if value is self.inputs:
                value = self.inputs.copy()
            if value is not _MISSING:
                kwargs[param.name] = value
            elif param.required:
                raise TypeError(
                    f"node {node.node_id!r}: no value for parameter {param.name!r} of "
                    f"{node.description}; it can take inputs {sorted(self.inputs)}, "
                    f"parameters {sorted(params)}, connections {sorted(values)}"
                )
        started = _real_perf_counter()
        outcome = node.func(**kwargs)
        if asyncio.iscoroutine(outcome) and threshold is not None:
            outcome = await _TimedSteps(outcome, self, node.node_id)
        elif hasattr(outcome, "__await__"):
            outcome = await outcome
        elif threshold is not None:
            self.check_blocking(node.node_id, started, None)
        return outcome if isinstance(outcome, dict) else {"result": outcome}

    async def _attempt(self, node: Node, values: dict[str, Any]) -> dict[str, Any]:
        if node.timeout is None:
            return await self._invoke(node, values)
        try:
            async with asyncio.timeout(node.timeout) as scope:
                return await self._invoke(node, values)
        except TimeoutError as exc:
            if scope.expired():
                raise TimeoutError(
                    f"node {node.node_id!r} of workflow {self.workflow.name!r} timed out "
                    f"after {node.timeout:g}s"
                ) from exc
            raise

    async def _run_node(self, node: Node, values: dict[str, Any]) -> dict[str, Any]:
        attempt = 1
        while True:
            if self.listeners:
                await self.emit("node_started", node.node_id, attempt=attempt)
            try:
                if node.circuit_breaker is not None:
                    output: dict[str, Any] = await node.circuit_breaker.call(
                        self._attempt, node, values
                    )
                    return output
                return await self._attempt(node, values)
            except Exception as exc:
                if node.retry is None or not node.retry.should_retry(exc, attempt):
                    raise
                if self.listeners:
                    await self.emit("node_retried", node.node_id, error=exc, attempt=attempt)
                await asyncio.sleep(node.retry.delay(attempt))
                attempt += 1

    async def execute_node(self, node_id: str) -> bool:
        """Run one node and record what happened; False when it failed."""
        node = self.workflow.nodes[node_id]
        try:
            values = self._gather(node)
        except MissingOutputError as exc:
            now = self.loop.time()
            self.timings[node_id] = NodeTiming(now, now)
            await self._fail(node_id, exc)
            return False
        limiter = self.runtime._limiter()
        if limiter is not None:
            await limiter.acquire()
        token = current_node.set((self, node_id))
        self.running.add(node_id)
        start = self.loop.time()
        try:
            output = await self._run_node(node, values)
        except asyncio.CancelledError:
            self.status[node_id] = "cancelled"
            self.timings[node_id] = NodeTiming(start, self.loop.time())
            raise
        except Exception as exc:
            self.timings[node_id] = NodeTiming(start, self.loop.time())
            await self._fail(node_id, exc)
            return False
        finally:
            self.running.discard(node_id)
            current_node.reset(token)
            if limiter is not None:
                limiter.release()
        now = self.loop.time()
        self.timings[node_id] = NodeTiming(start, now)
        self.outputs[node_id] = output
        self.status[node_id] = "completed"
        self.last_progress = now
        waiter = self.result_waiters.pop(node_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(output)
        if self.listeners:
            await self.emit("node_completed", node_id)
        return True

    async def _fail(self, node_id: str, exc: BaseException) -> None:
        self.status[node_id] = "failed"
        self.errors[node_id] = exc
        note = f"raised by node {node_id!r} of workflow {self.workflow.name!r}"
        if note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
        if self.first_error is None:
            self.first_error = (node_id, exc)
            current = asyncio.current_task()
            for task in self.tasks:
                if task is not current:
                    task.cancel()
        waiter = self.result_waiters.pop(node_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(RuntimeError(f"node {node_id!r} failed: {exc!r}"))
            waiter.exception()
        if self.listeners:
            await self.emit("node_failed", node_id, error=exc)

    # -- scheduling ---------------------------------------------------------------------

    async def _run_sequential(self) -> None:
        for node_id in self.workflow.order:
            if not await self.execute_node(node_id):
                return

    async def _run_parallel(self) -> None:
        # Each worker runs a node, then takes the next ready one itself, so a chain
        # costs one task and a fan-out one task per branch (up to the limit).
        self.ready.extend(self.workflow.roots)
        self.waiting_upstream = {n: len(node.upstream) for n, node in self.workflow.nodes.items()}
        self.done = self.loop.create_future()
        self._spawn()
        if not self.tasks:
            return
        try:
            await self.done
        except asyncio.CancelledError:
            for task in self.tasks:
                task.cancel()
            while self.tasks:
                await asyncio.wait(self.tasks)
            raise

    def _spawn(self) -> None:
        limit = self.workflow.max_concurrency
        while (
            self.ready and self.first_error is None and (limit is None or len(self.tasks) < limit)
        ):
            node_id = self.ready.popleft()
            task = self.loop.create_task(
                self._worker(node_id), name=f"awaitflow:{self.workflow.name}:{node_id}"
            )
            self.tasks.add(task)
            # a callback, not a finally: a task cancelled before it starts runs no code
            task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and self.first_error is None:
            # an error outside node code (a listener, the limiter): fail the run with it
            self.first_error = (task.get_name().rpartition(":")[2], error)
            for other in self.tasks:
                other.cancel()
        if not self.tasks and self.done is not None and not self.done.done():
            self.done.set_result(None)

    async def _worker(self, node_id: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        current: str | None = node_id
        while current is not None:
            if not await self.execute_node(current) or self.first_error is not None:
                return
            for nxt in self.workflow.nodes[current].downstream:
                self.waiting_upstream[nxt] -= 1
                if self.waiting_upstream[nxt] == 0:
                    self.ready.append(nxt)
            current = self.ready.popleft() if self.ready else None
            self._spawn()
            if current is not None:
                task.set_name(f"awaitflow:{self.workflow.name}:{current}")

    # -- waiting on other nodes ---------------------------------------------------------

    async def wait_for_result(self, node_id: str) -> dict[str, Any]:
        """The output of node ``node_id`` of this execution, once it has completed."""
        if node_id in self.outputs:
            return self.outputs[node_id]
        if node_id not in self.workflow.nodes:
            raise KeyError(
                f"wait_for_result: workflow {self.workflow.name!r} has no node {node_id!r}; "
                f"nodes: {list(self.workflow.nodes)}"
            )
        status = self.status.get(node_id)
        if status is not None:
            raise RuntimeError(f"wait_for_result: node {node_id!r} {status}")
        current = current_node.get()
        waiter = current[1] if current is not None and current[0] is self else None
        detect = self.workflow.deadlock_detection and waiter is not None
        if detect:
            assert waiter is not None
            cycle = self._wait_cycle(waiter, node_id)
            if cycle is not None:
                raise DeadlockError(cycle)
        future = self.result_waiters.get(node_id)
        if future is None:
            future = self.result_waiters[node_id] = self.loop.create_future()
        if waiter is not None:
            self.waiting[waiter] = node_id
        try:
            if not detect:
                return await asyncio.shield(future)
            assert waiter is not None
            limit = self.workflow.deadlock_timeout
            while not future.done():
                remaining = self.last_progress + limit - self.loop.time()
                if remaining <= 0:
                    raise DeadlockError(
                        [waiter, node_id],
                        f"deadlock: no node made progress for {limit:g}s while node "
                        f"{waiter!r} waited on node {node_id!r}",
                    )
                await asyncio.wait([future], timeout=remaining)
            return future.result()
        finally:
            if waiter is not None:
                self.waiting.pop(waiter, None)

    def _wait_cycle(self, waiter: str, target: str) -> list[str] | None:
        """The wait cycle that ``waiter`` waiting on ``target`` would close, if any."""
        if not self.workflow.parallel:
            # one node runs at a time: a node not yet completed comes later and cannot start
            return [waiter, target]
        stack: list[tuple[str, list[str]]] = [(target, [waiter, target])]
        seen: set[str] = set()
        while stack:
            node_id, path = stack.pop()
            if node_id == waiter:
                return path[:-1]
            if node_id in seen:
                continue
            seen.add(node_id)
            if node_id in self.waiting:
                blockers = [self.waiting[node_id]]
            elif node_id not in self.running and node_id not in self.status:
                upstream = self.workflow.nodes[node_id].upstream
                blockers = [u for u in upstream if u not in self.outputs]
                if (
                    not blockers
                    and node_id in self.ready
                    and all(r == waiter or r in self.waiting for r in self.running)
                ):
                    # ready but no free slot, and every running node waits: none will free one
                    blockers = [waiter]
            else:
                blockers = []
            stack.extend((b, [*path, b]) for b in blockers)
        return None

    # -- the whole run ------------------------------------------------------------------

    def check_blocking(self, node_id: str, started: float, coro: Any) -> None:
        """Warn when one synchronous step of a node held the loop too long."""
        threshold = self.runtime._blocking_threshold
        elapsed = _real_perf_counter() - started
        if threshold is not None and elapsed >= threshold:
            from ._blocking import warn_blocking

            warn_blocking(node_id, self.workflow.name, elapsed, coro)

    async def emit(
        self,
        kind: EventKind,
        node_id: str | None = None,
        *,
        error: BaseException | None = None,
        attempt: int | None = None,
    ) -> None:
        """Send one event to the runtime's listeners."""
        event = Event(kind, self.workflow.name, node_id, self.loop.time(), error, self.id, attempt)
        await dispatch(self.listeners, event)

    async def run(self, raise_on_error: bool) -> WorkflowResult:
        """Execute the workflow and return (or raise) its outcome."""
        workflow = self.workflow
        started = self.loop.time()
        if self.listeners:
            await self.emit("workflow_started")
        runner = self._run_parallel if workflow.parallel else self._run_sequential
        timed_out: TimeoutError | None = None
        if workflow.timeout is None:
            await runner()
        else:
            try:
                async with asyncio.timeout(workflow.timeout):
                    await runner()
            except TimeoutError:
                timed_out = TimeoutError(
                    f"workflow {workflow.name!r} timed out after {workflow.timeout:g}s"
                )
                for node_id, status in self.status.items():
                    if status == "cancelled":
                        self.errors.setdefault(node_id, timed_out)
        for node_id in workflow.nodes:
            self.status.setdefault(node_id, "skipped")
        result = WorkflowResult(
            workflow=workflow.name,
            success=self.first_error is None and timed_out is None,
            outputs=self.outputs,
            node_status={n: self.status[n] for n in workflow.nodes},
            errors=self.errors,
            timings=self.timings,
            execution_time=self.loop.time() - started,
            started_at=started,
        )
        if self.listeners:
            failure = timed_out or (self.first_error[1] if self.first_error else None)
            kind: EventKind = "workflow_completed" if result.success else "workflow_failed"
            await self.emit(kind, error=failure)
        if raise_on_error:
            failure = timed_out or (self.first_error[1] if self.first_error else None)
            if failure is not None:
                attach_result(failure, result)
                raise failure
        return result


def _check_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a mapping of names to values, got {type(inputs).__name__}")
    bad = [k for k in inputs if not isinstance(k, str)]
    if bad:
        raise TypeError(f"input names must be str; got {bad!r}")
    return dict(inputs)


def _check_parameters(
    workflow: Workflow, parameters: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    if not parameters:
        return {}
    unknown = [n for n in parameters if n not in workflow.nodes]
    if unknown:
        raise KeyError(
            f"parameters name unknown nodes {unknown} of workflow {workflow.name!r}; "
            f"nodes: {list(workflow.nodes)}"
        )
    for node_id, values in parameters.items():
        if not isinstance(values, Mapping):
            raise TypeError(
                f"parameters[{node_id!r}] must be a mapping of names to values, "
                f"got {type(values).__name__}"
            )
    return {node_id: dict(values) for node_id, values in parameters.items()}
