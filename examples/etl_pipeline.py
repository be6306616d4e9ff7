"""An ETL workflow over an embedded SQLite database.

Run it with the command line::

    awaitflow run examples/etl_pipeline.py
    awaitflow run examples/etl_pipeline.py --inputs '{"since": "2024-04-01"}' --json
    awaitflow graph examples/etl_pipeline.py

or as a script: ``python examples/etl_pipeline.py``.

The shape of the workflow (``extract`` and ``rates`` run at the same time, then the
three transforms fan out in parallel, and ``load`` joins them)::

    extract ─┐             ┌─► by_region ────┐
             ├─► clean ────┼─► top_products ─┼─► load
    rates ───┘             └─► daily ────────┘

The database is a temporary SQLite file made by the ``db`` resource on first use
and seeded with a few months of sales in three currencies; the runtime closes the
connection and deletes the file when it shuts down. Exchange rates are kept in the
``cache`` resource (a plain dict), so a second execution on the same runtime does
not read them again. ``clean``, ``by_region`` and ``daily`` are code-string nodes;
``extract``, ``rates``, ``top_products`` and ``load`` are ``async def`` functions.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder

GetResource = Callable[[str], Awaitable[Any]]

REGIONS = ("north", "south", "east", "west")
PRODUCTS = {"kettle": 39.0, "toaster": 29.5, "blender": 74.0, "mixer": 119.0, "grill": 89.9}
RATES_TO_EUR = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}


# -- resources --------------------------------------------------------------------------------


@dataclass
class SalesDatabase:
    """An open connection to the temporary sales database, and the file it lives in."""

    connection: aiosqlite.Connection
    path: Path


def _sample_sales() -> list[tuple[Any, ...]]:
    """Six months of sales, the same every run; a few rows are bad on purpose."""
    rng = random.Random(2024)
    rows = []
    for sale_id in range(1, 241):
        product = rng.choice(list(PRODUCTS))
        quantity = rng.randint(1, 6)
        currency = rng.choice(list(RATES_TO_EUR))
        if sale_id % 40 == 0:
            quantity = 0  # a cancelled order
        if sale_id % 55 == 0:
            currency = "CHF"  # no rate known for it
        rows.append(
            (
                sale_id,
                f"2024-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}",
                rng.choice(REGIONS),
                product,
                quantity,
                PRODUCTS[product],
                currency,
            )
        )
    return rows


def _delete(path: Path) -> None:
    path.unlink(missing_ok=True)


async def open_sales_database() -> SalesDatabase:
    """Create a temporary SQLite file with the ``sales`` and ``rates`` tables, filled."""
    handle, name = tempfile.mkstemp(prefix="awaitflow-etl-", suffix=".sqlite3")
    os.close(handle)
    path = Path(name)
    try:
        connection = await aiosqlite.connect(path)
    except BaseException:
        _delete(path)
        raise
    try:
        await connection.executescript(
            """
            CREATE TABLE sales (
                id INTEGER PRIMARY KEY, sold_on TEXT, region TEXT, product TEXT,
                quantity INTEGER, unit_price REAL, currency TEXT
            );
            CREATE TABLE rates (currency TEXT PRIMARY KEY, to_eur REAL);
            CREATE TABLE region_totals (region TEXT PRIMARY KEY, revenue_eur REAL);
            CREATE TABLE product_totals (product TEXT PRIMARY KEY, revenue_eur REAL);
            """
        )
        await connection.executemany(
            "INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?)", _sample_sales()
        )
        await connection.executemany("INSERT INTO rates VALUES (?, ?)", RATES_TO_EUR.items())
        await connection.commit()
    except BaseException:
        await connection.close()
        _delete(path)
        raise
    return SalesDatabase(connection, path)


async def close_sales_database(db: SalesDatabase) -> None:
    """Close the connection and delete the temporary file."""
    try:
        await db.connection.close()
    finally:
        _delete(db.path)


def setup(runtime: AsyncLocalRuntime) -> None:
    """Register the resources this workflow uses; ``awaitflow run`` calls it first."""
    runtime.register_resource("db", open_sales_database, cleanup=close_sales_database)
    runtime.register_resource("cache", dict)


# -- function nodes -----------------------------------------------------------------------


async def extract(get_resource: GetResource, since: str = "2024-01-01") -> dict[str, Any]:
    """Read the sales made on or after ``since`` (a workflow input, ISO date)."""
    db: SalesDatabase = await get_resource("db")
    db.connection.row_factory = aiosqlite.Row
    async with db.connection.execute(
        "SELECT * FROM sales WHERE sold_on >= ? ORDER BY id", (since,)
    ) as cursor:
        rows = [dict(row) for row in await cursor.fetchall()]
    return {"rows": rows, "count": len(rows), "since": since}


async def rates(get_resource: GetResource) -> dict[str, Any]:
    """The exchange rates to EUR, read once and then served from the cache."""
    cache: dict[str, Any] = await get_resource("cache")
    if "rates" in cache:
        return {"rates": cache["rates"], "cached": True}
    db: SalesDatabase = await get_resource("db")
    async with db.connection.execute("SELECT currency, to_eur FROM rates") as cursor:
        table = {currency: to_eur for currency, to_eur in await cursor.fetchall()}
    cache["rates"] = table
    return {"rates": table, "cached": False}


async def top_products(rows: list[dict[str, Any]], limit: int = 3) -> dict[str, Any]:
    """The ``limit`` best-selling products by revenue, and every product's revenue."""
    revenue: dict[str, float] = {}
    for row in rows:
        revenue[row["product"]] = revenue.get(row["product"], 0.0) + row["amount_eur"]
    ranked = sorted(revenue.items(), key=lambda item: item[1], reverse=True)
    return {
        "top": [name for name, _ in ranked[:limit]],
        "revenue": {name: round(value, 2) for name, value in ranked},
    }


