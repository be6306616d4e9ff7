"""A test that fails leaves no PostgreSQL database and no Redis key behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis

from awaitflow import AsyncWorkflowBuilder
from awaitflow.testing import (
    AsyncWorkflowTestCase,
    PostgresTestDatabase,
    RedisTestCache,
    create_test_cache,
    create_test_database,
)

GetResource = Callable[[str], Awaitable[Any]]


async def write_and_hang(get_resource: GetResource) -> dict[str, Any]:
    """Write a row and a key, then wait forever inside a transaction, holding a connection."""
    pool = await get_resource("db")
    cache = await get_resource("cache")
    started = await get_resource("started")
    await cache.set("written_by_workflow", True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO items (name) VALUES ('uncommitted')")
        started.set()
        await asyncio.Event().wait()
    return {}


async def boom(get_resource: GetResource) -> dict[str, Any]:
    """Fail once ``write_and_hang`` is in the middle of its transaction."""
    started = await get_resource("started")
    await started.wait()
    raise ValueError("node fails on purpose")


class FailsAfterCreatingResources(AsyncWorkflowTestCase):
    """Test methods that create real resources, use them, then fail on purpose.

    Not collected (they are meant to fail): the tests below run them with ``run_test``.
    """

    __test__ = False

    database: PostgresTestDatabase | None = None
    cache: RedisTestCache | None = None

    async def make_resources(self, postgres_dsn: str, redis_url: str) -> Any:
        """A database with a table and a row, a pool on it, and a cache holding a key."""
        self.database = await self.create_test_resource(
            "database",
            lambda: create_test_database("postgresql", "fails", postgres_dsn),
            cleanup=lambda database: database.cleanup(),
        )
        pool = await self.create_test_resource(
            "db",
            lambda: asyncpg.create_pool(self.database_dsn, min_size=2, max_size=2),
            cleanup=lambda pool: pool.close(),
        )
        self.cache = await self.create_test_resource(
            "cache",
            lambda: create_test_cache("redis", redis_url),
            cleanup=lambda cache: cache.cleanup(),
        )
        await pool.execute("CREATE TABLE items (name text)")
        await pool.execute("INSERT INTO items VALUES ('committed')")
        await self.cache.set("written_by_test", {"rows": 1})
        return pool

    @property
    def database_dsn(self) -> str:
        """The connection string of the test's database."""
        assert self.database is not None
        return self.database.connection_string

    async def test_assertion_fails(self, postgres_dsn: str, redis_url: str) -> None:
        """Fails on an assertion while a pool to the database is open."""
        pool = await self.make_resources(postgres_dsn, redis_url)
        assert await pool.fetchval("SELECT count(*) FROM items") == 2, "fails on purpose"

    async def test_workflow_fails(self, postgres_dsn: str, redis_url: str) -> None:
        """Fails because a node raises while another one holds a connection in a transaction."""
        await self.make_resources(postgres_dsn, redis_url)
        await self.create_test_resource("started", asyncio.Event)
        workflow = (
            AsyncWorkflowBuilder("fails")
            .with_parallel_execution()
            .add_node("write_and_hang", write_and_hang)
            .add_node("boom", boom)
        )
        await self.execute_workflow(workflow)


async def leftovers(case: FailsAfterCreatingResources, postgres_dsn: str, redis_url: str) -> Any:
    """(databases named like the case's, Redis keys under its cache's prefix) on the servers."""
    assert case.database is not None and case.cache is not None, "the case made no resources"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        databases = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname = $1", case.database.name
        )
    finally:
        await admin.close()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(match=case.cache.prefix + "*")]
    finally:
        await client.aclose()
    return [row["datname"] for row in databases], keys


@pytest.mark.asyncio
async def test_failed_assertion_leaves_no_database_and_no_key(
    postgres_dsn: str, redis_url: str
) -> None:
    """A test failing on an assertion still drops its database and deletes its keys."""
    case = FailsAfterCreatingResources("test_assertion_fails")
    with pytest.raises(AssertionError, match="fails on purpose"):
        await case.run_test(postgres_dsn=postgres_dsn, redis_url=redis_url)
    assert case.database is not None and case.database.cleaned_up
    assert case.cache is not None and case.cache.cleaned_up
    assert await leftovers(case, postgres_dsn, redis_url) == ([], [])


@pytest.mark.asyncio
async def test_failed_workflow_leaves_no_database_and_no_key(
    postgres_dsn: str, redis_url: str
) -> None:
    """A test whose workflow fails mid-transaction still drops its database and keys."""
    case = FailsAfterCreatingResources("test_workflow_fails")
    with pytest.raises(ValueError, match="node fails on purpose"):
        await case.run_test(postgres_dsn=postgres_dsn, redis_url=redis_url)
    assert case.database is not None and case.database.cleaned_up
    assert case.cache is not None and case.cache.cleaned_up
    assert await leftovers(case, postgres_dsn, redis_url) == ([], [])
