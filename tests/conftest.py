"""Fixtures shared by the test suite: the real PostgreSQL and Redis servers it uses.

Both fixtures are synchronous, so the test methods of ``AsyncWorkflowTestCase``
subclasses (which run in their own event loop) can ask for them too. Each probes
its server once per session and skips the tests that need it when it does not
answer, with a reason that says so.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from awaitflow.testing._cache import DEFAULT_REDIS_URL, REDIS_URL_ENV
from awaitflow.testing._databases import DEFAULT_POSTGRES_DSN, POSTGRES_DSN_ENV

PROBE_TIMEOUT = 5.0


def _address(url: str) -> str:
    """``host:port`` of a server URL (never its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The DSN of the PostgreSQL server the library uses; skips when it does not answer."""
    dsn = os.environ.get(POSTGRES_DSN_ENV) or DEFAULT_POSTGRES_DSN

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        pytest.skip(f"the PostgreSQL server at {_address(dsn)} is unreachable: {exc!r}")
    return dsn


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the Redis server the library uses; skips when it does not answer."""
    url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL

    async def probe() -> None:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except AuthenticationError:
        raise  # the server answered: a wrong password is a failure, not a reason to skip
    except (OSError, RedisConnectionError, RedisTimeoutError) as exc:
        pytest.skip(f"the Redis server at {_address(url)} is unreachable: {exc!r}")
    return url
