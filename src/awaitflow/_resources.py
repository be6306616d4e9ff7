"""The resource registry: lazy creation once per runtime, cleanup in reverse order."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._exceptions import ResourceNotFoundError

__all__ = ["ResourceRegistry"]


@dataclass(slots=True)
class _Registration:
    factory: Callable[[], Any]
    cleanup: Callable[[Any], Any] | None


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def release(resource: Any, cleanup: Callable[[Any], Any] | None) -> None:
    """Clean ``resource`` up: ``cleanup(resource)``, else its ``aclose()`` or ``close()``."""
    if cleanup is not None:
        await _maybe_await(cleanup(resource))
        return
    for name in ("aclose", "close"):
        method = getattr(type(resource), name, None)
        if method is not None and callable(method):
            await _maybe_await(getattr(resource, name)())
            return


class ResourceRegistry:
    """Named resources made on first use and released in reverse order of creation."""

    def __init__(self) -> None:
        self._registrations: dict[str, _Registration] = {}
        self._created: dict[str, Any] = {}
        self._creating: dict[str, asyncio.Future[Any]] = {}
        self._order: list[str] = []
        self.fallback: Callable[[str], bool] | None = None

    def register(
        self, name: str, factory: Callable[[], Any], cleanup: Callable[[Any], Any] | None = None
    ) -> None:
        """Register ``factory`` under ``name``; a second registration replaces the first."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a resource name must be a non-empty str, got {name!r}")
        if not callable(factory):
            raise TypeError(f"resource {name!r}: factory must be callable, got {factory!r}")
        self._registrations[name] = _Registration(factory, cleanup)
        self._created.pop(name, None)

    def provide(
        self, name: str, resource: Any, cleanup: Callable[[Any], Any] | None = None
    ) -> None:
        """Register an already created resource; it counts as created now."""
        self._registrations[name] = _Registration(lambda: resource, cleanup)
        self._created[name] = resource
        if name in self._order:
            self._order.remove(name)
        self._order.append(name)

    @property
    def names(self) -> list[str]:
        """The registered names."""
        return list(self._registrations)

    @property
    def created(self) -> list[str]:
        """The names of resources created so far, in order of creation."""
        return list(self._order)

    def is_created(self, name: str) -> bool:
        """Whether resource ``name`` exists now."""
        return name in self._created

    async def get(self, name: str) -> tuple[Any, bool]:
        """The resource ``name`` and whether this call created it."""
        if name in self._created:
            return self._created[name], False
        while (pending := self._creating.get(name)) is not None:
            try:
                return await asyncio.shield(pending), False
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # the creator was cancelled, not us: try again, maybe as the creator
        registration = self._registrations.get(name)
        if registration is None and self.fallback is not None and self.fallback(name):
            registration = self._registrations.get(name)
            if name in self._created:
                return self._created[name], False
        if registration is None:
            raise ResourceNotFoundError(name, self._registrations)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._creating[name] = future
        try:
            resource = await _maybe_await(registration.factory())
        except asyncio.CancelledError:
            future.cancel()  # waiters start a creation of their own
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # a failed creation is reported to its own caller only
            raise
        finally:
            del self._creating[name]
        self._created[name] = resource
        self._order.append(name)
        future.set_result(resource)
        return resource, True

    async def release_all(self) -> list[tuple[str, BaseException | None]]:
        """Release every created resource, newest first; return (name, error or None) pairs."""
        outcomes: list[tuple[str, BaseException | None]] = []
        while self._order:
            name = self._order.pop()
            resource = self._created.pop(name)
            registration = self._registrations.get(name)
            try:
                await release(resource, registration.cleanup if registration else None)
            except Exception as exc:
                outcomes.append((name, exc))
            else:
                outcomes.append((name, None))
        return outcomes
