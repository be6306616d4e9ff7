"""Call recording for test resources created with ``mock=True``.

A given fake is kept, never replaced: its methods are wrapped in place, on the
instance, so calls are recorded whoever makes them (a workflow or the test).
``unittest.mock`` objects already record their calls and are left alone.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple
from unittest import mock

__all__ = ["ResourceCall", "calls_of", "instrument", "is_mock"]


class ResourceCall(NamedTuple):
    """One recorded call of a test resource's method."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


_RECORD = "_awaitflow_calls"


def is_mock(obj: Any) -> bool:
    """Whether ``obj`` is a ``unittest.mock`` object (which records its own calls)."""
    return isinstance(obj, mock.NonCallableMock)


def _wrap(name: str, method: Any, record: list[ResourceCall]) -> Any:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_recorder(*args: Any, **kwargs: Any) -> Any:
            record.append(ResourceCall(name, args, kwargs))
            return await method(*args, **kwargs)

        return async_recorder

    @functools.wraps(method)
    def recorder(*args: Any, **kwargs: Any) -> Any:
        record.append(ResourceCall(name, args, kwargs))
        return method(*args, **kwargs)

    return recorder


def instrument(resource: Any) -> bool:
    """Record every public method call of ``resource``; False when it cannot be done."""
    if is_mock(resource) or hasattr(resource, _RECORD):
        return True
    record: list[ResourceCall] = []
    try:
        object.__setattr__(resource, _RECORD, record)
    except (AttributeError, TypeError):
        return False
    for name in dir(type(resource)):
        if name.startswith("_"):
            continue
        attribute = inspect.getattr_static(type(resource), name, None)
        if isinstance(attribute, property) or not callable(attribute):
            continue
        if isinstance(attribute, staticmethod | classmethod):
            continue
        bound = getattr(resource, name)
        object.__setattr__(resource, name, _wrap(name, bound, record))
    return True


def calls_of(resource: Any, method: str) -> list[ResourceCall] | None:
    """The recorded calls of ``method`` (a dotted path on mocks), or None if not recorded."""
    if is_mock(resource):
        target = resource
        for part in method.split("."):
            target = getattr(target, part)
        return [ResourceCall(method, tuple(c.args), dict(c.kwargs)) for c in target.call_args_list]
    record: list[ResourceCall] | None = getattr(resource, _RECORD, None)
    if record is None:
        return None
    return [c for c in record if c.method == method]
