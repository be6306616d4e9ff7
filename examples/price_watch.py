"""Ask three shops for a price at once, retry the flaky one, pick the cheapest.

Run it with the command line::

    awaitflow run examples/price_watch.py
    awaitflow run examples/price_watch.py --inputs '{"product": "blender", "latency": 0.05}'

It shows the other way of defining a workflow for ``awaitflow run``: a
``build_*`` function returning a builder, and an ``async def setup(runtime)`` that
registers a function the code nodes call by name (``quote``). The "budget" shop
fails its first call on every run, so its node is retried by its
``RetryPolicy``; every shop call is bounded by a node timeout. With the default
latency the run lasts about 0.6 s, long enough for the live progress display when
stderr is a terminal.
"""

from __future__ import annotations

import asyncio
from typing import Any

from awaitflow import AsyncLocalRuntime, AsyncWorkflowBuilder, RetryPolicy

CATALOGUE = {
    "kettle": {"corner": 41.0, "budget": 36.5, "deluxe": 52.0},
    "blender": {"corner": 79.0, "budget": 82.0, "deluxe": 74.5},
}
SHOPS = ("corner", "budget", "deluxe")


async def setup(runtime: AsyncLocalRuntime) -> None:
    """Register ``quote``, the (simulated) shop service the code nodes call."""
    calls: dict[str, int] = {}

    async def quote(shop: str, product: str, latency: float) -> dict[str, Any]:
        calls[shop] = calls.get(shop, 0) + 1
        await asyncio.sleep(latency)
        if shop == "budget" and calls[shop] == 1:
            raise ConnectionError(f"{shop}: connection reset by peer")
        prices = CATALOGUE.get(product)
        if prices is None:
            raise KeyError(f"no shop sells {product!r}; try one of {sorted(CATALOGUE)}")
        return {"shop": shop, "price": prices[shop], "attempts": calls[shop]}

    runtime.register_function(quote)


def cheapest(corner: dict[str, Any], budget: dict[str, Any], deluxe: dict[str, Any]) -> Any:
    """The cheapest offer, and how far the others are above it."""
    offers = sorted((corner, budget, deluxe), key=lambda offer: offer["price"])
    best = offers[0]
    return {
        "shop": best["shop"],
        "price": best["price"],
        "savings": {o["shop"]: round(o["price"] - best["price"], 2) for o in offers[1:]},
    }


def build_workflow() -> AsyncWorkflowBuilder:
    """Three shop queries in parallel, then the comparison."""
    retry = RetryPolicy(max_attempts=3, backoff=0.05, retry_on=(ConnectionError,))
    builder = AsyncWorkflowBuilder("price_watch").with_parallel_execution().with_timeout(10.0)
    for shop in SHOPS:
        builder.add_async_code(
            shop,
            f"""
            product = inputs.get("product", "kettle")
            latency = inputs.get("latency", 0.25)
            result = await quote({shop!r}, product, latency)
            """,
            retry=retry,
            timeout=2.0,
        )
        builder.add_connection(shop, "result", "cheapest", shop)
    return builder.add_node("cheapest", cheapest)


async def main() -> None:
    """Run once and print the best offer (what ``python price_watch.py`` does)."""
    async with AsyncLocalRuntime() as runtime:
        await setup(runtime)
        result = await runtime.execute(build_workflow(), {"product": "kettle"})
    print(result.get_output("cheapest"))


if __name__ == "__main__":
    asyncio.run(main())
