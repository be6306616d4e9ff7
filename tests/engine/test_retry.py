"""RetryPolicy: attempts, backoff delays, the retry_on filter, the last error (SPEC 2)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, RetryPolicy

from ._support import EventLog

# The loop clock may read a hair early on some platforms; delays are checked to this slack.
_SLACK = 0.002


class Flaky:
    """A function node failing with ``error`` for its first ``failures`` calls."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"attempt {self.calls} failed")
        return {"attempts": self.calls}


async def _run(
    runtime: AsyncLocalRuntime, flaky: Flaky, policy: RetryPolicy, *, raise_on_error: bool = True
) -> tuple[EventLog, Any]:
    log = EventLog()
    runtime.subscribe(log)
    workflow = AsyncWorkflowBuilder("wf").add_node("call", flaky, retry=policy).build()
    return log, await runtime.execute(workflow, raise_on_error=raise_on_error)


def _gaps(log: EventLog) -> list[float]:
    """Seconds from each node_retried event to the next attempt's node_started."""
    times = [
        (e.kind, e.timestamp) for e in log.events if e.kind in ("node_retried", "node_started")
    ]
    pairs = itertools.pairwise(times)
    return [t2 - t1 for (k1, t1), (k2, t2) in pairs if (k1, k2) == ("node_retried", "node_started")]


# -- the policy itself -------------------------------------------------------------------------


def test_policy_defaults_match_the_spec() -> None:
    """RetryPolicy() is 3 attempts, 0.1 s backoff doubling, no cap, retrying any Exception."""
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff, policy.multiplier) == (3, 0.1, 2.0)
    assert (policy.max_backoff, policy.retry_on) == (None, (Exception,))


def test_delay_grows_by_the_multiplier() -> None:
    """The delay before attempt k+1 is ``backoff * multiplier ** (k - 1)``."""
    policy = RetryPolicy(max_attempts=5, backoff=0.5, multiplier=3.0)
    assert [policy.delay(k) for k in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 13.5]


def test_delay_is_capped_by_max_backoff() -> None:
    """max_backoff caps each delay."""
    policy = RetryPolicy(max_attempts=5, backoff=1.0, multiplier=10.0, max_backoff=5.0)
    assert [policy.delay(k) for k in (1, 2, 3)] == [1.0, 5.0, 5.0]


def test_a_single_exception_type_is_accepted_for_retry_on() -> None:
    """retry_on=SomeError is read as the tuple (SomeError,)."""
    assert RetryPolicy(retry_on=OSError).retry_on == (OSError,)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, r"max_attempts must be an int >= 1, got 0"),
        ({"max_attempts": 1.5}, r"max_attempts must be an int >= 1, got 1.5"),
        ({"backoff": -1}, r"backoff must be >= 0, got -1"),
        ({"multiplier": -2.0}, r"multiplier must be >= 0, got -2.0"),
        ({"max_backoff": -0.1}, r"max_backoff must be >= 0, got -0.1"),
    ],
)
def test_bad_policy_values_are_refused(kwargs: dict[str, Any], message: str) -> None:
    """Each invalid RetryPolicy field is refused with a message naming it and its value."""
    with pytest.raises(ValueError, match=rf"RetryPolicy\.{message}"):
        RetryPolicy(**kwargs)


# -- retrying nodes ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_node_is_retried_until_it_succeeds(runtime: AsyncLocalRuntime) -> None:
    """A node failing twice then succeeding completes on its third attempt."""
    flaky = Flaky(failures=2)
    _, result = await _run(runtime, flaky, RetryPolicy(max_attempts=3, backoff=0.001))
    assert result.get_output("call") == {"attempts": 3}
    assert result.node_status == {"call": "completed"}


@pytest.mark.asyncio
async def test_each_attempt_is_an_execution(runtime: AsyncLocalRuntime) -> None:
    """Every attempt emits node_started with its attempt number; retries emit node_retried."""
    log, _ = await _run(runtime, Flaky(failures=2), RetryPolicy(max_attempts=5, backoff=0.001))
    assert [e.attempt for e in log.of("node_started", "call")] == [1, 2, 3]
    retried = log.of("node_retried", "call")
    assert [e.attempt for e in retried] == [1, 2]
    assert [str(e.error) for e in retried] == ["attempt 1 failed", "attempt 2 failed"]


@pytest.mark.asyncio
async def test_retry_waits_the_backoff_delays(runtime: AsyncLocalRuntime) -> None:
    """The loop clock shows waits of backoff, backoff*multiplier, backoff*multiplier**2."""
    policy = RetryPolicy(max_attempts=4, backoff=0.01, multiplier=2.0)
    log, _ = await _run(runtime, Flaky(failures=3), policy)
    gaps = _gaps(log)
    assert len(gaps) == 3
    for gap, expected in zip(gaps, (0.01, 0.02, 0.04), strict=True):
        assert expected - _SLACK <= gap < expected + 0.5


