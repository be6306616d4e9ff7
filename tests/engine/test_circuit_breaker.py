"""CircuitBreaker: closed, open, half-open, the trial call, and breakers on nodes (SPEC 4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio

from awaitflow import (
    AsyncLocalRuntime,
    AsyncWorkflowBuilder,
    CircuitBreaker,
    CircuitBreakerOpenError,
)

_RESET = 30.0  # seconds of the loop clock, which the ``clock`` fixture moves on at will


class LoopClock:
    """Shifts the running loop's clock, which the breaker reads, without waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real_time = loop.time
        monkeypatch.setattr(loop, "time", lambda: real_time() + self.offset)

    def advance(self, seconds: float) -> None:
        """Move the loop clock ``seconds`` ahead."""
        self.offset += seconds


@pytest_asyncio.fixture
async def clock(monkeypatch: pytest.MonkeyPatch) -> LoopClock:
    """The running loop's clock, under the test's control."""
    return LoopClock(asyncio.get_running_loop(), monkeypatch)


class Service:
    """A target with a ``request`` method that fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = True
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def request(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        if self.failing:
            raise ConnectionError("service down")
        return "ok"


async def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError, match="service down"):
            await breaker.execute()


def _half_open(breaker: CircuitBreaker, clock: LoopClock, seconds: float | None = None) -> None:
    """Move the clock on by ``seconds`` (default: the reset timeout); check it is half-open."""
    clock.advance(breaker.reset_timeout if seconds is None else seconds)
    assert breaker.state == "half_open"


def test_defaults_match_the_spec() -> None:
    """CircuitBreaker() opens after 5 failures, resets after 30 s, counts any Exception."""
    breaker = CircuitBreaker()
    assert (breaker.failure_threshold, breaker.reset_timeout) == (5, 30.0)
    assert breaker.expected_exceptions == (Exception,)
    assert (breaker.state, breaker.target) == ("closed", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, r"failure_threshold must be an int >= 1, got 0"),
        ({"reset_timeout": -1}, r"reset_timeout must be >= 0, got -1"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    """Invalid breaker settings are refused, naming the setting and value."""
    with pytest.raises(ValueError, match=message):
        CircuitBreaker(**kwargs)


@pytest.mark.asyncio
async def test_execute_calls_the_targets_request_method() -> None:
    """execute(*args, **kwargs) calls ``target.request(*args, **kwargs)`` when it exists."""
    service = Service()
    service.failing = False
    breaker = CircuitBreaker(service)
    assert await breaker.execute("GET", "/users", timeout=3) == "ok"
    assert service.calls == [(("GET", "/users"), {"timeout": 3})]


@pytest.mark.asyncio
async def test_execute_calls_a_plain_callable_target() -> None:
    """A target without ``request`` is called itself."""

    async def fetch(user_id: int, *, full: bool) -> dict[str, Any]:
        return {"id": user_id, "full": full}

    assert await CircuitBreaker(fetch).execute(7, full=True) == {"id": 7, "full": True}


@pytest.mark.asyncio
async def test_execute_without_a_target_is_refused() -> None:
    """execute() on a breaker made without a target tells to use call()."""
    with pytest.raises(TypeError, match=r"execute\(\) needs a target; use call\(func, \.\.\.\)"):
        await CircuitBreaker().execute()


@pytest.mark.asyncio
async def test_call_guards_any_async_callable() -> None:
    """call(func, *args, **kwargs) awaits ``func(*args, **kwargs)`` through the breaker."""

    async def add(a: int, b: int = 0) -> int:
        return a + b

    assert await CircuitBreaker().call(add, 2, b=3) == 5


@pytest.mark.asyncio
async def test_failures_below_the_threshold_keep_it_closed() -> None:
    """Fewer consecutive failures than the threshold leave the breaker closed and counting."""
    breaker = CircuitBreaker(Service(), failure_threshold=3, reset_timeout=_RESET)
    await _fail(breaker, 2)
    assert (breaker.state, breaker.failure_count) == ("closed", 2)


@pytest.mark.asyncio
async def test_threshold_consecutive_failures_open_it() -> None:
    """The failure_threshold-th consecutive failure opens the breaker."""
    breaker = CircuitBreaker(Service(), failure_threshold=3, reset_timeout=_RESET)
    await _fail(breaker, 3)
    assert breaker.state == "open"


@pytest.mark.asyncio
async def test_open_breaker_refuses_without_calling_the_target() -> None:
    """While open, calls raise CircuitBreakerOpenError and never reach the target."""
    service = Service()
    breaker = CircuitBreaker(service, failure_threshold=2, reset_timeout=30)
    await _fail(breaker, 2)
    with pytest.raises(
        CircuitBreakerOpenError, match=r"circuit breaker is open after 2 consecutive failures"
    ) as info:
        await breaker.execute()
    assert len(service.calls) == 2
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 30


@pytest.mark.asyncio
async def test_a_success_resets_the_consecutive_count() -> None:
    """Failures separated by a success do not add up."""
    service = Service()
    breaker = CircuitBreaker(service, failure_threshold=2, reset_timeout=_RESET)
    await _fail(breaker, 1)
    service.failing = False
    await breaker.execute()
    service.failing = True
    await _fail(breaker, 1)
    assert (breaker.state, breaker.failure_count) == ("closed", 1)


@pytest.mark.asyncio
async def test_unexpected_exceptions_do_not_count() -> None:
    """Exceptions outside expected_exceptions propagate without counting as failures."""

    async def broken() -> None:
        raise KeyError("bug")

    breaker = CircuitBreaker(broken, failure_threshold=1, expected_exceptions=(ConnectionError,))
    for _ in range(3):
        with pytest.raises(KeyError, match="bug"):
            await breaker.execute()
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


@pytest.mark.asyncio
async def test_state_reads_half_open_once_the_reset_timeout_passed(clock: LoopClock) -> None:
    """Open until reset_timeout has passed, then ``"half_open"`` without any call."""
    breaker = CircuitBreaker(Service(), failure_threshold=1, reset_timeout=_RESET)
    await _fail(breaker, 1)
    clock.advance(_RESET - 0.5)
    assert breaker.state == "open"
    _half_open(breaker, clock, 0.5)


@pytest.mark.asyncio
async def test_successful_trial_call_closes_it(clock: LoopClock) -> None:
    """A success in half-open state closes the breaker and clears the count."""
    service = Service()
    breaker = CircuitBreaker(service, failure_threshold=1, reset_timeout=_RESET)
    await _fail(breaker, 1)
    _half_open(breaker, clock)
    service.failing = False
    assert await breaker.execute() == "ok"
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


@pytest.mark.asyncio
async def test_failed_trial_call_opens_it_for_another_reset_timeout(clock: LoopClock) -> None:
    """A failure in half-open state reopens it at once, for a full reset_timeout again."""
    service = Service()
    breaker = CircuitBreaker(service, failure_threshold=3, reset_timeout=_RESET)
    await _fail(breaker, 3)
    _half_open(breaker, clock)
    await _fail(breaker, 1)
    assert breaker.state == "open"
    clock.advance(_RESET - 0.5)
    with pytest.raises(CircuitBreakerOpenError, match=r"next trial in 0.5s"):
        await breaker.execute()
    assert len(service.calls) == 4
    _half_open(breaker, clock, 0.5)


@pytest.mark.asyncio
async def test_half_open_lets_one_trial_call_through(clock: LoopClock) -> None:
    """While the trial call runs, other calls are refused."""
    release = asyncio.Event()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "ok"

    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=_RESET)

    async def fail() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    _half_open(breaker, clock)
    trial = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    with pytest.raises(CircuitBreakerOpenError):
        await breaker.call(slow)
    release.set()
    assert await trial == "ok"
    assert (calls, breaker.state) == (1, "closed")


@pytest.mark.asyncio
async def test_reset_closes_the_breaker() -> None:
    """reset() closes an open breaker and forgets its failures."""
    breaker = CircuitBreaker(Service(), failure_threshold=1, reset_timeout=30)
    await _fail(breaker, 1)
    breaker.reset()
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


# -- on nodes ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_node_failures_count_and_open_the_breaker(runtime: AsyncLocalRuntime) -> None:
    """Each execution of a node is a guarded call; its failures open the node's breaker."""
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30)
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("call_api", "raise ConnectionError('api down')", circuit_breaker=breaker)
        .build()
    )
    for _ in range(2):
        with pytest.raises(ConnectionError, match="api down"):
            await runtime.execute(workflow)
    assert breaker.state == "open"


