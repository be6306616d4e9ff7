"""Resources: lazy creation once per runtime, shared first creation, cleanup order (SPEC 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, ResourceNotFoundError


class Closable:
    """A resource recording how it was released into a shared log."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def close(self) -> None:
        self.log.append(f"close {self.name}")


class AsyncClosable(Closable):
    """A resource with both ``aclose()`` and ``close()``."""

    async def aclose(self) -> None:
        await asyncio.sleep(0)
        self.log.append(f"aclose {self.name}")


def _using(*names: str) -> AsyncWorkflowBuilder:
    """A workflow whose node gets each named resource in turn."""
    code = "\n".join(f"r{i} = await get_resource({n!r})" for i, n in enumerate(names))
    return AsyncWorkflowBuilder("wf").add_async_code("use", code)


@pytest.mark.asyncio
async def test_factory_runs_only_at_the_first_get_resource() -> None:
    """Registering does not create; the first get_resource() does."""
    made: list[int] = []

    def factory() -> str:
        made.append(1)
        return "conn"

    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", factory)
        assert made == []
        result = await runtime.execute(_using("db"))
        assert made == [1]
    assert result.get_output("use", "r0") == "conn"


@pytest.mark.asyncio
async def test_resource_is_created_once_per_runtime() -> None:
    """Every execution on one runtime gets the same resource object."""
    made: list[object] = []

    def factory() -> object:
        made.append(object())
        return made[-1]

    workflow = _using("db", "db").build()
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", factory)
        results = [await runtime.execute(workflow) for _ in range(3)]
    assert len(made) == 1
    assert {id(r.get_output("use", k)) for r in results for k in ("r0", "r1")} == {id(made[0])}


@pytest.mark.asyncio
async def test_each_runtime_has_its_own_resource() -> None:
    """Two runtimes registering the same factory create one resource each."""
    made: list[object] = []

    def factory() -> object:
        made.append(object())
        return made[-1]

    for _ in range(2):
        async with AsyncLocalRuntime() as runtime:
            runtime.register_resource("db", factory)
            await runtime.get_resource("db")
    assert len(made) == 2


@pytest.mark.asyncio
async def test_concurrent_first_calls_share_one_creation() -> None:
    """Ten executions asking at once while the factory is slow get one resource, made once."""
    calls = 0
    release = asyncio.Event()

    async def factory() -> object:
        nonlocal calls
        calls += 1
        await release.wait()
        return object()

    workflow = _using("pool").with_parallel_execution().build()
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("pool", factory)
        runs = [asyncio.create_task(runtime.execute(workflow)) for _ in range(10)]
        while calls == 0:
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*runs)
    assert calls == 1
    assert len({id(r.get_output("use", "r0")) for r in results}) == 1


@pytest.mark.asyncio
async def test_cancelling_the_creator_does_not_cancel_the_other_callers() -> None:
    """An execution waiting on a creation another, cancelled, execution began gets the resource."""
    started, release = asyncio.Event(), asyncio.Event()

    async def factory() -> str:
        started.set()
        await release.wait()
        return "pool"

    workflow = _using("pool").build()
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("pool", factory)
        creator = asyncio.create_task(runtime.execute(workflow))
        await started.wait()
        waiter = asyncio.create_task(runtime.execute(workflow, raise_on_error=False))
        for _ in range(5):
            await asyncio.sleep(0)
        creator.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        release.set()
        result = await asyncio.wait_for(waiter, timeout=5)
        assert creator.cancelled()
    assert result.get_output("use", "r0") == "pool"


@pytest.mark.asyncio
async def test_sync_and_async_factories_both_work() -> None:
    """A factory may be a plain function or an async one."""

    async def make_async() -> str:
        await asyncio.sleep(0)
        return "async made"

    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("a", make_async)
        runtime.register_resource("s", lambda: "sync made")
        result = await runtime.execute(_using("a", "s"))
    assert result.get_output("use") == {"r0": "async made", "r1": "sync made"}


@pytest.mark.asyncio
async def test_get_resource_is_available_on_the_runtime_too() -> None:
    """Tests and function nodes can call runtime.get_resource(name) directly."""
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("cfg", lambda: {"debug": True})
        first = await runtime.get_resource("cfg")
        assert await runtime.get_resource("cfg") is first


@pytest.mark.asyncio
async def test_unknown_resource_lists_the_registered_names() -> None:
    """get_resource of a name never registered raises ResourceNotFoundError, a KeyError."""
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", lambda: 1)
        runtime.register_resource("cache", lambda: 2)
        with pytest.raises(
            ResourceNotFoundError,
            match=r"no resource named 'dbb'; registered resources: 'cache', 'db'",
        ) as info:
            await runtime.execute(_using("dbb"))
    assert isinstance(info.value, KeyError)
    assert (info.value.name, info.value.available) == ("dbb", ["cache", "db"])


@pytest.mark.asyncio
async def test_unknown_resource_with_none_registered_says_so() -> None:
    """With no resource registered the message says ``(none)``."""
    async with AsyncLocalRuntime() as runtime:
        with pytest.raises(ResourceNotFoundError, match=r"registered resources: \(none\)"):
            await runtime.get_resource("db")


