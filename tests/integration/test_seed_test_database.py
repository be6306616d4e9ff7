"""Seed 000, "Test Database": the example as written, on the real PostgreSQL server."""

from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from awaitflow import AsyncWorkflowBuilder
from awaitflow.testing import AsyncWorkflowFixtures, AsyncWorkflowTestCase

INSERT_AND_SELECT = """
db = await get_resource("db")
for name in names:
    await db.execute("INSERT INTO users (name) VALUES ($1)", name)
rows = await db.fetch("SELECT id, name FROM users ORDER BY id")
result = {"users": [dict(row) for row in rows]}
"""


class SeedTestDatabase(AsyncWorkflowTestCase):
    """The seed's PostgreSQL test database, used by a workflow through ``get_resource``."""

    async def test_workflow_inserts_and_selects_users(self, postgres_dsn: str) -> None:
        """A workflow inserts users through the ``db`` resource and selects them back."""
        # PostgreSQL
        db = await AsyncWorkflowFixtures.create_test_database(
            engine="postgresql", database="test_db"
        )
        try:
            conn = await asyncpg.connect(db.connection_string)
            try:
                await conn.execute("CREATE TABLE users (id SERIAL, name TEXT)")
                await self.create_test_resource("db", lambda: conn)
                # ... run tests
                workflow = AsyncWorkflowBuilder("users").add_async_code("store", INSERT_AND_SELECT)
                result = await self.execute_workflow(workflow, {"names": ["Ada", "Grace"]})
                self.assert_workflow_success(result)
                self.assert_node_output(
                    result,
                    "store",
                    [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}],
                    "users",
                )
                assert await conn.fetchval("SELECT count(*) FROM users") == 2
            finally:
                await conn.close()
        finally:
            await db.cleanup()
        assert db.name.startswith("aftest_test_db_")
        admin: Any = await asyncpg.connect(postgres_dsn)
        try:
            remaining = await admin.fetchval(
                "SELECT count(*) FROM pg_database WHERE datname = $1", db.name
            )
        finally:
            await admin.close()
        assert remaining == 0


@pytest.mark.asyncio
async def test_seed_example_runs_under_async_with(postgres_dsn: str) -> None:
    """The seed example also runs in ``async with SeedTestDatabase() as test``."""
    test = SeedTestDatabase()
    async with test:
        await test.test_workflow_inserts_and_selects_users(postgres_dsn)
