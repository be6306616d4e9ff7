"""Helpers shared by the engine tests: an event recorder, a peak counter, task listing."""

from __future__ import annotations

import asyncio

from awaitflow import Event


class EventLog:
    """A runtime listener that keeps every event it receives, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, node_id: str | None = None) -> list[str]:
        """The kinds of the events received (of one node when ``node_id`` is given)."""
        return [e.kind for e in self.events if node_id is None or e.node_id == node_id]

    def of(self, kind: str, node_id: str | None = None) -> list[Event]:
        """The events of one kind (of one node when ``node_id`` is given)."""
        return [
            e for e in self.events if e.kind == kind and (node_id is None or e.node_id == node_id)
        ]

    def node_sequence(self, kind: str = "node_started") -> list[str | None]:
        """The node ids of the events of one kind, in order."""
        return [e.node_id for e in self.events if e.kind == kind]


def other_tasks() -> set[asyncio.Task[object]]:
    """Every task of the running loop except the current one."""
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current}


class Peak:
    """Counts how many holders are inside at once and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        """One more inside."""
        self.now += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        """One fewer inside."""
        self.now -= 1

    async def hold(self, yields: int = 5) -> None:
        """Be inside for ``yields`` loop turns."""
        self.enter()
        try:
            for _ in range(yields):
                await asyncio.sleep(0)
        finally:
            self.leave()
