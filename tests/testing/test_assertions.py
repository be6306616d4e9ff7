"""AsyncAssertions and AsyncTestUtils."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType

import pytest
import pytest_asyncio

from awaitflow.testing import _assertions
from awaitflow.testing._assertions import AsyncAssertions, AsyncTestUtils


@pytest_asyncio.fixture
async def shift_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Make the running loop's clock jump ahead on demand, as a virtual clock would."""
    loop = asyncio.get_running_loop()
    real_time = loop.time
    offset = [0.0]
    monkeypatch.setattr(loop, "time", lambda: real_time() + offset[0])

    def shift(seconds: float) -> None:
        offset[0] += seconds

    return shift


def _frames(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _failing_assertions() -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "performance": lambda: AsyncAssertions.assert_performance(asyncio.sleep(1), 0.01),
        "converges": lambda: AsyncAssertions.assert_converges(
            iter(range(100)).__next__, 0.5, 0.01, interval=0.001
        ),
        "eventually_true": lambda: AsyncAssertions.assert_eventually_true(
            lambda: False, 0.01, interval=0.001
        ),
    }


@pytest.mark.parametrize("name", sorted(_failing_assertions()))
@pytest.mark.asyncio
async def test_assertion_frames_are_hidden_from_pytest(name: str) -> None:
    """Every frame of the assertions module in a failure hides itself from pytest."""
    with pytest.raises(AssertionError) as excinfo:
        await _failing_assertions()[name]()
    own = [
        tb.tb_frame
        for tb in _frames(excinfo.value.__traceback__)
        if tb.tb_frame.f_code.co_filename == _assertions.__file__
    ]
    assert own
    assert all(frame.f_locals.get("__tracebackhide__") is True for frame in own)


