"""Assertions about time, throughput and convergence, and concurrency helpers.

Every measurement and every wait uses the running event loop's clock
(``loop.time()``, ``asyncio.sleep``, ``asyncio.timeout``), so these helpers follow
a virtual clock when a test runs on one. Each assertion raises ``AssertionError``
with the measured figures and hides its own frames from pytest tracebacks.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast, overload

__all__ = ["AsyncAssertions", "AsyncTestUtils"]

T = TypeVar("T")

_LAST_VALUES = 10


def _discard(candidates: Iterable[object]) -> None:
    """Close the coroutines among ``candidates`` that never started, so none warns."""
    for candidate in candidates:
        if inspect.iscoroutine(candidate) and inspect.getcoroutinestate(candidate) == (
            inspect.CORO_CREATED
        ):
            candidate.close()


def _number(
    where: str, name: str, value: object, *, lowest: Literal["positive", "zero", "any"]
) -> float:
    """Check a numeric argument: finite, and > 0 (``positive``) or >= 0 (``zero``)."""
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: {name} must be a number, got {value!r}")
    if (
        not math.isfinite(value)
        or (lowest == "positive" and value <= 0)
        or (lowest == "zero" and value < 0)
    ):
        kind = {"positive": " > 0", "zero": " >= 0", "any": ""}[lowest]
        raise ValueError(f"{where}: {name} must be a finite number{kind}, got {value!r}")
    return float(value)


async def _value_of(result: T | Awaitable[T]) -> T:
    if inspect.isawaitable(result):
        return await result
    return result


def _count(operations: int) -> str:
    return "1 operation" if operations == 1 else f"{operations} operations"


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _rate(operations_per_second: float) -> str:
    return (
        "inf ops/s" if math.isinf(operations_per_second) else f"{operations_per_second:.1f} ops/s"
    )


# ---------------------------------------------------------------------------
# Running awaitables concurrently


async def _bounded(awaitable: Awaitable[T], semaphore: asyncio.Semaphore | None) -> T:
    if semaphore is None:
        return await awaitable
    async with semaphore:
        return await awaitable


def _failed(child: asyncio.Future[Any]) -> bool:
    return child.cancelled() or child.exception() is not None


async def _first_failure_or_all_done(
    children: list[asyncio.Future[Any]], *, stop_on_failure: bool
) -> asyncio.Future[Any] | None:
    """Wait until every child is done, or (with ``stop_on_failure``) until one fails."""
    finished = asyncio.get_running_loop().create_future()
    remaining = len(children)
    failures: list[asyncio.Future[Any]] = []

    def on_done(child: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if stop_on_failure and not failures and _failed(child):
            failures.append(child)
        if (failures or remaining == 0) and not finished.done():
            finished.set_result(None)

    for child in children:
        child.add_done_callback(on_done)
    try:
        await finished
    finally:
        for child in children:
            child.remove_done_callback(on_done)
    return failures[0] if failures else None


async def _cancel_and_wait(children: list[asyncio.Future[Any]]) -> None:
    """Cancel the children and wait until each is done, even if cancelled meanwhile."""
    for child in children:
        child.cancel()
    pending = {child for child in children if not child.done()}
    cancelled = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    for child in children:
        if not child.cancelled():
            child.exception()  # marks it retrieved: the error that counts is raised elsewhere
    if cancelled:
        raise asyncio.CancelledError


async def _run_concurrent(
    awaitables: tuple[Awaitable[Any], ...], limit: int | None, return_exceptions: bool
) -> list[Any]:
    __tracebackhide__ = True
    where = "run_concurrent"
    try:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"{where}: limit must be None or an int >= 1, got {limit!r}")
        for index, awaitable in enumerate(awaitables):
            if not inspect.isawaitable(awaitable):
                raise TypeError(
                    f"{where}: argument {index} is not awaitable: {awaitable!r} "
                    f"({type(awaitable).__name__})"
                )
    except (TypeError, ValueError):
        _discard(awaitables)
        raise
    if not awaitables:
        return []

    loop = asyncio.get_running_loop()
    semaphore = None if limit is None else asyncio.Semaphore(limit)
    children: list[asyncio.Future[Any]] = [
        awaitable
        if asyncio.isfuture(awaitable)
        else loop.create_task(_bounded(awaitable, semaphore), name=f"run_concurrent[{index}]")
        for index, awaitable in enumerate(awaitables)
    ]
    try:
        try:
            failure = await _first_failure_or_all_done(
                children, stop_on_failure=not return_exceptions
            )
        except BaseException:
            await _cancel_and_wait(children)
            raise
        if failure is not None:
            await _cancel_and_wait(children)
            if failure.cancelled():
                index = children.index(failure)
                raise asyncio.CancelledError(f"{where}: awaitable {index} was cancelled")
            error = failure.exception()
            assert error is not None
            raise error
    finally:
        _discard(awaitables)

    results: list[Any] = []
    for child in children:
        if child.cancelled():
            results.append(asyncio.CancelledError())
        else:
            error = child.exception()
            results.append(child.result() if error is None else error)
    return results


# ---------------------------------------------------------------------------
# Polling


_NOTHING = object()


@dataclass
class _Poll(Generic[T]):
    """What polling a function until a condition holds has seen."""

    succeeded: bool = False
    value: T | None = None
    checks: int = 0
    elapsed: float = 0.0
    last: object = _NOTHING
    last_error: Exception | None = None
    last_error_check: int = 0


async def _poll_until_true(
    predicate: Callable[[], T | Awaitable[T]], timeout: float, interval: float
) -> _Poll[T]:
    """Call ``predicate`` every ``interval`` until it returns a truthy value or time runs out.

    Exceptions raised by the predicate count as "not yet" and are kept. A check
    still running when time runs out is cancelled and not counted.
    """
    loop = asyncio.get_running_loop()
    poll: _Poll[T] = _Poll()
    start = loop.time()
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            while True:
                try:
                    result = await _value_of(predicate())
                except Exception as error:
                    poll.checks += 1
                    poll.last = poll.last_error = error
                    poll.last_error_check = poll.checks
                else:
                    poll.checks += 1
                    poll.last = result
                    if result:
                        poll.succeeded, poll.value = True, result
                        break
                await asyncio.sleep(interval)
    except TimeoutError:
        if not scope.expired():
            raise
    poll.elapsed = loop.time() - start
    return poll


def _describe_poll(what: str, timeout: float, poll: _Poll[Any]) -> str:
    message = (
        f"{what} was not true within {timeout:g}s "
        f"({poll.checks} checks over {_duration(poll.elapsed)})"
    )
    if poll.last is _NOTHING:
        message += "; the first check did not return in time"
    elif poll.last is poll.last_error:
        message += f"; the last check raised {poll.last!r}"
    else:
        message += f"; the last check returned {poll.last!r}"
        if poll.last_error is not None:
            message += f"; check {poll.last_error_check} raised {poll.last_error!r}"
    return message


class AsyncAssertions:
    """Assertions for async code: performance, convergence, eventual truth."""

    @overload
    @staticmethod
    async def assert_performance(
        work: Awaitable[T],
        max_time: float,
        min_throughput: float | None = None,
        operations: int = 1,
    ) -> T: ...

    @overload
    @staticmethod
    async def assert_performance(
        work: Callable[[], Awaitable[T]],
        max_time: float,
        min_throughput: float | None = None,
        operations: int = 1,
    ) -> list[T]: ...

    @staticmethod
    async def assert_performance(
        work: Awaitable[T] | Callable[[], Awaitable[T]],
        max_time: float,
        min_throughput: float | None = None,
        operations: int = 1,
    ) -> T | list[T]:
        """Run ``work`` and fail if it is too slow; return its result(s).

        ``work`` is an awaitable, awaited once and counted as ``operations``
        operations (its result is returned), or a zero-argument callable returning
        an awaitable, called ``operations`` times with the awaitables run
        concurrently (the list of results is returned). Fails when the time taken
        exceeds ``max_time`` seconds — the work is cancelled at that limit rather
        than waited for — or when ``operations / time`` is under
        ``min_throughput``. An exception raised by the work propagates as is.
        """
        __tracebackhide__ = True
        where = "assert_performance"
        try:
            limit = _number(where, "max_time", max_time, lowest="positive")
            floor = None
            if min_throughput is not None:
                floor = _number(where, "min_throughput", min_throughput, lowest="positive")
            if isinstance(operations, bool) or not isinstance(operations, int) or operations < 1:
                raise ValueError(f"{where}: operations must be an int >= 1, got {operations!r}")
            if not inspect.isawaitable(work) and not callable(work):
                raise TypeError(
                    f"{where}: work must be an awaitable or a callable returning one, got {work!r}"
                )
        except (TypeError, ValueError):
            _discard([work])
            raise

        loop = asyncio.get_running_loop()
        start = loop.time()
        scope = asyncio.timeout(limit)
        result: T | list[T]
        try:
            async with scope:
                if inspect.isawaitable(work):
                    result = await work
                else:
                    result = await _run_concurrent(
                        tuple(_calls(where, work, operations)), None, False
                    )
        except TimeoutError:
            if not scope.expired():
                raise
            elapsed = loop.time() - start
            message = (
                f"{where}: the work ({_count(operations)}) did not finish within "
                f"max_time={limit:g}s and was cancelled after {_duration(elapsed)}"
            )
            if floor is not None and elapsed > 0:
                message += (
                    f" (throughput under {_rate(operations / elapsed)}; "
                    f"min_throughput={floor:g} ops/s)"
                )
            raise AssertionError(message) from None
        elapsed = loop.time() - start
        throughput = operations / elapsed if elapsed > 0 else math.inf

        broken = []
        if elapsed > limit:
            broken.append(f"over max_time={limit:g}s")
        if floor is not None and throughput < floor:
            broken.append(f"under min_throughput={floor:g} ops/s")
        if broken:
            raise AssertionError(
                f"{where}: {_count(operations)} took {_duration(elapsed)} "
                f"({_rate(throughput)}): {' and '.join(broken)}"
            )
        return result

    @staticmethod
    async def assert_converges(
        get_value: Callable[[], float | Awaitable[float]],
        tolerance: float,
        timeout: float,
        *,
        target: float | None = None,
        interval: float = 0.05,
    ) -> float:
        """Poll ``get_value`` until its value settles; return the final value.

        Without ``target`` the value has settled when two successive values
        differ by at most ``tolerance``; with ``target``, when a value is within
        ``tolerance`` of it. ``get_value`` may be sync or async and is called every
        ``interval`` seconds; an exception it raises propagates. Fails after
        ``timeout`` seconds, listing the last values seen.
        """
        __tracebackhide__ = True
        where = "assert_converges"
        tolerance = _number(where, "tolerance", tolerance, lowest="zero")
        timeout = _number(where, "timeout", timeout, lowest="positive")
        interval = _number(where, "interval", interval, lowest="positive")
        if target is not None:
            target = _number(where, "target", target, lowest="any")

        loop = asyncio.get_running_loop()
        start = loop.time()
        recent: deque[float] = deque(maxlen=_LAST_VALUES)
        checks = 0
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                while True:
                    value = await _value_of(get_value())
                    checks += 1
                    reference = target if target is not None else (recent[-1] if recent else None)
                    recent.append(value)
                    try:
                        settled = reference is not None and abs(value - reference) <= tolerance
                    except TypeError as error:
                        raise TypeError(
                            f"{where}: get_value returned {value!r}, which is not a number"
                        ) from error
                    if settled:
                        return value
                    await asyncio.sleep(interval)
        except TimeoutError:
            if not scope.expired():
                raise
        elapsed = loop.time() - start
        if target is None:
            failure = f"no two successive values differed by at most {tolerance:g}"
        else:
            failure = f"no value came within {tolerance:g} of target {target:g}"
        raise AssertionError(
            f"{where}: {failure} within {timeout:g}s ({checks} checks over "
            f"{_duration(elapsed)}); last values: {list(recent)!r}"
        )

    @overload
    @staticmethod
    async def assert_eventually_true(
        predicate: Callable[[], Awaitable[T]], timeout: float, *, interval: float = 0.05
    ) -> T: ...

    @overload
    @staticmethod
    async def assert_eventually_true(
        predicate: Callable[[], T], timeout: float, *, interval: float = 0.05
    ) -> T: ...

    @staticmethod
    async def assert_eventually_true(
        predicate: Callable[[], T | Awaitable[T]],
        timeout: float,
        *,
        interval: float = 0.05,
    ) -> T:
        """Poll ``predicate`` (sync or async) until it returns a truthy value; return it.

        A predicate that raises counts as not true yet. Fails after ``timeout``
        seconds, saying how many checks were made and what the last one returned
        or raised (the last exception is chained as the cause).
        """
        __tracebackhide__ = True
        where = "assert_eventually_true"
        timeout = _number(where, "timeout", timeout, lowest="positive")
        interval = _number(where, "interval", interval, lowest="positive")
        poll = await _poll_until_true(predicate, timeout, interval)
        if not poll.succeeded:
            raise AssertionError(
                f"{where}: {_describe_poll('the condition', timeout, poll)}"
            ) from poll.last_error
        return cast(T, poll.value)


def _calls(where: str, work: Callable[[], Awaitable[T]], times: int) -> list[Awaitable[T]]:
    __tracebackhide__ = True
    made: list[Awaitable[T]] = []
    for _ in range(times):
        awaitable = work()
        if not inspect.isawaitable(awaitable):
            _discard(made)
            raise TypeError(f"{where}: work() must return an awaitable, it returned {awaitable!r}")
        made.append(awaitable)
    return made


class AsyncTestUtils:
    """Helpers to drive concurrent async code in tests."""

    @overload
    @staticmethod
    async def run_concurrent(
        *awaitables: Awaitable[T],
        limit: int | None = None,
        return_exceptions: Literal[False] = False,
    ) -> list[T]: ...

    @overload
    @staticmethod
    async def run_concurrent(
        *awaitables: Awaitable[T],
        limit: int | None = None,
        return_exceptions: bool,
    ) -> list[T | BaseException]: ...

    @staticmethod
    async def run_concurrent(
        *awaitables: Awaitable[T],
        limit: int | None = None,
        return_exceptions: bool = False,
    ) -> list[T] | list[T | BaseException]:
        """Run the awaitables concurrently; return their results in argument order.

        ``limit`` bounds how many run at once (tasks and futures passed in are
        already running and are not bounded). When one fails and
        ``return_exceptions`` is False, the others are cancelled and awaited,
        then its exception is raised: nothing started here outlives the call.
        With ``return_exceptions=True`` every awaitable runs to its end and
        exceptions take their place in the result list.
        """
        __tracebackhide__ = True
        return await _run_concurrent(awaitables, limit, return_exceptions)

    @overload
    @staticmethod
    async def wait_for_condition(
        condition: Callable[[], Awaitable[T]], timeout: float, *, interval: float = 0.05
    ) -> T: ...

    @overload
    @staticmethod
    async def wait_for_condition(
        condition: Callable[[], T], timeout: float, *, interval: float = 0.05
    ) -> T: ...

    @staticmethod
    async def wait_for_condition(
        condition: Callable[[], T | Awaitable[T]],
        timeout: float,
        *,
        interval: float = 0.05,
    ) -> T:
        """Poll ``condition`` (sync or async) until it returns a truthy value; return it.

        Like :meth:`AsyncAssertions.assert_eventually_true`, but for waiting rather
        than asserting: it raises the builtin ``TimeoutError`` when time runs out.
        """
        __tracebackhide__ = True
        where = "wait_for_condition"
        timeout = _number(where, "timeout", timeout, lowest="positive")
        interval = _number(where, "interval", interval, lowest="positive")
        poll = await _poll_until_true(condition, timeout, interval)
        if not poll.succeeded:
            raise TimeoutError(
                f"{where}: {_describe_poll('the condition', timeout, poll)}"
            ) from poll.last_error
        return cast(T, poll.value)
