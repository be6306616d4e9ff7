"""An ETL workflow on a real SQLite test database, through aiosqlite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import pytest

from awaitflow import AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowTestCase, SqliteTestDatabase, create_test_database

GetResource = Callable[[str], Awaitable[Any]]

ORDERS = 20_000

SCHEMA = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE customer_totals (
    customer TEXT PRIMARY KEY,
    orders INTEGER NOT NULL,
    total_cents INTEGER NOT NULL
);
"""

FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO orders (id, customer, amount_cents, status)
SELECT i, 'customer_' || (i % 37), 100 + (i * 7919) % 5000,
       CASE WHEN i % 4 = 0 THEN 'refunded' ELSE 'paid' END
FROM n
"""


async def extract(get_resource: GetResource) -> dict[str, Any]:
    """The paid orders, as ``[customer, amount_cents]`` pairs."""
    conn = await get_resource("db")
    async with conn.execute(
        "SELECT customer, amount_cents FROM orders WHERE status = 'paid' ORDER BY id"
    ) as cursor:
        rows = await cursor.fetchall()
    return {"orders": [[customer, amount] for customer, amount in rows]}


async def transform(orders: list[list[Any]]) -> dict[str, Any]:
    """Per customer: how many paid orders and their total."""
    totals: dict[str, list[int]] = {}
    for customer, amount in orders:
        entry = totals.setdefault(customer, [0, 0])
        entry[0] += 1
        entry[1] += amount
    return {"totals": totals}


async def load(get_resource: GetResource, totals: dict[str, list[int]]) -> dict[str, int]:
    """Write the per-customer totals; return how many rows were written."""
    conn = await get_resource("db")
    await conn.executemany(
        "INSERT INTO customer_totals (customer, orders, total_cents) VALUES (?, ?, ?)",
        [(customer, count, total) for customer, (count, total) in totals.items()],
    )
    await conn.commit()
    return {"loaded": len(totals)}


SQLITE_ETL = (
    AsyncWorkflowBuilder("sqlite_etl")
    .add_node("extract", extract)
    .add_node("transform", transform)
    .add_node("load", load)
    .add_connection("extract", "orders", "transform", "orders")
    .add_connection("transform", "totals", "load", "totals")
    .build()
)


class SqliteEtl(AsyncWorkflowTestCase):
    """Extract paid orders, total them per customer, load the totals, all in SQLite."""

    async def test_etl_totals_match_sql(self) -> None:
        """Every customer's loaded total equals what SQL computes from the orders."""
        db: SqliteTestDatabase = await self.create_test_resource(
            "database",
            lambda: create_test_database("sqlite", "orders", schema=SCHEMA),
            cleanup=lambda database: database.cleanup(),
        )
        conn = await self.create_test_resource(
            "db", lambda: aiosqlite.connect(db.path), cleanup=lambda conn: conn.close()
        )
        await conn.execute(FILL, (ORDERS,))
        await conn.commit()

        result = await self.execute_workflow(SQLITE_ETL)

        self.assert_workflow_success(result)
        self.assert_node_output(result, "load", 37, "loaded")
        async with conn.execute(
            "SELECT customer, count(*), sum(amount_cents) FROM orders "
            "WHERE status = 'paid' GROUP BY customer ORDER BY customer"
        ) as cursor:
            expected = [tuple(row) for row in await cursor.fetchall()]
        async with conn.execute(
            "SELECT customer, orders, total_cents FROM customer_totals ORDER BY customer"
        ) as cursor:
            loaded = [tuple(row) for row in await cursor.fetchall()]
        assert loaded == expected
        assert sum(count for _, count, _ in loaded) == ORDERS * 3 // 4


class ProbeSqliteFile(AsyncWorkflowTestCase):
    """Makes a SQLite test database as a test resource and notes where its file is."""

    __test__ = False

    path: Any = None
    existed = False

    async def test_make_database(self) -> None:
        """Create the database and its schema; note the file's path."""
        db = await self.create_test_resource(
            "database",
            lambda: create_test_database("sqlite", schema=SCHEMA),
            cleanup=lambda database: database.cleanup(),
        )
        self.path = db.path
        self.existed = db.path.exists()


@pytest.mark.asyncio
async def test_database_file_is_removed_after_the_test() -> None:
    """The test database's file exists during the test; tearDown removes it."""
    probe = ProbeSqliteFile()
    await probe.run_test("test_make_database")
    assert probe.path is not None and probe.existed
    assert not probe.path.exists()
