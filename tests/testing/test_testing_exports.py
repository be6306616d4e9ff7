"""The public door of awaitflow.testing: its names are pinned and documented."""

from __future__ import annotations

import pytest

import awaitflow.testing

EXPECTED = sorted(awaitflow.testing.__all__)


def test_all_is_sorted_and_pinned() -> None:
    """``__all__`` is sorted and lists exactly the agreed public names."""
    assert awaitflow.testing.__all__ == [
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


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_has_a_docstring(name: str) -> None:
    """Each public class and function of awaitflow.testing has its own docstring."""
    obj = getattr(awaitflow.testing, name)
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    assert doc and doc.strip(), name
