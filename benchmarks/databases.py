"""How long a fresh test database takes: template clone vs. running the schema each time.

Run ``python benchmarks/databases.py [--repetitions N] [--tables T] [--dsn DSN]``.
For PostgreSQL and SQLite it measures, N times each, creating and then
dropping a test database that holds a T-table schema, in two ways:

- clone: ``create_test_database(..., schema=SCHEMA)``, which copies a template
  built once (``CREATE DATABASE … TEMPLATE`` / a file copy);
- fresh: ``create_test_database(...)`` of an empty database, then the schema run in it
  (for SQLite with ``PRAGMA synchronous = OFF``, as the template build runs it).

and prints the medians. The template is built before the timed runs (its build
time is shown on its own line); PostgreSQL keeps it on the server for later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

from awaitflow.testing._databases import (
    BaseTestDatabase,
    PostgresTestDatabase,
    ServerUnavailableError,
    SqliteTestDatabase,
    create_test_database,
)

TARGET_POSTGRES_CLONE = 0.150


def make_schema(tables: int, dialect: str) -> str:
    """``tables`` related tables, each with an index: a plausible application schema."""
    key = "serial PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY"
    stamp = "timestamptz DEFAULT now()" if dialect == "postgresql" else "TEXT"
    statements = [f"-- awaitflow benchmark schema, {tables} tables"]
    for i in range(tables):
        parent = f", parent_id integer REFERENCES table_{i - 1} (id)" if i else ""
        statements.append(
            f"CREATE TABLE table_{i} (id {key}, name text NOT NULL, amount numeric(12, 2), "
            f"payload text, created {stamp}{parent});\n"
            f"CREATE INDEX table_{i}_name ON table_{i} (name);"
        )
    return "\n".join(statements)


@dataclass
class Timing:
    """Seconds spent creating and dropping, one entry per repetition."""

    create: list[float]
    drop: list[float]

    def total(self) -> list[float]:
        """Create plus drop, per repetition."""
        return [c + d for c, d in zip(self.create, self.drop, strict=True)]


async def measure(
    repetitions: int,
    create: Callable[[], Awaitable[BaseTestDatabase]],
) -> Timing:
    """Time ``create()`` and the database's ``cleanup()``, ``repetitions`` times."""
    timing = Timing([], [])
    for _ in range(repetitions):
        started = time.perf_counter()
        database = await create()
        created = time.perf_counter()
        await database.cleanup()
        timing.create.append(created - started)
        timing.drop.append(time.perf_counter() - created)
    return timing


async def postgres_rows(repetitions: int, tables: int, dsn: str | None) -> list[tuple[str, Timing]]:
    """Clone and fresh timings on the PostgreSQL server."""
    schema = make_schema(tables, "postgresql")

    async def clone() -> BaseTestDatabase:
        return await create_test_database("postgresql", "bench", dsn, schema=schema)

    async def fresh() -> BaseTestDatabase:
        database: PostgresTestDatabase = await create_test_database("postgresql", "bench", dsn)
        conn = await asyncpg.connect(database.connection_string)
        try:
            await conn.execute(schema)
        finally:
            await conn.close()
        return database

    first = await measure(1, clone)  # builds the template unless the server already has it
    return [
        ("first clone (template build if absent)", first),
        ("clone of the template", await measure(repetitions, clone)),
        ("fresh database + schema", await measure(repetitions, fresh)),
    ]


async def sqlite_rows(repetitions: int, tables: int) -> list[tuple[str, Timing]]:
    """Clone and fresh timings for SQLite files."""
    schema = make_schema(tables, "sqlite")

    async def clone() -> BaseTestDatabase:
        return await create_test_database("sqlite", "bench", schema=schema)

    async def fresh() -> BaseTestDatabase:
        database: SqliteTestDatabase = await create_test_database("sqlite", "bench")
        conn = sqlite3.connect(database.path)
        try:
            conn.execute("PRAGMA synchronous = OFF")  # as the template build does: a fair race
            conn.executescript(schema)
        finally:
            conn.close()
        return database

    first = await measure(1, clone)
    return [
        ("first clone (template build)", first),
        ("clone of the template (file copy)", await measure(repetitions, clone)),
        ("fresh database + schema", await measure(repetitions, fresh)),
    ]


def print_table(title: str, rows: list[tuple[str, Timing]]) -> None:
    """Medians in milliseconds, and how many times faster than the fresh schema."""
    fresh_total = statistics.median(rows[-1][1].total())
    print(f"\n{title}")
    header = f"  {'method':<40} {'create':>9} {'drop':>9} {'total':>9} {'vs fresh':>9}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for label, timing in rows:
        create, drop, total = (
            statistics.median(values) * 1000
            for values in (timing.create, timing.drop, timing.total())
        )
        ratio = fresh_total * 1000 / total if total else float("inf")
        print(f"  {label:<40} {create:>7.1f}ms {drop:>7.1f}ms {total:>7.1f}ms {ratio:>8.1f}x")


async def main() -> int:
    """Run the benchmark; exit status 1 when the PostgreSQL clone misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", "-n", type=int, default=15, help="timed runs per row")
    parser.add_argument("--tables", type=int, default=20, help="tables in the schema")
    parser.add_argument("--dsn", default=None, help="PostgreSQL server (AWAITFLOW_POSTGRES_DSN)")
    args = parser.parse_args()
    if args.repetitions < 1 or args.tables < 1:
        parser.error("--repetitions and --tables must be at least 1")
    print(f"median of {args.repetitions} runs, schema of {args.tables} tables with an index each")

    status = 0
    try:
        rows = await postgres_rows(args.repetitions, args.tables, args.dsn)
    except ServerUnavailableError as exc:
        print(f"\nPostgreSQL: skipped, {exc}")
    else:
        print_table("PostgreSQL (create_test_database('postgresql'), then cleanup())", rows)
        clone = statistics.median(rows[1][1].total())
        verdict = "met" if clone < TARGET_POSTGRES_CLONE else "MISSED"
        print(
            f"  target: clone + drop under {TARGET_POSTGRES_CLONE * 1000:.0f}ms median: {verdict}"
        )
        status = 0 if clone < TARGET_POSTGRES_CLONE else 1
    print_table(
        "SQLite (create_test_database('sqlite'), then cleanup())",
        await sqlite_rows(args.repetitions, args.tables),
    )
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
