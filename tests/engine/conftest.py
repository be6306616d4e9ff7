"""Fixtures shared by the engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from awaitflow import AsyncLocalRuntime


@pytest_asyncio.fixture
async def runtime() -> AsyncIterator[AsyncLocalRuntime]:
    """A fresh runtime, shut down after the test."""
    async with AsyncLocalRuntime() as rt:
        yield rt
