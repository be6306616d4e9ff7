"""The plugin's real-resource fixtures, run through pytester in a pytest of their own.

``sqlite_database``, ``postgres_database`` and ``redis_cache`` are function-scoped
(each test gets fresh ones), usable from plain pytest-asyncio tests in strict mode,
removed even when the test fails, safe under ``pytest -n 4`` and skipped, with the
reason, when their server does not answer. After each inner run the servers are
inspected directly: no database, key or file made by that run may remain.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

import awaitflow
from awaitflow.testing._cache import DEFAULT_REDIS_URL, REDIS_URL_ENV
from awaitflow.testing._databases import DEFAULT_POSTGRES_DSN, POSTGRES_DSN_ENV

RunInner = Callable[..., pytest.RunResult]

INNER_INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""

# Each inner test records what it was given, so the outer test can look for it afterwards.
INNER_CONFTEST = """
import json
import os
from pathlib import Path

import pytest

RECORDS = Path(__file__).parent / "records"


@pytest.fixture
def record(request):
    def write(postgres=None, redis=None, sqlite=None):
        RECORDS.mkdir(exist_ok=True)
        facts = {
            "test": request.node.name,
            "pid": os.getpid(),
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "postgres": postgres.name if postgres else None,
            "redis": redis.prefix if redis else None,
            "sqlite": str(sqlite.path) if sqlite else None,
        }
        (RECORDS / (request.node.name + ".json")).write_text(json.dumps(facts))
    return write


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    # After the fixtures' teardown, before the process exits (and its temp dir goes).
    outcome = yield
    path = RECORDS / (item.name + ".json")
    if path.exists():
        facts = json.loads(path.read_text())
        facts["sqlite_after_teardown"] = Path(facts["sqlite"]).exists()
        path.write_text(json.dumps(facts))
    return outcome
"""

INNER_ROUND_TRIPS = """
import aiosqlite
import asyncpg
import pytest


