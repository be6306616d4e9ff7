"""WorkflowResult: what one execution produced, as plain values."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["NodeStatus", "NodeTiming", "WorkflowResult"]

NodeStatus: TypeAlias = Literal["completed", "failed", "cancelled", "skipped"]

_MISSING = object()


_RESULT_ATTRIBUTE = "_awaitflow_result"


def attach_result(error: BaseException, result: WorkflowResult) -> None:
    """Keep the result of the failed execution on the error ``execute`` raises."""
    with contextlib.suppress(AttributeError):  # an exception type with __slots__
        setattr(error, _RESULT_ATTRIBUTE, result)


def result_of(error: BaseException) -> WorkflowResult | None:
    """The result of the execution that raised ``error``, if awaitflow raised it."""
    result = getattr(error, _RESULT_ATTRIBUTE, None)
    return result if isinstance(result, WorkflowResult) else None


@dataclass(frozen=True, slots=True)
class NodeTiming:
    """When a node ran, on the event loop's clock (seconds)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start


def dig(value: Any, path: str) -> Any:
    """Follow a dotted ``path`` into nested dicts; raise ``KeyError`` naming the missing part."""
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            keys = sorted(map(str, value)) if isinstance(value, Mapping) else []
            raise KeyError(f"no key {part!r} in {path!r}; keys there: {keys}")
    return value


@dataclass(slots=True)
class WorkflowResult:
    """The outcome of one execution of a workflow.

    ``outputs`` maps each completed node to its output dict; ``node_status`` gives
    every node's status; ``errors`` maps failed (and cancelled by a timeout)
    nodes to their exception; ``timings`` maps each node that started to its
    :class:`NodeTiming`; ``execution_time`` is the whole run in seconds.
    """

    workflow: str
    success: bool
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_status: dict[str, NodeStatus] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    timings: dict[str, NodeTiming] = field(default_factory=dict)
    execution_time: float = 0.0
    started_at: float = 0.0

    def get_output(self, node_id: str, key: str | None = None) -> Any:
        """A node's output dict, or with ``key`` (dotted keys dig in) one value of it."""
        if node_id not in self.outputs:
            status = self.node_status.get(node_id)
            if status is None:
                raise KeyError(
                    f"workflow {self.workflow!r} has no node {node_id!r}; "
                    f"nodes: {sorted(self.node_status)}"
                )
            raise KeyError(f"node {node_id!r} has no output: its status is {status!r}")
        output = self.outputs[node_id]
        if key is None:
            return output
        if key in output:
            return output[key]
        try:
            return dig(output, key)
        except KeyError:
            raise KeyError(
                f"node {node_id!r} has no output {key!r}; its keys: {sorted(output)}"
            ) from None

    @property
    def error(self) -> BaseException | None:
        """The first node error, or None."""
        return next(iter(self.errors.values()), None)

    def describe_errors(self) -> str:
        """Each failed node with its error and traceback, as text."""
        parts = []
        for node_id, exc in self.errors.items():
            text = "".join(traceback.format_exception(exc)).rstrip()
            parts.append(f"node {node_id!r} ({self.node_status.get(node_id)}):\n{text}")
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for status in self.node_status.values():
            counts[status] = counts.get(status, 0) + 1
        return (
            f"WorkflowResult(workflow={self.workflow!r}, success={self.success}, "
            f"nodes={counts}, execution_time={self.execution_time:.4f})"
        )