class TestAssertPerformance:
    @pytest.mark.asyncio
    async def test_awaitable_returns_its_result(self) -> None:
        """An awaitable is awaited once and its result returned."""

        async def work() -> str:
            await asyncio.sleep(0)
            return "done"

        assert await AsyncAssertions.assert_performance(work(), max_time=1.0) == "done"

    @pytest.mark.asyncio
    async def test_single_awaitable_stands_for_many_operations(self) -> None:
        """With one awaitable and ``operations=50``, throughput is 50 per elapsed time."""
        runs = []

        async def batch() -> int:
            runs.append(1)
            await asyncio.sleep(0)
            return 50

        result = await AsyncAssertions.assert_performance(
            batch(), max_time=1.0, min_throughput=100, operations=50
        )
        assert (result, len(runs)) == (50, 1)

    @pytest.mark.asyncio
    async def test_callable_runs_concurrently(self) -> None:
        """A callable is called ``operations`` times and the awaitables run at once."""
        running = 0
        peak = 0
        all_started = asyncio.Event()

        async def one() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running == 5:
                all_started.set()
            await all_started.wait()
            running -= 1
            return peak

        results = await AsyncAssertions.assert_performance(one, max_time=1.0, operations=5)
        assert (len(results), peak) == (5, 5)

    @pytest.mark.asyncio
    async def test_callable_results_in_order(self) -> None:
        """The results of a callable's runs come back as a list, in call order."""
        counter = iter(range(3))

        async def one(n: int) -> int:
            await asyncio.sleep(0.001 * (3 - n))
            return n

        results = await AsyncAssertions.assert_performance(
            lambda: one(next(counter)), max_time=1.0, operations=3
        )
        assert results == [0, 1, 2]

    @pytest.mark.asyncio
    async def test_fails_and_cancels_at_max_time(self) -> None:
        """Work still running at ``max_time`` is cancelled and the assertion fails."""
        cleaned = asyncio.Event()

        async def hang() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                cleaned.set()

        with pytest.raises(
            AssertionError,
            match=r"^assert_performance: the work \(10 operations\) did not finish within "
            r"max_time=0\.05s and was cancelled after \d+\.\d{3}s "
            r"\(throughput under \d+\.\d ops/s; min_throughput=5 ops/s\)$",
        ):
            await AsyncAssertions.assert_performance(
                hang(), max_time=0.05, min_throughput=5, operations=10
            )
        assert cleaned.is_set()

    @pytest.mark.asyncio
    async def test_fails_on_max_time_when_the_loop_was_blocked(self) -> None:
        """Work that blocked the loop past ``max_time`` fails with the time it took."""

        async def blocking() -> None:
            time.sleep(0.06)  # noqa: ASYNC251 - blocks the loop on purpose

        with pytest.raises(
            AssertionError,
            match=r"^assert_performance: 1 operation took 0\.\d{3}s \(\d+\.\d ops/s\): "
            r"over max_time=0\.05s$",
        ):
            await AsyncAssertions.assert_performance(blocking(), max_time=0.05)

    @pytest.mark.asyncio
    async def test_fails_on_min_throughput(self) -> None:
        """Too few operations per second fails with measured and required throughput."""
        with pytest.raises(
            AssertionError,
            match=r"^assert_performance: 2 operations took 0\.\d{3}s \(\d+\.\d ops/s\): "
            r"under min_throughput=1000 ops/s$",
        ):
            await AsyncAssertions.assert_performance(
                asyncio.sleep(0.02), max_time=1.0, min_throughput=1000, operations=2
            )

    @pytest.mark.asyncio
    async def test_fails_on_both_limits(self) -> None:
        """When both limits are broken, the message names both."""

        async def blocking() -> None:
            time.sleep(0.06)  # noqa: ASYNC251 - blocks the loop on purpose

        with pytest.raises(
            AssertionError,
            match=r"\): over max_time=0\.05s and under min_throughput=1000 ops/s$",
        ):
            await AsyncAssertions.assert_performance(
                blocking(), max_time=0.05, min_throughput=1000, operations=2
            )

    @pytest.mark.asyncio
    async def test_measures_with_the_loop_clock(self, shift_clock: Callable[[float], None]) -> None:
        """The elapsed time is read from the event loop's clock, not the wall clock."""

        async def jump() -> None:
            shift_clock(5.0)

        with pytest.raises(
            AssertionError, match=r"1 operation took 5\.\d{3}s \(0\.2 ops/s\): over max_time=1s$"
        ):
            await AsyncAssertions.assert_performance(jump(), max_time=1)

    @pytest.mark.asyncio
    async def test_error_in_work_propagates(self) -> None:
        """An exception raised by the work is raised as is, not as an assertion."""

        async def broken() -> None:
            raise ValueError("bad input")

        with pytest.raises(ValueError, match=r"^bad input$"):
            await AsyncAssertions.assert_performance(broken(), max_time=1.0)

    @pytest.mark.asyncio
    async def test_bad_limits(self) -> None:
        """A non-positive ``max_time`` is refused and the given coroutine is closed."""
        coro = asyncio.sleep(0)
        with pytest.raises(ValueError, match=r"max_time must be a finite number > 0, got 0"):
            await AsyncAssertions.assert_performance(coro, max_time=0)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    @pytest.mark.asyncio
    async def test_bad_operations(self) -> None:
        """``operations`` must be a positive int."""
        with pytest.raises(ValueError, match=r"operations must be an int >= 1, got 0"):
            await AsyncAssertions.assert_performance(lambda: asyncio.sleep(0), 1.0, operations=0)

    @pytest.mark.asyncio
    async def test_work_must_be_awaitable_or_callable(self) -> None:
        """Work that is neither awaitable nor callable is refused."""
        with pytest.raises(TypeError, match=r"work must be an awaitable or a callable"):
            await AsyncAssertions.assert_performance(42, 1.0)  # type: ignore[call-overload]

    @pytest.mark.asyncio
    async def test_callable_must_return_awaitable(self) -> None:
        """A callable returning a plain value is refused, naming the value."""

        def not_async() -> int:
            return 7

        with pytest.raises(TypeError, match=r"work\(\) must return an awaitable, it returned 7"):
            await AsyncAssertions.assert_performance(not_async, 1.0)  # type: ignore[arg-type]