@pytest.mark.asyncio
async def test_open_breaker_fails_the_node_without_running_it(
    runtime: AsyncLocalRuntime,
) -> None:
    """While the breaker is open the node fails with CircuitBreakerOpenError and does not run."""
    runs: list[int] = []

    async def call_api() -> None:
        runs.append(1)
        raise ConnectionError("api down")

    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=30)
    workflow = AsyncWorkflowBuilder("wf").add_node("call_api", call_api, circuit_breaker=breaker)
    with pytest.raises(ConnectionError):
        await runtime.execute(workflow)
    with pytest.raises(CircuitBreakerOpenError, match=r"circuit breaker is open") as info:
        await runtime.execute(workflow)
    assert runs == [1]
    assert info.value.__notes__ == ["raised by node 'call_api' of workflow 'wf'"]


@pytest.mark.asyncio
async def test_node_breaker_closes_after_a_successful_trial(
    runtime: AsyncLocalRuntime, clock: LoopClock
) -> None:
    """Once half-open, a node execution that succeeds closes the breaker."""
    state = {"fail": True}

    def call_api() -> dict[str, str]:
        if state["fail"]:
            raise ConnectionError("api down")
        return {"status": "up"}

    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=_RESET)
    workflow = AsyncWorkflowBuilder("wf").add_node("n", call_api, circuit_breaker=breaker).build()
    with pytest.raises(ConnectionError):
        await runtime.execute(workflow)
    _half_open(breaker, clock)
    state["fail"] = False
    assert (await runtime.execute(workflow)).get_output("n", "status") == "up"
    assert breaker.state == "closed"
