"""RetryPolicy backoff and CircuitBreaker windows, observed exactly on the virtual clock."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest

from awaitflow import (
    AsyncLocalRuntime,
    AsyncWorkflowBuilder,
    CircuitBreaker,
    CircuitBreakerOpenError,
    Event,
    RetryPolicy,
)
from awaitflow.testing import VirtualClock

# The smallest step of the virtual clock (its grid): a reading one tick before a
# deadline is still before it.
TICK = 2.0**-20
REAL_BUDGET = 0.5


class ServiceDown(ConnectionError):
    """The failure the fake services raise."""


def failing_times(failures: int) -> tuple[Callable[[], dict[str, int]], list[int]]:
    """A node function that raises ServiceDown ``failures`` times, then succeeds; and its calls."""
    calls: list[int] = []

    def call() -> dict[str, int]:
        calls.append(len(calls) + 1)
        if len(calls) <= failures:
            raise ServiceDown(f"attempt {len(calls)} failed")
        return {"attempts": len(calls)}

    return call, calls


def gaps(stamps: list[float]) -> list[float]:
    """The differences between successive timestamps."""
    return [later - earlier for earlier, later in itertools.pairwise(stamps)]


def recorder(runtime: AsyncLocalRuntime) -> list[Event]:
    """Subscribe to ``runtime`` and return the list its events are appended to."""
    events: list[Event] = []
    runtime.subscribe(events.append)
    return events


def stamps(events: list[Event], kind: str) -> list[float]:
    """The timestamps of the events of one kind."""
    return [event.timestamp for event in events if event.kind == kind]


# -- retry backoff ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_retry_backoff_of_one_two_four_seconds_is_observed_exactly(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Attempts start 1, 2 and 4 virtual seconds after the previous one failed."""
    call, calls = failing_times(3)
    events = recorder(awaitflow_runtime)
    policy = RetryPolicy(max_attempts=4, backoff=1, multiplier=2)
    workflow = AsyncWorkflowBuilder("flaky").add_node("fetch", call, retry=policy)
    real = time.perf_counter()
    result = await awaitflow_runtime.execute(workflow)
    assert (result.get_output("fetch"), calls) == ({"attempts": 4}, [1, 2, 3, 4])
    assert gaps(stamps(events, "node_started")) == [1.0, 2.0, 4.0]
    retried, started = stamps(events, "node_retried"), stamps(events, "node_started")
    assert [s - r for r, s in zip(retried, started[1:], strict=True)] == [1.0, 2.0, 4.0]
    assert [e.attempt for e in events if e.kind == "node_retried"] == [1, 2, 3]
    assert result.timings["fetch"].duration == 7.0
    assert time.perf_counter() - real < REAL_BUDGET


