"""An ETL workflow on the real servers: PostgreSQL in and out, Redis in between.

100,000 sales rows are extracted from one table in batches that run in parallel,
transformed, aggregated per category into a Redis test cache and loaded into a
second table; the test checks every count and sum against SQL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from awaitflow import AsyncWorkflowBuilder, WorkflowResult
from awaitflow.testing import (
    AsyncWorkflowTestCase,
    RedisTestCache,
    assert_max_concurrency,
    create_test_cache,
    create_test_database,
)

GetResource = Callable[[str], Awaitable[Any]]

ROWS = 100_000
BATCHES = 10
MAX_CONCURRENCY = 4
TIME_LIMIT = 10.0

SCHEMA = """
CREATE TABLE sales (
    id integer PRIMARY KEY,
    category text NOT NULL,
    unit_cents integer NOT NULL,
    quantity integer NOT NULL
);
CREATE TABLE sales_fact (
    id integer PRIMARY KEY,
    category text NOT NULL,
    total_cents bigint NOT NULL,
    batch integer NOT NULL
);
"""

FILL = """
INSERT INTO sales (id, category, unit_cents, quantity)
SELECT g, 'cat_' || (g % 12), 100 + (g * 7919) % 9900, 1 + g % 5
FROM generate_series(1, $1::integer) AS g
"""


async def plan(get_resource: GetResource) -> dict[str, Any]:
    """Split the id range of ``sales`` into ``BATCHES`` contiguous batches."""
    pool = await get_resource("db")
    first, last = await pool.fetchrow("SELECT min(id), max(id) FROM sales")
    size = -(-(last - first + 1) // BATCHES)
    return {
        f"b{i}": {"first": first + i * size, "last": min(last, first + (i + 1) * size - 1)}
        for i in range(BATCHES)
    }


def batch_node(index: int) -> Callable[..., Awaitable[dict[str, int]]]:
    """The node that extracts, transforms, caches and loads batch ``index``."""

    async def run_batch(get_resource: GetResource, bounds: dict[str, int]) -> dict[str, int]:
        pool = await get_resource("db")
        cache = await get_resource("cache")
        rows = await pool.fetch(
            "SELECT id, category, unit_cents, quantity FROM sales WHERE id BETWEEN $1 AND $2",
            bounds["first"],
            bounds["last"],
        )
        records = [
            (row["id"], row["category"].upper(), row["unit_cents"] * row["quantity"], index)
            for row in rows
        ]
        per_category: dict[str, list[int]] = {}
        for _id, category, total, _batch in records:
            count_and_total = per_category.setdefault(category, [0, 0])
            count_and_total[0] += 1
            count_and_total[1] += total
        await cache.set(f"batch:{index}", per_category)
        await pool.copy_records_to_table(
            "sales_fact", records=records, columns=["id", "category", "total_cents", "batch"]
        )
        return {"rows": len(records), "total": sum(record[2] for record in records)}

    return run_batch


async def merge(get_resource: GetResource, **batches: dict[str, int]) -> dict[str, Any]:
    """Combine the cached batch aggregates into per-category aggregates, cached too."""
    cache = await get_resource("cache")
    categories: dict[str, dict[str, int]] = {}
    for index in range(BATCHES):
        for category, (count, total) in (await cache.get(f"batch:{index}")).items():
            merged = categories.setdefault(category, {"rows": 0, "total": 0})
            merged["rows"] += count
            merged["total"] += total
    for category, merged in categories.items():
        await cache.set(f"category:{category}", merged)
    return {
        "rows": sum(batch["rows"] for batch in batches.values()),
        "total": sum(batch["total"] for batch in batches.values()),
        "categories": len(categories),
    }


def etl_workflow() -> AsyncWorkflowBuilder:
    """plan -> BATCHES parallel batch nodes -> merge."""
    builder = (
        AsyncWorkflowBuilder("sales_etl")
        .with_parallel_execution(max_concurrency=MAX_CONCURRENCY)
        .add_node("plan", plan)
    )
    for i in range(BATCHES):
        builder.add_node(f"batch_{i}", batch_node(i))
        builder.add_connection("plan", f"b{i}", f"batch_{i}", "bounds")
    builder.add_node("merge", merge)
    for i in range(BATCHES):
        builder.add_connection(f"batch_{i}", "result", "merge", f"batch_{i}")
    return builder


def peak_concurrency(result: WorkflowResult, node_ids: list[str]) -> int:
    """The most of ``node_ids`` that were running at one same moment."""
    edges = sorted(
        [(result.timings[n].start, 1) for n in node_ids]
        + [(result.timings[n].end, -1) for n in node_ids]
    )
    running = peak = 0
    for _moment, step in edges:
        running += step
        peak = max(peak, running)
    return peak


class PostgresRedisEtl(AsyncWorkflowTestCase):
    """Extract from PostgreSQL, transform, cache in Redis, load into PostgreSQL."""

    async def make_resources(self, postgres_dsn: str, redis_url: str) -> tuple[Any, RedisTestCache]:
        """A test database holding ``ROWS`` sales, a pool on it as "db", a Redis "cache"."""
        db = await self.create_test_resource(
            "database",
            lambda: create_test_database("postgresql", "etl", postgres_dsn, schema=SCHEMA),
            cleanup=lambda database: database.cleanup(),
        )
        pool = await self.create_test_resource(
            "db",
            lambda: asyncpg.create_pool(db.connection_string, min_size=1, max_size=MAX_CONCURRENCY),
            cleanup=lambda pool: pool.close(),
        )
        cache: RedisTestCache = await self.create_test_resource(
            "cache",
            lambda: create_test_cache("redis", redis_url),
            cleanup=lambda cache: cache.cleanup(),
        )
        await pool.execute(FILL, ROWS)
        return pool, cache

    async def test_etl_moves_every_row_and_caches_true_aggregates(
        self, postgres_dsn: str, redis_url: str
    ) -> None:
        """100,000 rows land in the target with the same sums; cached aggregates match SQL."""
        pool, cache = await self.make_resources(postgres_dsn, redis_url)
        started = time.perf_counter()
        async with self.assert_time_limit(TIME_LIMIT):
            result = await self.execute_workflow(etl_workflow())
        elapsed = time.perf_counter() - started
        self.assert_workflow_success(result)

        source = await pool.fetchrow(
            "SELECT count(*) AS rows, sum(unit_cents::bigint * quantity) AS total FROM sales"
        )
        target = await pool.fetchrow(
            "SELECT count(*) AS rows, sum(total_cents) AS total FROM sales_fact"
        )
        assert source["rows"] == target["rows"] == ROWS
        assert source["total"] == target["total"]
        self.assert_node_output(result, "merge", ROWS, "rows")
        self.assert_node_output(result, "merge", int(source["total"]), "total")
        row_for_row = await pool.fetchval(
            "SELECT count(*) FROM sales s JOIN sales_fact f USING (id) "
            "WHERE f.total_cents = s.unit_cents::bigint * s.quantity "
            "AND f.category = upper(s.category)"
        )
        assert row_for_row == ROWS

        expected = {
            row["category"]: {"rows": row["rows"], "total": int(row["total"])}
            for row in await pool.fetch(
                "SELECT upper(category) AS category, count(*) AS rows, "
                "sum(unit_cents::bigint * quantity) AS total FROM sales GROUP BY 1"
            )
        }
        cached = {category: await cache.get(f"category:{category}") for category in expected}
        assert cached == expected
        assert await cache.keys() == sorted(
            [f"batch:{i}" for i in range(BATCHES)] + [f"category:{c}" for c in expected]
        )
        batch_nodes = [f"batch_{i}" for i in range(BATCHES)]
        assert_max_concurrency(result, MAX_CONCURRENCY)
        assert peak_concurrency(result, batch_nodes) >= 2
        assert elapsed < TIME_LIMIT
