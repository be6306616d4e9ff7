"""Real PostgreSQL and Redis round trips inside workflows running on a virtual clock.

A request in flight holds the clock, so a real query keeps its real duration under
a node timeout, while a sibling node's long sleep still completes at once.
"""

from __future__ import annotations

import time
import uuid

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder
from awaitflow.testing import VirtualClock

CONNECT_TIMEOUT = 5.0
REAL_BUDGET = 2.0  # connecting plus a 0.2 s query; far below the 100 s slept virtually


def use_postgres(runtime: AsyncLocalRuntime, dsn: str) -> None:
    """Register the resource ``db``: an asyncpg connection, closed at shutdown."""

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)

    runtime.register_resource("db", connect)


_QUERY = """
db = await get_resource("db")
started = time.monotonic()
await db.fetchval(f"SELECT pg_sleep({seconds})")
query_seconds = time.monotonic() - started
"""


@pytest.mark.asyncio
async def test_a_real_query_under_a_node_timeout_succeeds_while_a_sibling_sleeps_virtually(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime, postgres_dsn: str
) -> None:
    """pg_sleep(0.2) under timeout=1 succeeds in its real time; a 100 s sibling ends at once."""
    use_postgres(awaitflow_runtime, postgres_dsn)
    workflow = (
        AsyncWorkflowBuilder("report")
        .add_async_code("query", _QUERY, timeout=1)
        .add_async_code("nap", "await asyncio.sleep(100)")
        .with_parallel_execution()
    )
    real = time.perf_counter()
    result = await awaitflow_runtime.execute(workflow, parameters={"query": {"seconds": 0.2}})
    assert result.node_status == {"query": "completed", "nap": "completed"}
    assert 0.2 <= result.get_output("query", "query_seconds") < 1
    assert result.timings["nap"].duration == 100.0
    assert time.perf_counter() - real < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_node_timeout_still_fires_on_a_real_query_that_hangs(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime, postgres_dsn: str
) -> None:
    """pg_sleep(3) under timeout=0.3 times out after about 0.3 real seconds, not at once."""
    use_postgres(awaitflow_runtime, postgres_dsn)
    workflow = AsyncWorkflowBuilder("report").add_async_code("query", _QUERY, timeout=0.3)
    await awaitflow_runtime.get_resource("db")  # connect first: time only the query
    real = time.perf_counter()
    with pytest.raises(
        TimeoutError, match=r"^node 'query' of workflow 'report' timed out after 0.3s"
    ):
        await awaitflow_runtime.execute(workflow, parameters={"query": {"seconds": 3}})
    assert 0.3 <= time.perf_counter() - real < REAL_BUDGET


@pytest.mark.asyncio
async def test_a_redis_round_trip_in_a_node_works_while_a_sibling_sleeps_virtually(
    virtual_clock: VirtualClock, awaitflow_runtime: AsyncLocalRuntime, redis_url: str
) -> None:
    """A node's SET/GET/DELETE on a real Redis returns the value; a 100 s sibling ends at once."""
    awaitflow_runtime.register_resource("redis", lambda: aioredis.Redis.from_url(redis_url))
    key = f"awaitflow-test:{uuid.uuid4().hex}"
    workflow = (
        AsyncWorkflowBuilder("session_store")
        .add_async_code(
            "round_trip",
            """
            client = await get_resource("redis")
            await client.set(key, "pong", ex=60)
            value = await client.get(key)
            result = {"value": value.decode(), "removed": await client.delete(key)}
            """,
            timeout=1,
        )
        .add_async_code("nap", "await asyncio.sleep(100)")
        .with_parallel_execution()
    )
    real = time.perf_counter()
    result = await awaitflow_runtime.execute(workflow, {"key": key})
    assert result.get_output("round_trip") == {"value": "pong", "removed": 1}
    assert result.timings["nap"].duration == 100.0
    assert time.perf_counter() - real < REAL_BUDGET