@pytest.mark.asyncio
async def test_retry_backoff_is_capped_by_max_backoff(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """backoff=1, multiplier=10, max_backoff=5 waits 1, 5, 5 seconds."""
    call, _ = failing_times(3)
    events = recorder(awaitflow_runtime)
    policy = RetryPolicy(max_attempts=4, backoff=1, multiplier=10, max_backoff=5)
    workflow = AsyncWorkflowBuilder("capped").add_node("fetch", call, retry=policy)
    await awaitflow_runtime.execute(workflow)
    assert gaps(stamps(events, "node_started")) == [1.0, 5.0, 5.0]


@pytest.mark.asyncio
async def test_when_the_attempts_run_out_the_last_error_propagates_after_the_backoffs(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Three failed attempts with 1 s and 2 s between them fail with attempt 3's error at 3 s."""
    call, calls = failing_times(10)
    policy = RetryPolicy(max_attempts=3, backoff=1, multiplier=2)
    workflow = AsyncWorkflowBuilder("down").add_node("fetch", call, retry=policy)
    start = virtual_clock.now()
    with pytest.raises(ServiceDown, match=r"^attempt 3 failed"):
        await awaitflow_runtime.execute(workflow)
    assert virtual_clock.now() - start == 3.0
    assert calls == [1, 2, 3]


@pytest.mark.asyncio
async def test_retried_node_timeouts_add_up_in_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Three attempts timing out at 10 s, with 1 s and 2 s of backoff, fail at virtual 33 s."""
    policy = RetryPolicy(max_attempts=3, backoff=1, multiplier=2, retry_on=(TimeoutError,))
    workflow = AsyncWorkflowBuilder("hanging").add_async_code(
        "call", "await asyncio.sleep(3600)", timeout=10, retry=policy
    )
    events = recorder(awaitflow_runtime)
    start = virtual_clock.now()
    with pytest.raises(
        TimeoutError, match=r"^node 'call' of workflow 'hanging' timed out after 10s"
    ):
        await awaitflow_runtime.execute(workflow)
    assert virtual_clock.now() - start == 33.0
    assert gaps(stamps(events, "node_started")) == [11.0, 12.0]


@pytest.mark.asyncio
async def test_a_code_node_retry_sees_the_backoff_on_its_own_clock(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A retried code node reading time.monotonic() sees its attempts 0.5 s and 1 s apart."""
    seen: list[float] = []

    def note(reading: float) -> int:
        seen.append(reading)
        return len(seen)

    awaitflow_runtime.register_function(note)
    policy = RetryPolicy(max_attempts=3, backoff=0.5, multiplier=2)
    workflow = AsyncWorkflowBuilder("flaky").add_async_code(
        "call",
        """
        if note(time.monotonic()) < 3:
            raise ConnectionError("not yet")
        """,
        retry=policy,
    )
    await awaitflow_runtime.execute(workflow)
    assert gaps(seen) == [0.5, 1.0]


# -- circuit breaker -------------------------------------------------------------------------------


async def trip(breaker: CircuitBreaker, times: int) -> None:
    """Make ``times`` failing calls through ``breaker``."""

    async def fail() -> None:
        raise ServiceDown("service down")

    for _ in range(times):
        with pytest.raises(ServiceDown):
            await breaker.call(fail)


def state(breaker: CircuitBreaker) -> str:
    """The breaker's state, read afresh (it changes with the clock alone)."""
    return breaker.state


async def ok() -> str:
    """A call that succeeds."""
    return "ok"


@pytest.mark.asyncio
async def test_the_breaker_opens_after_the_threshold_and_stops_calling(
    virtual_clock: VirtualClock,
) -> None:
    """Three failures open a threshold-3 breaker; the next call never reaches the target."""
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30)
    await trip(breaker, 2)
    assert state(breaker) == "closed"
    await trip(breaker, 1)
    assert state(breaker) == "open"
    reached: list[str] = []

    async def target() -> None:
        reached.append("called")

    with pytest.raises(CircuitBreakerOpenError, match="next trial in 30s") as caught:
        await breaker.call(target)
    assert (reached, caught.value.retry_after) == ([], 30.0)


@pytest.mark.asyncio
async def test_the_breaker_half_opens_exactly_when_the_reset_timeout_has_passed(
    virtual_clock: VirtualClock,
) -> None:
    """One tick before reset_timeout the breaker is open; at reset_timeout it is half-open."""
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=30)
    await trip(breaker, 1)
    await virtual_clock.advance(10)
    with pytest.raises(CircuitBreakerOpenError, match="next trial in 20s") as caught:
        await breaker.call(ok)
    assert caught.value.retry_after == 20.0
    await virtual_clock.advance(20 - TICK)
    assert state(breaker) == "open"
    await virtual_clock.advance(TICK)
    assert state(breaker) == "half_open"


@pytest.mark.asyncio
async def test_a_successful_trial_call_closes_the_breaker(virtual_clock: VirtualClock) -> None:
    """After reset_timeout one call goes through; its success closes the breaker."""
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    await trip(breaker, 2)
    await virtual_clock.advance(30)
    assert await breaker.call(ok) == "ok"
    assert (state(breaker), breaker.failure_count) == ("closed", 0)


