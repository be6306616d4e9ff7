"""Resilience: RetryPolicy and CircuitBreaker.

Both are native asyncio and read the running loop's clock, so they follow a
virtual clock in tests. The retry loop is a dozen lines in the runtime; a
general retry library would bring its own clock and sleep, which is exactly
what a virtual clock must control, so we keep it here.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import CircuitBreakerOpenError

__all__ = ["CircuitBreaker", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Re-run a node when it raises one of ``retry_on``.

    The delay before attempt ``k + 1`` is ``backoff * multiplier ** (k - 1)``,
    capped by ``max_backoff``. Each attempt counts as an execution; when the
    attempts run out the last exception propagates.
    """

    max_attempts: int = 3
    backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(
                f"RetryPolicy.max_attempts must be an int >= 1, got {self.max_attempts!r}"
            )
        if self.backoff < 0:
            raise ValueError(f"RetryPolicy.backoff must be >= 0, got {self.backoff!r}")
        if self.multiplier < 0:
            raise ValueError(f"RetryPolicy.multiplier must be >= 0, got {self.multiplier!r}")
        if self.max_backoff is not None and self.max_backoff < 0:
            raise ValueError(f"RetryPolicy.max_backoff must be >= 0, got {self.max_backoff!r}")
        if isinstance(self.retry_on, type):
            object.__setattr__(self, "retry_on", (self.retry_on,))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (counted from 1)."""
        wait = self.backoff * self.multiplier ** (attempt - 1)
        if self.max_backoff is not None:
            wait = min(wait, self.max_backoff)
        return wait

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether ``exc`` raised by attempt ``attempt`` earns another attempt."""
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)


BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Stop calling a failing service for a while.

    After ``failure_threshold`` consecutive failures (exceptions among
    ``expected_exceptions``) the breaker opens: calls raise
    :class:`CircuitBreakerOpenError` without reaching the target. Once
    ``reset_timeout`` seconds have passed it is half-open and lets one trial
    call through: a success closes it, a failure opens it for another
    ``reset_timeout``.
    """

    def __init__(
        self,
        target: Any = None,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        expected_exceptions: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f"failure_threshold must be an int >= 1, got {failure_threshold!r}")
        if reset_timeout < 0:
            raise ValueError(f"reset_timeout must be >= 0, got {reset_timeout!r}")
        self.target = target
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.expected_exceptions = expected_exceptions
        self.failure_count = 0
        self._opened_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trial_running = False

    def _now(self) -> float:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                return 0.0
        return self._loop.time()

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half_open"`` (as soon as the reset timeout passed)."""
        if self._opened_at is None:
            return "closed"
        if self._now() - self._opened_at >= self.reset_timeout:
            return "half_open"
        return "open"

    def reset(self) -> None:
        """Close the breaker and forget past failures."""
        self.failure_count = 0
        self._opened_at = None
        self._trial_running = False

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Call the target: ``target.request(...)`` when it has one, else ``target(...)``."""
        if self.target is None:
            raise TypeError("CircuitBreaker.execute() needs a target; use call(func, ...) instead")
        request = getattr(self.target, "request", None)
        func = request if callable(request) else self.target
        return await self.call(func, *args, **kwargs)

    async def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` (awaiting it if needed) through the breaker."""
        state = self.state
        if state == "open" or (state == "half_open" and self._trial_running):
            assert self._opened_at is not None
            retry_after = max(0.0, self.reset_timeout - (self._now() - self._opened_at))
            raise CircuitBreakerOpenError(
                f"circuit breaker is open after {self.failure_count} consecutive failures; "
                f"next trial in {retry_after:.3g}s",
                retry_after=retry_after,
            )
        trial = state == "half_open"
        if trial:
            self._trial_running = True
        try:
            outcome = func(*args, **kwargs)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except self.expected_exceptions:
            self._record_failure()
            raise
        except BaseException:
            if trial:
                self._trial_running = False
            raise
        self.reset()
        return outcome

    def _record_failure(self) -> None:
        self._trial_running = False
        self.failure_count += 1
        if self._opened_at is not None or self.failure_count >= self.failure_threshold:
            self._opened_at = self._now()

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state!r}, failures={self.failure_count}/"
            f"{self.failure_threshold}, reset_timeout={self.reset_timeout})"
        )
