"""Warnings for node code that blocks the event loop (``time.sleep`` in a node, say)."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["BlockingCallWarning", "warn_blocking"]


class BlockingCallWarning(RuntimeWarning):
    """A node held the event loop for longer than the runtime's blocking threshold."""

    def __init__(self, message: str, node_id: str, workflow: str, seconds: float) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.workflow = workflow
        self.seconds = seconds


def _where(coro: Any) -> str:
    frame = getattr(coro, "cr_frame", None)
    if frame is None:
        return ""
    return f" (last at {frame.f_code.co_filename}:{frame.f_lineno})"


def warn_blocking(node_id: str, workflow: str, seconds: float, coro: Any = None) -> None:
    """Emit a :class:`BlockingCallWarning` naming the node and how long it blocked."""
    message = (
        f"node {node_id!r} of workflow {workflow!r} blocked the event loop for "
        f"{seconds:.3f}s{_where(coro)}; use 'await asyncio.sleep()' or "
        "'await asyncio.to_thread()' for blocking work"
    )
    warnings.warn(BlockingCallWarning(message, node_id, workflow, seconds), stacklevel=2)