async def load(
    get_resource: GetResource,
    region_totals: dict[str, float],
    product_totals: dict[str, float],
    revenue: float,
) -> dict[str, Any]:
    """Write the totals into the database and check they add up to the revenue."""
    db: SalesDatabase = await get_resource("db")
    conn = db.connection
    await conn.execute("DELETE FROM region_totals")
    await conn.execute("DELETE FROM product_totals")
    await conn.executemany("INSERT INTO region_totals VALUES (?, ?)", region_totals.items())
    await conn.executemany("INSERT INTO product_totals VALUES (?, ?)", product_totals.items())
    await conn.commit()
    async with conn.execute(
        "SELECT (SELECT COUNT(*) FROM region_totals) + (SELECT COUNT(*) FROM product_totals), "
        "(SELECT ROUND(SUM(revenue_eur), 2) FROM region_totals)"
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    written, loaded = int(row[0]), float(row[1] or 0.0)
    return {
        "rows_written": written,
        "loaded_revenue": loaded,
        "balanced": abs(loaded - revenue) < 0.01,
    }


# -- the workflow -------------------------------------------------------------------------

workflow = (
    AsyncWorkflowBuilder("etl_pipeline")
    .add_node("extract", extract)
    .add_node("rates", rates)
    .add_async_code(
        "clean",
        """
        kept = []
        for row in rows:
            if row["quantity"] > 0 and row["currency"] in rates:
                amount = row["quantity"] * row["unit_price"] * rates[row["currency"]]
                kept.append({**row, "amount_eur": round(amount, 2)})
        result = {"rows": kept, "kept": len(kept), "rejected": len(rows) - len(kept)}
        """,
    )
    .add_async_code(
        "by_region",
        """
        totals = {}
        for row in rows:
            totals[row["region"]] = totals.get(row["region"], 0.0) + row["amount_eur"]
        result = {"totals": {region: round(v, 2) for region, v in sorted(totals.items())}}
        """,
    )
    .add_node("top_products", top_products)
    .add_async_code(
        "daily",
        """
        per_day = {}
        for row in rows:
            per_day[row["sold_on"]] = per_day.get(row["sold_on"], 0.0) + row["amount_eur"]
        best = max(per_day, key=per_day.get)
        result = {
            "days": len(per_day),
            "best_day": best,
            "best_day_revenue": round(per_day[best], 2),
            "revenue": round(sum(per_day.values()), 2),
        }
        """,
    )
    .add_node("load", load)
    .add_connection("extract", "rows", "clean", "rows")
    .add_connection("rates", "rates", "clean", "rates")
    .add_connection("clean", "rows", "by_region", "rows")
    .add_connection("clean", "rows", "top_products", "rows")
    .add_connection("clean", "rows", "daily", "rows")
    .add_connection("by_region", "totals", "load", "region_totals")
    .add_connection("top_products", "revenue", "load", "product_totals")
    .add_connection("daily", "revenue", "load", "revenue")
    .with_parallel_execution()
    .with_timeout(10.0)
    .build()
)


async def main() -> None:
    """Run the workflow once and print a summary (what ``python etl_pipeline.py`` does)."""
    async with AsyncLocalRuntime() as runtime:
        setup(runtime)
        result = await runtime.execute(workflow)
    print(f"extracted {result.get_output('extract', 'count')} rows")
    print(f"rejected {result.get_output('clean', 'rejected')} bad rows")
    print(f"revenue by region (EUR): {result.get_output('by_region', 'totals')}")
    print(f"top products: {', '.join(result.get_output('top_products', 'top'))}")
    print(f"loaded: {result.get_output('load')}")
    print(f"took {result.execution_time * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