class TestAssertConverges:
    @pytest.mark.asyncio
    async def test_successive_values_settle(self) -> None:
        """Without target, it returns once two successive values are within tolerance."""
        values = iter([10.0, 5.0, 2.0, 1.5, 1.4, 1.39])
        final = await AsyncAssertions.assert_converges(
            lambda: next(values), tolerance=0.2, timeout=1.0, interval=0.001
        )
        assert final == 1.4

    @pytest.mark.asyncio
    async def test_async_get_value_with_target(self) -> None:
        """With target, it returns the first value within tolerance of it."""
        values = iter([0, 50, 50, 99.5, 100])

        async def get_value() -> float:
            await asyncio.sleep(0)
            return next(values)

        final = await AsyncAssertions.assert_converges(
            get_value, tolerance=1.0, timeout=1.0, target=100, interval=0.001
        )
        assert final == 99.5

    @pytest.mark.asyncio
    async def test_timeout_lists_last_values(self) -> None:
        """Values that keep moving fail the assertion, listing the last ten."""
        returned: list[int] = []

        def moving() -> float:
            returned.append(len(returned) * 10)
            return returned[-1]

        with pytest.raises(
            AssertionError,
            match=r"^assert_converges: no two successive values differed by at most 1 within "
            r"0\.05s \(\d+ checks over \d+\.\d{3}s\); last values: \[(\d+, )*\d+\]$",
        ) as excinfo:
            await AsyncAssertions.assert_converges(
                moving, tolerance=1, timeout=0.05, interval=0.001
            )
        listed = str(excinfo.value).rsplit("last values: ", 1)[1]
        assert listed == repr(returned[-10:])

    @pytest.mark.asyncio
    async def test_stable_value_far_from_target_fails(self) -> None:
        """A value that settles away from the target does not satisfy the target."""
        with pytest.raises(
            AssertionError,
            match=r"no value came within 1 of target 100 within 0\.03s .*last values: \[5(, 5)*\]$",
        ):
            await AsyncAssertions.assert_converges(
                lambda: 5, tolerance=1, timeout=0.03, target=100, interval=0.001
            )

    @pytest.mark.asyncio
    async def test_not_a_number(self) -> None:
        """A value that is not a number is refused, naming it."""
        with pytest.raises(TypeError, match=r"get_value returned 'high', which is not a number"):
            await AsyncAssertions.assert_converges(
                lambda: "high",  # type: ignore[arg-type,return-value]
                tolerance=1,
                timeout=1,
                target=3,
            )

    @pytest.mark.asyncio
    async def test_error_in_get_value_propagates(self) -> None:
        """An exception raised by ``get_value`` propagates."""

        def broken() -> float:
            raise RuntimeError("sensor offline")

        with pytest.raises(RuntimeError, match=r"^sensor offline$"):
            await AsyncAssertions.assert_converges(broken, tolerance=1, timeout=1)

    @pytest.mark.asyncio
    async def test_bad_tolerance(self) -> None:
        """A negative tolerance is refused."""
        with pytest.raises(ValueError, match=r"tolerance must be a finite number >= 0, got -1"):
            await AsyncAssertions.assert_converges(lambda: 1.0, tolerance=-1, timeout=1)

    @pytest.mark.asyncio
    async def test_follows_the_loop_clock(self, shift_clock: Callable[[float], None]) -> None:
        """The timeout is counted on the event loop's clock."""

        def moving() -> float:
            shift_clock(1.0)
            return time.perf_counter()

        with pytest.raises(AssertionError, match=r"within 2\.5s \(3 checks over 3\.\d{3}s\)"):
            await AsyncAssertions.assert_converges(moving, tolerance=0, timeout=2.5, interval=0.01)