@pytest.mark.asyncio
async def test_a_failed_trial_call_reopens_the_breaker_for_a_full_window(
    virtual_clock: VirtualClock,
) -> None:
    """A failing trial opens the breaker again for another whole reset_timeout."""
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    await trip(breaker, 2)
    await virtual_clock.advance(45)
    assert state(breaker) == "half_open"
    await trip(breaker, 1)
    assert state(breaker) == "open"
    await virtual_clock.advance(30 - TICK)
    assert state(breaker) == "open"
    await virtual_clock.advance(TICK)
    assert state(breaker) == "half_open"


@pytest.mark.asyncio
async def test_a_sleeping_task_sees_the_breaker_half_open_after_the_reset_timeout(
    virtual_clock: VirtualClock,
) -> None:
    """Waiting reset_timeout with asyncio.sleep (a jump, not advance) half-opens the breaker."""
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=60)
    await trip(breaker, 1)
    real = time.perf_counter()
    await asyncio.sleep(60)
    assert state(breaker) == "half_open"
    assert time.perf_counter() - real < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_node_with_an_open_breaker_fails_without_running(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Node failures open its breaker; the next execution fails with CircuitBreakerOpenError."""
    call, calls = failing_times(2)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    workflow = AsyncWorkflowBuilder("guarded").add_node("fetch", call, circuit_breaker=breaker)
    for _ in range(2):
        with pytest.raises(ServiceDown):
            await awaitflow_runtime.execute(workflow)
    assert state(breaker) == "open"
    result = await awaitflow_runtime.execute(workflow, raise_on_error=False)
    assert result.node_status == {"fetch": "failed"}
    assert isinstance(result.errors["fetch"], CircuitBreakerOpenError)
    assert calls == [1, 2]


@pytest.mark.asyncio
async def test_a_node_breaker_lets_a_trial_run_after_the_reset_timeout(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """Once reset_timeout passed the node runs again as the trial, and its success closes it."""
    call, calls = failing_times(2)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    workflow = AsyncWorkflowBuilder("guarded").add_node("fetch", call, circuit_breaker=breaker)
    for _ in range(2):
        await awaitflow_runtime.execute(workflow, raise_on_error=False)
    await virtual_clock.advance(30)
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("fetch") == {"attempts": 3}
    assert (state(breaker), calls) == ("closed", [1, 2, 3])


@pytest.mark.asyncio
async def test_a_breaker_node_in_a_waiting_workflow_recovers_in_virtual_time(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A node that sleeps past the reset timeout before calling finds the breaker half-open."""
    failing, _ = failing_times(1)
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=30)
    await awaitflow_runtime.execute(
        AsyncWorkflowBuilder("first").add_node("fetch", failing, circuit_breaker=breaker),
        raise_on_error=False,
    )
    assert state(breaker) == "open"
    workflow = (
        AsyncWorkflowBuilder("later")
        .add_async_code("wait", "await asyncio.sleep(30)")
        .add_node("fetch", failing, circuit_breaker=breaker)
        .add_connection("wait", "result", "fetch", "_after")
    )
    result = await awaitflow_runtime.execute(workflow)
    assert result.get_output("fetch") == {"attempts": 2}
    assert state(breaker) == "closed"


@pytest.mark.asyncio
async def test_a_retry_backoff_longer_than_the_reset_timeout_reaches_the_trial(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime
) -> None:
    """A retry whose backoff outlasts reset_timeout gets the half-open trial and succeeds."""
    call, calls = failing_times(2)
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    policy = RetryPolicy(max_attempts=4, backoff=1, multiplier=40)
    workflow = AsyncWorkflowBuilder("patient").add_node(
        "fetch", call, retry=policy, circuit_breaker=breaker
    )
    events = recorder(awaitflow_runtime)
    result = await awaitflow_runtime.execute(workflow)
    assert (result.get_output("fetch"), calls) == ({"attempts": 3}, [1, 2, 3])
    assert gaps(stamps(events, "node_started")) == [1.0, 40.0]
    assert state(breaker) == "closed"