@pytest.mark.asyncio
async def test_failed_creation_is_retried_at_the_next_call() -> None:
    """A factory that raised leaves nothing behind; the next get_resource tries again."""
    attempts = 0

    def factory() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionRefusedError("db not ready")
        return "conn"

    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", factory)
        with pytest.raises(ConnectionRefusedError, match="db not ready"):
            await runtime.get_resource("db")
        assert await runtime.get_resource("db") == "conn"
        assert runtime.resources_held == ["db"]


# -- shutdown ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_shutdown_releases_in_reverse_order_of_creation() -> None:
    """Resources are released newest first, whatever the order they were registered in."""
    log: list[str] = []
    runtime = AsyncLocalRuntime()
    for name in ("a", "b", "c"):
        runtime.register_resource(name, lambda name=name: Closable(name, log))  # type: ignore[misc]
    await runtime.execute(_using("b", "c", "a"))
    await runtime.shutdown()
    assert log == ["close a", "close c", "close b"]


@pytest.mark.asyncio
async def test_resources_never_created_are_not_released() -> None:
    """Shutdown releases only the resources that were created."""
    log: list[str] = []
    runtime = AsyncLocalRuntime()
    runtime.register_resource("used", lambda: Closable("used", log))
    runtime.register_resource("unused", lambda: Closable("unused", log))
    await runtime.get_resource("used")
    await runtime.shutdown()
    assert log == ["close used"]


@pytest.mark.asyncio
async def test_cleanup_given_replaces_close() -> None:
    """cleanup(resource) runs instead of the resource's own close methods."""
    log: list[str] = []
    runtime = AsyncLocalRuntime()
    runtime.register_resource(
        "db", lambda: AsyncClosable("db", log), cleanup=lambda r: log.append(f"cleanup {r.name}")
    )
    await runtime.get_resource("db")
    await runtime.shutdown()
    assert log == ["cleanup db"]


@pytest.mark.asyncio
async def test_async_cleanup_is_awaited() -> None:
    """An async cleanup function is awaited."""
    log: list[str] = []

    async def cleanup(resource: Any) -> None:
        await asyncio.sleep(0)
        log.append(f"async cleanup {resource}")

    runtime = AsyncLocalRuntime()
    runtime.register_resource("db", lambda: "conn", cleanup=cleanup)
    await runtime.get_resource("db")
    await runtime.shutdown()
    assert log == ["async cleanup conn"]


@pytest.mark.asyncio
async def test_aclose_is_preferred_to_close() -> None:
    """Without cleanup=, a resource with aclose() is released by it."""
    log: list[str] = []
    runtime = AsyncLocalRuntime()
    runtime.register_resource("db", lambda: AsyncClosable("db", log))
    await runtime.get_resource("db")
    await runtime.shutdown()
    assert log == ["aclose db"]


@pytest.mark.asyncio
async def test_close_is_used_when_there_is_no_aclose() -> None:
    """Without cleanup= or aclose(), close() releases the resource."""
    log: list[str] = []
    runtime = AsyncLocalRuntime()
    runtime.register_resource("db", lambda: Closable("db", log))
    await runtime.get_resource("db")
    await runtime.shutdown()
    assert log == ["close db"]


@pytest.mark.asyncio
async def test_resource_without_close_methods_is_just_dropped() -> None:
    """A plain value needs no release; shutdown forgets it."""
    runtime = AsyncLocalRuntime()
    runtime.register_resource("cfg", lambda: {"a": 1})
    await runtime.get_resource("cfg")
    await runtime.shutdown()
    assert runtime.resources_held == []


@pytest.mark.asyncio
async def test_a_failing_cleanup_does_not_stop_the_others() -> None:
    """Every resource is released even when one cleanup raises; the error is raised after."""
    log: list[str] = []

    def bad_cleanup(resource: Any) -> None:
        raise OSError("socket already closed")

    runtime = AsyncLocalRuntime()
    runtime.register_resource("first", lambda: Closable("first", log))
    runtime.register_resource("broken", lambda: "x", cleanup=bad_cleanup)
    runtime.register_resource("last", lambda: Closable("last", log))
    await runtime.execute(_using("first", "broken", "last"))
    with pytest.raises(OSError, match="socket already closed") as info:
        await runtime.shutdown()
    assert log == ["close last", "close first"]
    assert info.value.__notes__ == ["while releasing resource 'broken'"]
    assert runtime.resources_held == []


@pytest.mark.asyncio
async def test_runtime_as_context_manager_shuts_down_on_exit() -> None:
    """``async with AsyncLocalRuntime() as rt`` releases the resources on exit."""
    log: list[str] = []
    async with AsyncLocalRuntime() as runtime:
        runtime.register_resource("db", lambda: Closable("db", log))
        await runtime.execute(_using("db"))
        assert runtime.resources_held == ["db"]
        assert log == []
    assert log == ["close db"]
    assert runtime.resources_held == []


@pytest.mark.asyncio
async def test_runtime_context_manager_shuts_down_on_error() -> None:
    """Resources are released even when the ``async with`` body raises."""
    log: list[str] = []
    with pytest.raises(RuntimeError, match="test body failed"):
        async with AsyncLocalRuntime() as runtime:
            runtime.register_resource("db", lambda: Closable("db", log))
            await runtime.get_resource("db")
            raise RuntimeError("test body failed")
    assert log == ["close db"]