class TestAssertEventuallyTrue:
    @pytest.mark.asyncio
    async def test_sync_predicate(self) -> None:
        """A sync predicate is polled until it returns a truthy value, which is returned."""
        answers = iter([False, 0, "ready"])
        result = await AsyncAssertions.assert_eventually_true(
            lambda: next(answers), timeout=1.0, interval=0.001
        )
        assert result == "ready"

    @pytest.mark.asyncio
    async def test_async_predicate(self) -> None:
        """An async predicate is awaited."""
        flag = asyncio.Event()
        asyncio.get_running_loop().call_soon(flag.set)

        async def is_set() -> bool:
            return flag.is_set()

        assert await AsyncAssertions.assert_eventually_true(is_set, timeout=1.0, interval=0.001)

    @pytest.mark.asyncio
    async def test_timeout_message(self) -> None:
        """On timeout it says how long, how many checks, and what the last check returned."""
        with pytest.raises(
            AssertionError,
            match=r"^assert_eventually_true: the condition was not true within 0\.03s "
            r"\(\d+ checks over \d+\.\d{3}s\); the last check returned False$",
        ):
            await AsyncAssertions.assert_eventually_true(lambda: False, 0.03, interval=0.001)

    @pytest.mark.asyncio
    async def test_raising_predicate_is_retried(self) -> None:
        """A predicate that raises counts as not yet true and is called again."""
        calls: Iterator[ValueError | bool] = iter([ValueError("not yet"), True])

        def predicate() -> bool:
            answer = next(calls)
            if isinstance(answer, Exception):
                raise answer
            return answer

        assert await AsyncAssertions.assert_eventually_true(predicate, 1.0, interval=0.001)

    @pytest.mark.asyncio
    async def test_timeout_reports_the_last_exception(self) -> None:
        """When the predicate kept raising, the message and the cause give the last exception."""

        def predicate() -> bool:
            raise KeyError("job-7")

        with pytest.raises(
            AssertionError, match=r"checks over .*\); the last check raised KeyError\('job-7'\)$"
        ) as excinfo:
            await AsyncAssertions.assert_eventually_true(predicate, 0.02, interval=0.001)
        assert isinstance(excinfo.value.__cause__, KeyError)

    @pytest.mark.asyncio
    async def test_earlier_exception_is_mentioned(
        self, shift_clock: Callable[[float], None]
    ) -> None:
        """An exception from an earlier check is reported after the last result."""
        answers = iter([ConnectionError("refused")])

        def predicate() -> bool:
            shift_clock(1.0)
            for error in answers:
                raise error
            return False

        with pytest.raises(
            AssertionError,
            match=r"\(3 checks .*\); the last check returned False; "
            r"check 1 raised ConnectionError\('refused'\)$",
        ):
            await AsyncAssertions.assert_eventually_true(predicate, 2.5, interval=0.01)

    @pytest.mark.asyncio
    async def test_follows_the_loop_clock(self, shift_clock: Callable[[float], None]) -> None:
        """Time is counted on the event loop's clock, so a jumping clock ends the wait early."""

        def never() -> bool:
            shift_clock(1.0)
            return False

        with pytest.raises(AssertionError, match=r"within 2\.5s \(3 checks over 3\.\d{3}s\)"):
            await AsyncAssertions.assert_eventually_true(never, timeout=2.5, interval=0.01)

    @pytest.mark.asyncio
    async def test_hanging_predicate_is_cancelled(self) -> None:
        """A predicate that never returns is cancelled at the timeout and reported."""
        cancelled = asyncio.Event()

        async def hangs() -> bool:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            return True

        with pytest.raises(
            AssertionError, match=r"\(0 checks over .*\); the first check did not return in time$"
        ):
            await AsyncAssertions.assert_eventually_true(hangs, 0.01)
        assert cancelled.is_set()

    @pytest.mark.asyncio
    async def test_bad_interval(self) -> None:
        """A zero interval is refused."""
        with pytest.raises(ValueError, match=r"interval must be a finite number > 0, got 0"):
            await AsyncAssertions.assert_eventually_true(lambda: True, 1.0, interval=0)


class TestWaitForCondition:
    @pytest.mark.asyncio
    async def test_returns_the_value(self) -> None:
        """It returns the first truthy value of the condition."""
        values: Iterator[object] = iter([None, [], {"id": 3}])
        result = await AsyncTestUtils.wait_for_condition(lambda: next(values), 1.0, interval=0.001)
        assert result == {"id": 3}

    @pytest.mark.asyncio
    async def test_timeout_error(self) -> None:
        """It raises the builtin TimeoutError when time runs out."""
        with pytest.raises(TimeoutError, match=r"^wait_for_condition: the condition was not true"):
            await AsyncTestUtils.wait_for_condition(lambda: False, 0.01, interval=0.001)


