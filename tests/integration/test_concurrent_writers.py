"""Twenty executions of one workflow writing to one PostgreSQL database at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from awaitflow import AsyncWorkflowBuilder, WorkflowResult
from awaitflow.testing import AsyncWorkflowTestCase, create_test_database

GetResource = Callable[[str], Awaitable[Any]]

WRITERS = 20
ROWS_PER_WRITER = 25
POOL_SIZE = 8

SCHEMA = """
CREATE TABLE events (writer integer NOT NULL, seq integer NOT NULL, PRIMARY KEY (writer, seq));
CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO counters VALUES ('inserted', 0);
"""


async def insert_rows(get_resource: GetResource, writer: int, rows: int) -> dict[str, int]:
    """Insert ``rows`` events of ``writer`` one statement at a time, then bump the counter."""
    pool = await get_resource("db")
    for seq in range(rows):
        await pool.execute("INSERT INTO events (writer, seq) VALUES ($1, $2)", writer, seq)
    await pool.execute("UPDATE counters SET value = value + $1 WHERE name = 'inserted'", rows)
    return {"inserted": rows}


async def count_rows(get_resource: GetResource, writer: int, inserted: int) -> dict[str, int]:
    """Read back how many events of ``writer`` the database holds."""
    pool = await get_resource("db")
    stored = await pool.fetchval("SELECT count(*) FROM events WHERE writer = $1", writer)
    return {"inserted": inserted, "stored": stored}


WRITER_WORKFLOW = (
    AsyncWorkflowBuilder("writer")
    .add_node("insert", insert_rows)
    .add_node("count", count_rows)
    .add_connection("insert", "inserted", "count", "inserted")
    .build()
)


def peak_overlap(results: list[WorkflowResult], node_id: str) -> int:
    """The most executions whose ``node_id`` was running at one same moment."""
    edges = sorted(
        [(r.timings[node_id].start, 1) for r in results]
        + [(r.timings[node_id].end, -1) for r in results]
    )
    running = peak = 0
    for _moment, step in edges:
        running += step
        peak = max(peak, running)
    return peak


class ConcurrentWriters(AsyncWorkflowTestCase):
    """Executions sharing an asyncpg pool resource lose no row and no update."""

    async def test_twenty_concurrent_workflows_lose_no_rows(self, postgres_dsn: str) -> None:
        """20 executions at once insert 25 rows each: all 500 rows and the counter are there."""
        db = await self.create_test_resource(
            "database",
            lambda: create_test_database("postgresql", "writers", postgres_dsn, schema=SCHEMA),
            cleanup=lambda database: database.cleanup(),
        )
        pool = await self.create_test_resource(
            "db",
            lambda: asyncpg.create_pool(db.connection_string, min_size=1, max_size=POOL_SIZE),
            cleanup=lambda pool: pool.close(),
        )

        results = await asyncio.gather(
            *(
                self.execute_workflow(WRITER_WORKFLOW, {"writer": w, "rows": ROWS_PER_WRITER})
                for w in range(WRITERS)
            )
        )

        for result in results:
            self.assert_workflow_success(result)
            self.assert_node_output(
                result, "count", {"inserted": ROWS_PER_WRITER, "stored": ROWS_PER_WRITER}
            )
        per_writer = await pool.fetch(
            "SELECT writer, count(*) AS rows FROM events GROUP BY writer ORDER BY writer"
        )
        assert [(row["writer"], row["rows"]) for row in per_writer] == [
            (w, ROWS_PER_WRITER) for w in range(WRITERS)
        ]
        counter = await pool.fetchval("SELECT value FROM counters WHERE name = 'inserted'")
        assert counter == WRITERS * ROWS_PER_WRITER
        assert self.get_node_execution_count("insert") == WRITERS
        assert peak_overlap(results, "insert") > POOL_SIZE
