"""A stopwatch on real time, for tests that check virtual time costs no real time."""

from __future__ import annotations

import time

REAL_BUDGET = 0.5
"""Real seconds a virtual-time test may take: far below the virtual seconds it sees."""


class RealTimer:
    """Measures real seconds (this module's ``time`` is never virtual)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Real seconds since the timer was made."""
        return time.perf_counter() - self.started
