"""awaitflow.testing: write short, deterministic tests for async workflows.

The public names live here; the pytest plugin (``awaitflow.testing.pytest_plugin``)
is installed with the package.
"""

from .._blocking import BlockingCallWarning
from ._assertions import AsyncAssertions, AsyncTestUtils
from ._case import AsyncWorkflowTestCase
from ._fixtures import AsyncWorkflowFixtures
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
    "BlockingCallWarning",
    "ResourceCall",
    "assert_max_concurrency",
    "assert_ran_before",
    "assert_ran_concurrently",
    "text_timeline",
]
