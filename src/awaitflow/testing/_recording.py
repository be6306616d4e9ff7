"""Call recording for test resources created with ``mock=True``.

A given fake is kept, never replaced: its methods are wrapped in place, on the
instance, so calls are recorded whoever makes them (a workflow or the test).
``unittest.mock`` objects already record their calls and are left alone.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections import Counter
from typing import Any, NamedTuple
from unittest import mock

__all__ = ["ResourceCall", "calls_of", "describe_calls", "instrument", "is_mock"]


class ResourceCall(NamedTuple):
    """One recorded call of a test resource's method."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


_RECORD = "_awaitflow_calls"
# Only real routines are wrapped: a nested class, a property or a cached_property
# on the type is an attribute, not a method to record.
_ROUTINES = (types.FunctionType, types.MethodDescriptorType, types.BuiltinFunctionType)


def is_mock(obj: Any) -> bool:
    """Whether ``obj`` is a ``unittest.mock`` object (which records its own calls)."""
    return isinstance(obj, mock.NonCallableMock)


def _record_of(resource: Any) -> list[ResourceCall] | None:
    try:
        record: list[ResourceCall] = object.__getattribute__(resource, _RECORD)
    except AttributeError:
        return None
    return record


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
    """Record every public method call of ``resource``; False when it cannot be done.

    Mocks are left as they are (they record their own calls). Anything else needs
    a ``__dict__``: each public method of its type is wrapped on the instance.
    Instrumenting twice is harmless.
    """
    if is_mock(resource) or _record_of(resource) is not None:
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
        if not isinstance(attribute, _ROUTINES):
            continue
        bound = getattr(resource, name)
        if callable(bound):
            object.__setattr__(resource, name, _wrap(name, bound, record))
    return True


def calls_of(resource: Any, method: str) -> list[ResourceCall] | None:
    """The recorded calls of ``method`` (a dotted path on mocks), or None if not recorded."""
    if is_mock(resource):
        target = resource
        for part in method.split("."):
            target = getattr(target, part)
        return [ResourceCall(method, tuple(c.args), dict(c.kwargs)) for c in target.call_args_list]
    record = _record_of(resource)
    if record is None:
        return None
    return [c for c in record if c.method == method]


def describe_calls(resource: Any) -> str:
    """Every recorded call of ``resource``, summed up per method (``fetch x2, insert x1``)."""
    if is_mock(resource):
        names = [name for name, _args, _kwargs in resource.mock_calls if name]
    else:
        names = [c.method for c in _record_of(resource) or []]
    if not names:
        return "no calls"
    return ", ".join(f"{name} x{count}" for name, count in Counter(names).items())
