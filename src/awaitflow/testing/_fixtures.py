"""AsyncWorkflowFixtures: named constructors of test doubles and throwaway resources."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._cache import MemoryTestCache, RedisTestCache
    from ._mock_http import MockHttpClient

__all__ = ["AsyncWorkflowFixtures"]


class AsyncWorkflowFixtures:
    """Factories for mock services and real, isolated test resources."""

    @staticmethod
    def create_mock_http_client() -> MockHttpClient:
        """A mock HTTP client: queued responses per route, strict matching, recorded calls."""
        from ._mock_http import MockHttpClient

        return MockHttpClient()

    @staticmethod
    async def create_test_cache(
        backend: str = "memory", url: str | None = None
    ) -> MemoryTestCache | RedisTestCache:
        """An async cache that records its calls: ``"memory"`` or a real ``"redis"``."""
        from ._cache import create_test_cache

        return await create_test_cache(backend, url)

    @staticmethod
    async def create_test_database(
        engine: str = "sqlite",
        database: str | None = None,
        dsn: str | None = None,
        *,
        schema: str | None = None,
    ) -> Any:
        """A fresh, isolated database (SQLite file or PostgreSQL database), dropped at cleanup."""
        from ._databases import create_test_database

        return await create_test_database(engine, database, dsn, schema=schema)

    @staticmethod
    def temp_directory() -> AbstractAsyncContextManager[str]:
        """An async context manager yielding a temporary directory, removed afterwards."""
        from ._files import temp_directory

        return temp_directory()

    @staticmethod
    async def create_test_files(directory: str, files: Mapping[str, Any]) -> dict[str, str]:
        """Write ``{relative_path: content}`` under ``directory``; return the absolute paths."""
        from ._files import create_test_files

        return await create_test_files(directory, files)
