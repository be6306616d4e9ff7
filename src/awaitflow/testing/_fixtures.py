"""AsyncWorkflowFixtures: named constructors of test doubles and throwaway resources.

Each is the module-level function of the same name (one implementation, one
signature), gathered on a class as the seed documents use them.
"""

from __future__ import annotations

from ._cache import create_test_cache
from ._databases import create_test_database
from ._files import create_test_files, temp_directory
from ._mock_http import MockHttpClient

__all__ = ["AsyncWorkflowFixtures"]


class AsyncWorkflowFixtures:
    """Factories for mock services and real, isolated test resources."""

    @staticmethod
    def create_mock_http_client() -> MockHttpClient:
        """A mock HTTP client: queued responses per route, strict matching, recorded calls."""
        return MockHttpClient()

    create_test_cache = staticmethod(create_test_cache)
    create_test_database = staticmethod(create_test_database)
    temp_directory = staticmethod(temp_directory)
    create_test_files = staticmethod(create_test_files)
