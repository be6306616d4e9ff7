"""awaitflow.testing: write short, deterministic tests for async workflows.

The public names live here; the pytest plugin (``awaitflow.testing.pytest_plugin``)
is installed with the package.
"""

from .._blocking import BlockingCallWarning
from ._assertions import AsyncAssertions, AsyncTestUtils
from ._cache import BaseTestCache, CacheCall, MemoryTestCache, RedisTestCache, create_test_cache
from ._case import AsyncWorkflowTestCase, TimeLimit
from ._clock import ClockStatistics, VirtualClock, VirtualTimeModule, current_clock
from ._databases import (
    BaseTestDatabase,
    PostgresTestDatabase,
    ServerUnavailableError,
    SqliteTestDatabase,
    create_test_database,
    drop_leftover_databases,
)
from ._files import create_test_files, temp_directory
from ._fixtures import AsyncWorkflowFixtures
from ._leaks import Leak, LeakCheck, LeakError, track_resource, untrack_resource
from ._mock_http import (
    HttpCall,
    HttpStatusError,
    MockHttpClient,
    MockResponse,
    UnmatchedRequestError,
)
from ._recording import ResourceCall
from ._trace import (
    assert_max_concurrency,
    assert_ran_before,
    assert_ran_concurrently,
    text_timeline,
)

__all__ = [
    "AsyncAssertions",
    "AsyncTestUtils",
    "AsyncWorkflowFixtures",
    "AsyncWorkflowTestCase",
    "BaseTestCache",
    "BaseTestDatabase",
    "BlockingCallWarning",
    "CacheCall",
    "ClockStatistics",
    "HttpCall",
    "HttpStatusError",
    "Leak",
    "LeakCheck",
    "LeakError",
    "MemoryTestCache",
    "MockHttpClient",
    "MockResponse",
    "PostgresTestDatabase",
    "RedisTestCache",
    "ResourceCall",
    "ServerUnavailableError",
    "SqliteTestDatabase",
    "TimeLimit",
    "UnmatchedRequestError",
    "VirtualClock",
    "VirtualTimeModule",
    "assert_max_concurrency",
    "assert_ran_before",
    "assert_ran_concurrently",
    "create_test_cache",
    "create_test_database",
    "create_test_files",
    "current_clock",
    "drop_leftover_databases",
    "temp_directory",
    "text_timeline",
    "track_resource",
    "untrack_resource",
]