@pytest.mark.asyncio
async def test_first(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    await round_trips(postgres_database, redis_cache, sqlite_database, "first")


@pytest.mark.asyncio
async def test_second(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    await round_trips(postgres_database, redis_cache, sqlite_database, "second")


async def round_trips(postgres, redis, sqlite, name):
    conn = await asyncpg.connect(postgres.connection_string)
    try:
        await conn.execute("CREATE TABLE items (name text)")
        await conn.execute("INSERT INTO items VALUES ($1)", name)
        assert await conn.fetch("SELECT name FROM items") == [(name,)]
    finally:
        await conn.close()
    async with aiosqlite.connect(sqlite.path) as db:
        await db.execute("CREATE TABLE items (name TEXT)")
        await db.execute("INSERT INTO items VALUES (?)", (name,))
        async with db.execute("SELECT name FROM items") as cursor:
            assert await cursor.fetchall() == [(name,)]
    await redis.set("item", name)
    assert await redis.get("item") == name
    assert await redis.keys() == ["item"]
"""

INNER_FAILURES = """
import asyncio

import aiosqlite
import asyncpg
import pytest

STILL_OPEN = []


async def fill(postgres, redis, sqlite):
    conn = await asyncpg.connect(postgres.connection_string)
    await conn.execute("CREATE TABLE items AS SELECT generate_series(1, 10) AS n")
    await redis.set("a", 1)
    await redis.set("b", [2], ttl=600)
    async with aiosqlite.connect(sqlite.path) as db:
        await db.execute("CREATE TABLE items (n INTEGER)")
        await db.commit()
    return conn


@pytest.mark.asyncio
async def test_assertion_fails(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    conn = await fill(postgres_database, redis_cache, sqlite_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM items") == 11, "fails on purpose"
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_raises_with_a_connection_still_open(
    postgres_database, redis_cache, sqlite_database, record
):
    record(postgres_database, redis_cache, sqlite_database)
    conn = await fill(postgres_database, redis_cache, sqlite_database)
    await conn.execute("BEGIN")
    await conn.execute("INSERT INTO items VALUES (11)")
    STILL_OPEN.append(conn)  # open through the fixtures' teardown: the drop must end it
    raise RuntimeError("fails on purpose, inside an open transaction")


@pytest.mark.asyncio
async def test_times_out(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    conn = await fill(postgres_database, redis_cache, sqlite_database)
    try:
        async with asyncio.timeout(0.05):
            await conn.execute("SELECT pg_sleep(5)")
    finally:
        await conn.close()


@pytest.fixture
def broken_fixture(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    raise RuntimeError("a later fixture fails on purpose")


@pytest.mark.asyncio
async def test_later_fixture_fails(broken_fixture):
    pass


@pytest.mark.asyncio
async def test_passes(postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    (await fill(postgres_database, redis_cache, sqlite_database)).terminate()
"""

INNER_PARALLEL = """
import aiosqlite
import asyncpg
import pytest


@pytest.mark.asyncio
@pytest.mark.parametrize("index", range(12))
async def test_writes_its_own_data(index, postgres_database, redis_cache, sqlite_database, record):
    record(postgres_database, redis_cache, sqlite_database)
    conn = await asyncpg.connect(postgres_database.connection_string)
    try:
        await conn.execute("CREATE TABLE items (owner integer, n integer)")
        await conn.executemany(
            "INSERT INTO items VALUES ($1, $2)", [(index, n) for n in range(200)]
        )
        row = await conn.fetchrow("SELECT count(*), min(owner), max(owner) FROM items")
        assert tuple(row) == (200, index, index)
    finally:
        await conn.close()
    for n in range(10):
        await redis_cache.set(f"key:{n}", index)
    assert await redis_cache.keys() == sorted(f"key:{n}" for n in range(10))
    assert {await redis_cache.get(f"key:{n}") for n in range(10)} == {index}
    async with aiosqlite.connect(sqlite_database.path) as db:
        await db.execute("CREATE TABLE items (owner INTEGER)")
        await db.executemany("INSERT INTO items VALUES (?)", [(index,)] * 50)
        await db.commit()
        async with db.execute("SELECT count(*), min(owner), max(owner) FROM items") as cursor:
            assert tuple(await cursor.fetchone()) == (50, index, index)
"""

INNER_UNREACHABLE = """
import pytest


@pytest.mark.asyncio
async def test_needs_postgres(postgres_database):
    pass


@pytest.mark.asyncio
async def test_needs_redis(redis_cache):
    pass


@pytest.mark.asyncio
async def test_needs_no_server(sqlite_database):
    assert sqlite_database.path.exists()
"""

CLOSED_PORT = 1  # nothing listens there: connections are refused at once


# --------------------------------------------------------------------------- helpers


def _server_urls() -> tuple[str, str]:
    dsn = os.environ.get(POSTGRES_DSN_ENV) or DEFAULT_POSTGRES_DSN
    url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    return dsn, url


@pytest.fixture
def servers() -> tuple[str, str]:
    """(PostgreSQL DSN, Redis URL) of the servers the fixtures use; skips if one is down."""
    dsn, url = _server_urls()

    async def probe() -> None:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except (OSError, TimeoutError) as exc:
            pytest.skip(f"the PostgreSQL server is unreachable: {exc!r}")
        await conn.close()
        client = aioredis.Redis.from_url(url, socket_connect_timeout=5)
        try:
            await client.ping()
        except (OSError, RedisConnectionError) as exc:
            pytest.skip(f"the Redis server is unreachable: {exc!r}")
        finally:
            await client.aclose()

    asyncio.run(probe())
    return dsn, url


@pytest.fixture
def run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> RunInner:
    """Run pytest in a subprocess on ``pytester``'s files, pytest-asyncio in strict mode."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    source = str(Path(awaitflow.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
    )
    pytester.makeini(INNER_INI)
    pytester.makeconftest(INNER_CONFTEST)
    installed = any(ep.name == "awaitflow" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "awaitflow.testing.pytest_plugin"]

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(
            "-p", "asyncio", "-p", "no:cacheprovider", *plugin, *args, timeout=180
        )

    return run


def read_records(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    """What each inner test recorded, sorted by test name."""
    records = [json.loads(p.read_text()) for p in (pytester.path / "records").glob("*.json")]
    return sorted(records, key=lambda record: str(record["test"]))


_PID_IN_NAME = re.compile(r"^aftest_.+_(?P<pid>[0-9]+)_[0-9a-f]{8}$")


async def _leftovers(records: list[dict[str, Any]], dsn: str, url: str) -> dict[str, list[str]]:
    pids = {record["pid"] for record in records}
    names = {record["postgres"] for record in records}
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'aftest\\_%'")
    finally:
        await conn.close()
    databases = []
    for row in rows:
        match = _PID_IN_NAME.match(row["datname"])
        if row["datname"] in names or (match and int(match["pid"]) in pids):
            databases.append(row["datname"])
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        keys = [
            key
            for record in records
            async for key in client.scan_iter(match=str(record["redis"]) + "*")
        ]
    finally:
        await client.aclose()
    return {"databases": sorted(databases), "redis keys": keys}


def leftovers(records: list[dict[str, Any]], servers: tuple[str, str]) -> dict[str, list[str]]:
    """The databases, Redis keys and SQLite files of ``records`` that still exist."""
    found = asyncio.run(_leftovers(records, *servers))
    found["sqlite files"] = [
        r["sqlite"]
        for r in records
        if r.get("sqlite_after_teardown", True) or Path(r["sqlite"]).exists()
    ]
    return found


NOTHING_LEFT: dict[str, list[str]] = {"databases": [], "redis keys": [], "sqlite files": []}


# --------------------------------------------------------------------------- tests


def test_each_plain_async_test_gets_fresh_working_resources(
    pytester: pytest.Pytester, run_inner: RunInner, servers: tuple[str, str]
) -> None:
    """Two strict-mode async tests each get their own working database, prefix and file."""
    pytester.makepyfile(test_round_trips=INNER_ROUND_TRIPS)
    result = run_inner()
    result.assert_outcomes(passed=2)
    first, second = read_records(pytester)
    for kind in ("postgres", "redis", "sqlite"):
        assert first[kind] and second[kind] and first[kind] != second[kind], kind
    assert first["postgres"].startswith("aftest_db_main_")
    assert first["redis"].startswith("awaitflow:test:main:")
    assert leftovers([first, second], servers) == NOTHING_LEFT


def test_resources_are_removed_when_tests_fail(
    pytester: pytest.Pytester, run_inner: RunInner, servers: tuple[str, str]
) -> None:
    """Failing, erroring and timed-out tests leave no database, key or file behind."""
    pytester.makepyfile(test_failures=INNER_FAILURES)
    result = run_inner()
    result.assert_outcomes(passed=1, failed=3, errors=1)
    result.stdout.fnmatch_lines_random(
        [
            "*AssertionError: fails on purpose*",
            "*RuntimeError: fails on purpose, inside an open transaction*",
            "*RuntimeError: a later fixture fails on purpose*",
            "FAILED test_failures.py::test_times_out - TimeoutError",
        ]
    )
    records = read_records(pytester)
    assert [record["test"] for record in records] == [
        "test_assertion_fails",
        "test_later_fixture_fails",
        "test_passes",
        "test_raises_with_a_connection_still_open",
        "test_times_out",
    ]
    assert leftovers(records, servers) == NOTHING_LEFT


def test_parallel_workers_each_get_their_own_resources(
    pytester: pytest.Pytester, run_inner: RunInner, servers: tuple[str, str]
) -> None:
    """Under ``-n 4``, 12 tests each write to their own resources; all pass, none remain."""
    pytester.makepyfile(test_parallel=INNER_PARALLEL)
    result = run_inner("-n", "4")
    result.assert_outcomes(passed=12)
    records = read_records(pytester)
    assert len(records) == 12
    for kind in ("postgres", "redis", "sqlite"):
        assert len({record[kind] for record in records}) == 12, kind
    workers = {record["worker"] for record in records}
    assert len(workers) >= 2 and workers <= {"gw0", "gw1", "gw2", "gw3"}
    for record in records:
        assert f"_{record['worker']}_" in record["postgres"]
        assert f":{record['worker']}:" in record["redis"]
    assert leftovers(records, servers) == NOTHING_LEFT


def test_unreachable_servers_skip_the_test_with_the_reason(
    run_inner: RunInner, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no server at the configured address, the test is skipped and the reason says so."""
    monkeypatch.setenv(POSTGRES_DSN_ENV, f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/postgres")
    monkeypatch.setenv(REDIS_URL_ENV, f"redis://127.0.0.1:{CLOSED_PORT}/0")
    pytester.makepyfile(test_unreachable=INNER_UNREACHABLE)
    result = run_inner("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED * the PostgreSQL server is unreachable: cannot connect to PostgreSQL at "
            f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/postgres *",
            "SKIPPED * the Redis server is unreachable: cannot connect to Redis at "
            f"redis://127.0.0.1:{CLOSED_PORT}/0 *",
        ]
    )