@pytest.mark.asyncio
async def test_max_backoff_caps_the_waits(runtime: AsyncLocalRuntime) -> None:
    """With multiplier 10 and max_backoff 0.02 the waits are 0.01, 0.02, 0.02, not 1.0."""
    policy = RetryPolicy(max_attempts=4, backoff=0.01, multiplier=10.0, max_backoff=0.02)
    log, _ = await _run(runtime, Flaky(failures=3), policy)
    gaps = _gaps(log)
    assert len(gaps) == 3
    assert gaps[0] >= 0.01 - _SLACK
    assert all(0.02 - _SLACK <= gap < 0.5 for gap in gaps[1:])


@pytest.mark.asyncio
async def test_last_exception_propagates_when_attempts_run_out(
    runtime: AsyncLocalRuntime,
) -> None:
    """After max_attempts failures the last attempt's exception is raised."""
    flaky = Flaky(failures=10)
    with pytest.raises(ConnectionError, match=r"^attempt 3 failed\nraised by node 'call'"):
        await _run(runtime, flaky, RetryPolicy(max_attempts=3, backoff=0.001))
    assert flaky.calls == 3


@pytest.mark.asyncio
async def test_exhausted_retries_leave_the_node_failed(runtime: AsyncLocalRuntime) -> None:
    """raise_on_error=False: the node is failed with the last attempt's error."""
    policy = RetryPolicy(max_attempts=2, backoff=0.001)
    _, result = await _run(runtime, Flaky(failures=5), policy, raise_on_error=False)
    assert result.node_status == {"call": "failed"}
    assert str(result.errors["call"]) == "attempt 2 failed"


@pytest.mark.asyncio
async def test_errors_outside_retry_on_are_not_retried(runtime: AsyncLocalRuntime) -> None:
    """An exception not listed in retry_on fails the node at once."""
    flaky = Flaky(failures=1, error=ValueError)
    policy = RetryPolicy(max_attempts=5, backoff=0.001, retry_on=(ConnectionError,))
    with pytest.raises(ValueError, match=r"attempt 1 failed"):
        await _run(runtime, flaky, policy)
    assert flaky.calls == 1


@pytest.mark.asyncio
async def test_subclasses_of_retry_on_are_retried(runtime: AsyncLocalRuntime) -> None:
    """retry_on=(OSError,) retries a ConnectionError, which is an OSError."""
    flaky = Flaky(failures=1, error=ConnectionRefusedError)
    _, result = await _run(runtime, flaky, RetryPolicy(backoff=0.001, retry_on=(OSError,)))
    assert result.get_output("call", "attempts") == 2


@pytest.mark.asyncio
async def test_one_attempt_means_no_retry(runtime: AsyncLocalRuntime) -> None:
    """max_attempts=1 runs the node once."""
    flaky = Flaky(failures=1)
    with pytest.raises(ConnectionError):
        await _run(runtime, flaky, RetryPolicy(max_attempts=1))
    assert flaky.calls == 1


@pytest.mark.asyncio
async def test_code_nodes_are_retried(runtime: AsyncLocalRuntime) -> None:
    """A code node with retry= re-runs its code, each attempt in a fresh namespace."""
    counter = {"calls": 0}
    code = """
        counter["calls"] += 1
        if counter["calls"] < 3:
            leftover = "from a failed attempt"
            raise ConnectionError("flaky")
        result = {"calls": counter["calls"], "leftover": "leftover" in dir()}
    """
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("n", code, retry=RetryPolicy(max_attempts=3, backoff=0.001))
        .build()
    )
    result = await runtime.execute(workflow, {"counter": counter})
    assert result.get_output("n") == {"calls": 3, "leftover": False}


@pytest.mark.asyncio
async def test_each_attempt_gets_its_own_node_timeout(runtime: AsyncLocalRuntime) -> None:
    """A node timing out once is retried; the timeout bounds each attempt."""
    counter = {"calls": 0}
    code = "counter['calls'] += 1\nif counter['calls'] == 1:\n    await asyncio.sleep(30)\nv = 1"
    workflow = (
        AsyncWorkflowBuilder("wf")
        .add_async_code("n", code, timeout=0.05, retry=RetryPolicy(max_attempts=2, backoff=0.001))
        .build()
    )
    result = await runtime.execute(workflow, {"counter": counter})
    assert (result.get_output("n"), counter["calls"]) == ({"v": 1}, 2)