class TestRunConcurrent:
    @pytest.mark.asyncio
    async def test_results_in_argument_order(self) -> None:
        """Results come in argument order whatever the completion order."""
        finished: list[int] = []
        gates = [asyncio.Event() for _ in range(3)]

        async def job(n: int) -> int:
            if n < 2:
                await gates[n + 1].wait()
            finished.append(n)
            gates[n].set()
            return n * 10

        assert await AsyncTestUtils.run_concurrent(job(0), job(1), job(2)) == [0, 10, 20]
        assert finished == [2, 1, 0]

    @pytest.mark.asyncio
    async def test_no_awaitables(self) -> None:
        """With nothing to run the result is empty."""
        assert await AsyncTestUtils.run_concurrent() == []

    @pytest.mark.parametrize(("limit", "expected_peak"), [(None, 10), (3, 3), (1, 1)])
    @pytest.mark.asyncio
    async def test_limit_bounds_the_peak(self, limit: int | None, expected_peak: int) -> None:
        """At most ``limit`` awaitables run at once; without it all do."""
        running = 0
        peak = 0

        async def job() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            for _ in range(5):
                await asyncio.sleep(0)
            running -= 1

        await AsyncTestUtils.run_concurrent(*(job() for _ in range(10)), limit=limit)
        assert peak == expected_peak

    @pytest.mark.asyncio
    async def test_failure_cancels_the_rest(self) -> None:
        """A failure cancels the others, waits for their cleanup, then raises; no task is left."""
        before = asyncio.all_tasks()
        started = asyncio.Event()
        cleaned: list[int] = []

        async def slow(n: int) -> None:
            try:
                started.set()
                await asyncio.Event().wait()
            finally:
                await asyncio.sleep(0)
                cleaned.append(n)

        async def failing() -> None:
            await started.wait()
            raise ValueError("job failed")

        with pytest.raises(ValueError, match=r"^job failed$"):
            await AsyncTestUtils.run_concurrent(slow(1), failing(), slow(2), limit=None)
        assert sorted(cleaned) == [1, 2]
        assert asyncio.all_tasks() == before

    @pytest.mark.asyncio
    async def test_failure_closes_unstarted_coroutines(self) -> None:
        """Coroutines still waiting for a slot when another fails are closed, never left pending."""
        before = asyncio.all_tasks()

        async def failing() -> None:
            raise ValueError("first")

        waiting = asyncio.sleep(0)
        with pytest.raises(ValueError, match=r"^first$"):
            await AsyncTestUtils.run_concurrent(failing(), waiting, limit=1)
        assert inspect.getcoroutinestate(waiting) == inspect.CORO_CLOSED
        assert asyncio.all_tasks() == before

    @pytest.mark.asyncio
    async def test_return_exceptions(self) -> None:
        """With ``return_exceptions``, every awaitable runs and errors take their place."""
        done: list[str] = []

        async def ok() -> str:
            await asyncio.sleep(0)
            done.append("ok")
            return "ok"

        async def bad() -> str:
            raise KeyError("k")

        results = await AsyncTestUtils.run_concurrent(bad(), ok(), return_exceptions=True)
        assert isinstance(results[0], KeyError)
        assert (results[1], done) == ("ok", ["ok"])

    @pytest.mark.asyncio
    async def test_outer_cancellation_cancels_everything(self) -> None:
        """Cancelling the caller cancels every awaitable and leaves no task behind."""
        before = asyncio.all_tasks() - {asyncio.current_task()}
        started = asyncio.Event()
        cleaned: list[int] = []

        async def slow(n: int) -> None:
            try:
                started.set()
                await asyncio.Event().wait()
            finally:
                cleaned.append(n)

        caller = asyncio.create_task(AsyncTestUtils.run_concurrent(slow(1), slow(2)))
        await started.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert sorted(cleaned) == [1, 2]
        assert asyncio.all_tasks() - {asyncio.current_task()} == before

    @pytest.mark.asyncio
    async def test_accepts_tasks(self) -> None:
        """Tasks already running can be passed in; a failure cancels them too."""
        blocker = asyncio.create_task(asyncio.Event().wait())

        async def failing() -> None:
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError, match=r"^stop$"):
            await AsyncTestUtils.run_concurrent(blocker, failing())
        assert blocker.cancelled()

    @pytest.mark.asyncio
    async def test_not_awaitable(self) -> None:
        """A non-awaitable argument is refused, naming its position; the others are closed."""
        coro = asyncio.sleep(0)
        with pytest.raises(TypeError, match=r"argument 1 is not awaitable: 5 \(int\)"):
            await AsyncTestUtils.run_concurrent(coro, 5)  # type: ignore[call-overload]
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    @pytest.mark.asyncio
    async def test_bad_limit(self) -> None:
        """A limit below 1 is refused."""
        with pytest.raises(ValueError, match=r"limit must be None or an int >= 1, got 0"):
            await AsyncTestUtils.run_concurrent(limit=0)
