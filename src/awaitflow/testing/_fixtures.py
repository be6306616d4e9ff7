"""AsyncWorkflowFixtures: named constructors of test doubles and throwaway resources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from ._cache import BaseTestCache, MemoryTestCache, RedisTestCache
    from ._databases import BaseTestDatabase, PostgresTestDatabase, SqliteTestDatabase
    from ._mock_http import MockHttpClient

__all__ = ["AsyncWorkflowFixtures"]


class AsyncWorkflowFixtures:
    """Factories for mock services and real, isolated test resources."""

    @staticmethod
    def create_mock_http_client() -> MockHttpClient:
        """A mock HTTP client: queued responses per route, strict matching, recorded calls."""
        from ._mock_http import MockHttpClient

        return MockHttpClient()

    @overload
    @staticmethod
    async def create_test_cache(
        backend: Literal["memory"] = "memory", url: None = None
    ) -> MemoryTestCache: ...

    @overload
    @staticmethod
    async def create_test_cache(
        backend: Literal["redis"], url: str | None = None
    ) -> RedisTestCache: ...

    @overload
    @staticmethod
    async def create_test_cache(backend: str, url: str | None = None) -> BaseTestCache: ...

    @staticmethod
    async def create_test_cache(backend: str = "memory", url: str | None = None) -> BaseTestCache:
        """An async cache that records its calls: ``"memory"`` or a real ``"redis"``."""
        from ._cache import create_test_cache

        return await create_test_cache(backend, url)

    @overload
    @staticmethod
    async def create_test_database(
        engine: Literal["sqlite"] = "sqlite",
        database: str | None = None,
        dsn: None = None,
        *,
        schema: str | os.PathLike[str] | None = None,
    ) -> SqliteTestDatabase: ...

    @overload
    @staticmethod
    async def create_test_database(
        engine: Literal["postgresql"],
        database: str | None = None,
        dsn: str | None = None,
        *,
        schema: str | os.PathLike[str] | None = None,
    ) -> PostgresTestDatabase: ...

    @overload
    @staticmethod
    async def create_test_database(
        engine: str,
        database: str | None = None,
        dsn: str | None = None,
        *,
        schema: str | os.PathLike[str] | None = None,
    ) -> BaseTestDatabase: ...

    @staticmethod
    async def create_test_database(
        engine: str = "sqlite",
        database: str | None = None,
        dsn: str | None = None,
        *,
        schema: str | os.PathLike[str] | None = None,
    ) -> BaseTestDatabase:
        """A fresh, isolated database (SQLite file or PostgreSQL database), dropped at cleanup."""
        from ._databases import create_test_database

        return await create_test_database(engine, database, dsn, schema=schema)

    @staticmethod
    def temp_directory() -> AbstractAsyncContextManager[str]:
        """An async context manager yielding a temporary directory, removed afterwards."""
        from ._files import temp_directory

        return temp_directory()

    @staticmethod
    async def create_test_files(
        directory: str | os.PathLike[str], files: Mapping[str, Any]
    ) -> dict[str, str]:
        """Write ``{relative_path: content}`` under ``directory``; return the absolute paths."""
        from ._files import create_test_files

        return await create_test_files(directory, files)
