"""Test databases: SQLite files and PostgreSQL databases on the real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from awaitflow.testing import _databases
from awaitflow.testing._databases import (
    DEFAULT_POSTGRES_DSN,
    PostgresTestDatabase,
    ServerUnavailableError,
    SqliteTestDatabase,
    create_test_database,
    drop_leftover_databases,
)

SQLITE_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE schema_runs (marker TEXT);
INSERT INTO schema_runs VALUES (hex(randomblob(8)));
"""

# Fixed texts, so their templates are reused from run to run rather than piling up.
PG_SCHEMA = """
-- awaitflow test suite: template clone
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE schema_runs (marker uuid);
INSERT INTO schema_runs VALUES (gen_random_uuid());
"""
PG_SCHEMA_FOR_REBUILD = PG_SCHEMA.replace("template clone", "template rebuild")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(process.stdout)


# --------------------------------------------------------------------------- SQLite


@pytest.mark.asyncio
async def test_sqlite_database_is_a_temporary_file() -> None:
    """A SQLite test database is a file in the temp dir, named from the prefix."""
    db = await create_test_database(database="Orders DB")
    try:
        assert isinstance(db, SqliteTestDatabase)
        assert db.engine == "sqlite"
        assert re.fullmatch(r"orders_db_(main|gw[0-9]+)_[0-9a-f]{8}", db.name)
        assert db.path.is_file()
        assert db.path.is_relative_to(tempfile.gettempdir())
        assert db.connection_string == f"sqlite:///{db.path}"
        assert db.path.is_absolute()
        async with aiosqlite.connect(db.path) as conn:
            await conn.execute("CREATE TABLE t (x)")
            await conn.commit()
    finally:
        await db.cleanup()


@pytest.mark.asyncio
async def test_sqlite_cleanup_removes_the_file_and_its_companions() -> None:
    """cleanup() removes the database file and its -wal and -shm files, even while open."""
    db = await create_test_database()
    conn = sqlite3.connect(db.path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        companions = [Path(f"{db.path}{suffix}") for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in companions)
        await db.cleanup()
        assert not db.path.exists()
        assert not any(path.exists() for path in companions)
    finally:
        conn.close()
        await db.cleanup()


@pytest.mark.asyncio
async def test_sqlite_databases_are_distinct() -> None:
    """Two databases asked for with the same name are different files."""
    async with (
        await create_test_database(database="same") as first,
        await create_test_database(database="same") as second,
    ):
        assert first.path != second.path
        assert first.name != second.name
        with sqlite3.connect(first.path) as conn:
            conn.execute("CREATE TABLE only_first (x)")
        with sqlite3.connect(second.path) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
        assert tables == []


@pytest.mark.asyncio
async def test_async_with_and_aclose_clean_a_sqlite_database_up() -> None:
    """Leaving ``async with`` removes the file; cleanup() and aclose() are idempotent."""
    async with await create_test_database() as db:
        assert db.path.exists()
    assert db.cleaned_up
    assert not db.path.exists()
    await db.cleanup()
    await db.aclose()


@pytest.mark.asyncio
async def test_sqlite_schema_runs_once_and_is_cloned() -> None:
    """Databases with one schema are copies of one template: the schema ran once."""
    schema = SQLITE_SCHEMA + f"-- {os.urandom(8).hex()}\n"  # a template of this test's own
    databases = await asyncio.gather(*(create_test_database(schema=schema) for _ in range(5)))
    try:
        markers: set[str] = set()
        for db in databases:
            with sqlite3.connect(db.path) as conn:
                assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
                markers.update(row[0] for row in conn.execute("SELECT marker FROM schema_runs"))
        assert len(markers) == 1
        assert len({db.path for db in databases}) == 5
    finally:
        for db in databases:
            await db.cleanup()


@pytest.mark.asyncio
async def test_sqlite_schema_changes_in_one_database_stay_there() -> None:
    """Writing to one clone leaves the template and the other clones untouched."""
    async with await create_test_database(schema=SQLITE_SCHEMA) as first:
        with sqlite3.connect(first.path) as conn:
            conn.execute("INSERT INTO users (name) VALUES ('ann')")
        async with await create_test_database(schema=SQLITE_SCHEMA) as second:
            with sqlite3.connect(second.path) as conn:
                assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


@pytest.mark.asyncio
@pytest.mark.parametrize("as_path", [True, False])
async def test_sqlite_schema_from_a_file(tmp_path: Path, as_path: bool) -> None:
    """schema= takes a Path, or a str path ending in .sql."""
    schema_file = tmp_path / "schema.sql"
    schema_file.write_text("CREATE TABLE from_file (id INTEGER);")
    schema = schema_file if as_path else str(schema_file)
    async with await create_test_database(schema=schema) as db:
        with sqlite3.connect(db.path) as conn:
            assert conn.execute("SELECT count(*) FROM from_file").fetchone() == (0,)


@pytest.mark.asyncio
async def test_a_missing_schema_file_is_named() -> None:
    """A schema path that does not exist raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match=r"schema file '.*nowhere\.sql' does not exist"):
        await create_test_database(schema="nowhere.sql")


@pytest.mark.asyncio
async def test_a_broken_sqlite_schema_fails_and_leaves_no_template() -> None:
    """A schema error propagates with a note naming the schema; no template is kept."""
    state = _databases._sqlite_process_state()
    before = set(state.directory.iterdir())
    with pytest.raises(sqlite3.OperationalError, match="syntax error") as caught:
        await create_test_database(schema="CREATE TABLE ok (x);\nCREATE TABBLE broken (x);")
    assert "while applying the schema text to a SQLite test database" in caught.value.__notes__
    assert set(state.directory.iterdir()) == before


@pytest.mark.asyncio
async def test_create_test_database_checks_its_arguments() -> None:
    """An unknown engine, a dsn for SQLite, or a non-str name is refused."""
    with pytest.raises(ValueError, match=r"unknown database engine 'mysql'; expected 'sqlite'"):
        await create_test_database("mysql")
    with pytest.raises(ValueError, match=r"dsn= applies to engine='postgresql' only"):
        await create_test_database("sqlite", dsn="postgresql://x/y")
    with pytest.raises(TypeError, match=r"database must be a str name prefix, got int"):
        await create_test_database("sqlite", database=3)  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_sqlite_leftovers_of_dead_processes_are_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first SQLite database of a process removes the directories of dead processes only."""
    root = Path(tempfile.gettempdir())
    dead = root / f"awaitflow-sqlite-{dead_pid()}-leftover"
    alive = root / "awaitflow-sqlite-1-alive"
    for directory in (dead, alive):
        directory.mkdir(exist_ok=True)
        (directory / "db.sqlite3").write_bytes(b"")
    monkeypatch.setattr(_databases, "_sqlite_state", None)
    try:
        async with await create_test_database():
            assert not dead.exists()
            assert alive.exists()
    finally:
        for directory in (dead, alive):
            shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- PostgreSQL


@pytest_asyncio.fixture
async def admin() -> AsyncIterator[Any]:
    """A plain asyncpg connection to the server's maintenance database (skips if unreachable)."""
    try:
        conn = await asyncpg.connect(DEFAULT_POSTGRES_DSN, timeout=5)
    except (OSError, asyncpg.CannotConnectNowError) as exc:
        pytest.skip(f"the PostgreSQL server at {DEFAULT_POSTGRES_DSN} is unreachable: {exc}")
    try:
        yield conn
    finally:
        await conn.close()


async def database_exists(admin: Any, name: str) -> bool:
    """Whether the server has a database of that name."""
    return bool(await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))


@pytest.mark.asyncio
async def test_postgres_database_is_created_and_reachable(admin: Any) -> None:
    """A PostgreSQL test database exists, and its connection string leads to it."""
    db = await create_test_database("postgresql", database="test_db")
    try:
        assert isinstance(db, PostgresTestDatabase)
        assert db.engine == "postgresql"
        assert db.name.startswith("aftest_test_db_")
        assert await database_exists(admin, db.name)
        conn = await asyncpg.connect(db.connection_string)
        try:
            assert await conn.fetchval("SELECT current_database()") == db.name
        finally:
            await conn.close()
    finally:
        await db.cleanup()
    assert not await database_exists(admin, db.name)


@pytest.mark.asyncio
async def test_postgres_names_are_unique_for_one_prefix(admin: Any) -> None:
    """Two databases with the same ``database`` are distinct; a long prefix fits in 63 chars."""
    long_prefix = "a_very_long_database_name_prefix_that_never_fits_" * 2
    databases = [
        await create_test_database("postgresql", database="test_db"),
        await create_test_database("postgresql", database="test_db"),
        await create_test_database("postgresql", database=long_prefix),
    ]
    try:
        names = [db.name for db in databases]
        assert len(set(names)) == 3
        assert all(len(name) <= 63 for name in names)
        assert names[2].startswith("aftest_a_very_long_")
        for name in names:
            assert await database_exists(admin, name)
    finally:
        for db in databases:
            await db.cleanup()


def test_postgres_names_carry_worker_host_and_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is aftest_<prefix>_<worker>_<host>_<pid>_<token>."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    name = _databases._new_database_name("orders")
    match = _databases._NAME_RE.match(name)
    assert match is not None
    assert (match["prefix"], match["worker"], match["host"], match["pid"]) == (
        "orders",
        "gw7",
        _databases._HOST_TAG,
        str(os.getpid()),
    )


@pytest.mark.asyncio
async def test_postgres_schema_runs_once_on_a_template(admin: Any) -> None:
    """Databases with one schema are clones of a template: tables there, schema run once."""
    first = await create_test_database("postgresql", schema=PG_SCHEMA)
    second = await create_test_database("postgresql", schema=PG_SCHEMA)
    try:
        markers = []
        for db in (first, second):
            conn = await asyncpg.connect(db.connection_string)
            try:
                assert await conn.fetchval("SELECT count(*) FROM users") == 0
                markers.append(await conn.fetchval("SELECT marker FROM schema_runs"))
            finally:
                await conn.close()
        assert markers[0] == markers[1]
        template = f"aftest_tpl_{_databases._load_schema(PG_SCHEMA).digest}"  # type: ignore[union-attr]
        row = await admin.fetchrow(
            "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1", template
        )
        assert tuple(row) == (True, False)
    finally:
        await first.cleanup()
        await second.cleanup()


@pytest.mark.asyncio
async def test_postgres_schema_from_a_file(admin: Any, tmp_path: Path) -> None:
    """schema= takes the path of a .sql file."""
    schema_file = tmp_path / "schema.sql"
    schema_file.write_text("CREATE TABLE from_file (id int); -- awaitflow test suite\n")
    async with await create_test_database("postgresql", schema=schema_file) as db:
        conn = await asyncpg.connect(db.connection_string)
        try:
            assert await conn.fetchval("SELECT count(*) FROM from_file") == 0
        finally:
            await conn.close()


@pytest.mark.asyncio
async def test_a_broken_postgres_schema_fails_and_leaves_no_template(admin: Any) -> None:
    """A schema error propagates with a note naming the schema; the half-built template goes."""
    schema = "CREATE TABLE ok (x int);\nCREATE TABBLE broken (x int);"
    template = f"aftest_tpl_{_databases._load_schema(schema).digest}"  # type: ignore[union-attr]
    with pytest.raises(asyncpg.PostgresSyntaxError, match="TABBLE") as caught:
        await create_test_database("postgresql", schema=schema)
    assert f"while applying the schema text to template database {template!r}" in (
        caught.value.__notes__
    )
    assert not await database_exists(admin, template)


@pytest.mark.asyncio
async def test_a_dropped_template_is_built_again(admin: Any) -> None:
    """When a template disappears under a process that knew it, the next creation rebuilds it."""
    first = await create_test_database("postgresql", schema=PG_SCHEMA_FOR_REBUILD)
    await first.cleanup()
    template = f"aftest_tpl_{_databases._load_schema(PG_SCHEMA_FOR_REBUILD).digest}"  # type: ignore[union-attr]
    assert await _databases._drop_template(admin, DEFAULT_POSTGRES_DSN, template)
    _databases._ready_templates.add((DEFAULT_POSTGRES_DSN, template))  # as if still known
    async with await create_test_database("postgresql", schema=PG_SCHEMA_FOR_REBUILD) as db:
        assert await database_exists(admin, db.name)
        assert await database_exists(admin, template)


@pytest.mark.asyncio
async def test_postgres_cleanup_drops_a_database_with_open_connections(admin: Any) -> None:
    """cleanup() drops the database even while a client is still connected to it."""
    db = await create_test_database("postgresql")
    conn = await asyncpg.connect(db.connection_string)
    try:
        await db.cleanup()
        assert not await database_exists(admin, db.name)
        assert db.cleaned_up
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_the_pre_13_drop_also_ends_open_connections(admin: Any) -> None:
    """Without WITH (FORCE), open connections are terminated before the drop."""
    db = await create_test_database("postgresql")
    conn = await asyncpg.connect(db.connection_string)
    try:
        await _databases._drop_database(admin, db.name, force=False)
        assert not await database_exists(admin, db.name)
    finally:
        await conn.close()
        await db.cleanup()


@pytest.mark.asyncio
async def test_postgres_async_with_cleans_up(admin: Any) -> None:
    """Leaving ``async with`` drops the database; cleanup() again does nothing."""
    async with await create_test_database("postgresql") as db:
        assert await database_exists(admin, db.name)
    assert not await database_exists(admin, db.name)
    await db.cleanup()


@pytest.mark.asyncio
async def test_leftovers_of_dead_processes_are_dropped_at_first_creation(
    admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later process drops a crashed process's databases, never a live process's."""
    dead = _databases._new_database_name("leftover", pid=dead_pid())
    alive = _databases._new_database_name("leftover", pid=1)  # pid 1 always runs
    for name in (dead, alive):
        await admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setattr(_databases, "_swept_servers", set())
    try:
        async with await create_test_database("postgresql"):
            assert not await database_exists(admin, dead)
            assert await database_exists(admin, alive)
    finally:
        for name in (dead, alive):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.mark.asyncio
async def test_drop_leftover_databases_reports_what_it_dropped(admin: Any) -> None:
    """drop_leftover_databases() returns the names it dropped."""
    dead = _databases._new_database_name("leftover", pid=dead_pid())
    await admin.execute(f'CREATE DATABASE "{dead}"')
    try:
        assert dead in await drop_leftover_databases()
        assert not await database_exists(admin, dead)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dead}"')


def test_leftover_rules() -> None:
    """Which marked names count as a crashed process's leftovers."""
    mine = _databases._new_database_name("x")
    dead = _databases._new_database_name("x", pid=dead_pid())
    other_host = "0" * 6 if _databases._HOST_TAG != "0" * 6 else "1" * 6
    dead_elsewhere = f"aftest_x_main_{other_host}_{dead_pid()}_0123abcd"
    own_run = json.dumps({"run": _databases._RUN_TOKEN, "boot": _databases._BOOT_ID})
    earlier_run = json.dumps({"run": "0" * 16, "boot": _databases._BOOT_ID})
    assert not _databases._is_leftover(mine, own_run)
    assert not _databases._is_leftover(mine, None)
    assert _databases._is_leftover(mine, earlier_run)  # our pid, reused: not us
    assert _databases._is_leftover(dead, None)
    assert not _databases._is_leftover(dead_elsewhere, None)  # another host's: unknowable
    assert not _databases._is_leftover("aftest_tpl_0123456789abcdef", None)
    assert not _databases._is_leftover("postgres", None)
    if _databases._BOOT_ID:
        before_boot = json.dumps({"boot": "an-earlier-boot"})
        assert _databases._is_leftover(_databases._new_database_name("x", pid=1), before_boot)


@pytest.mark.asyncio
async def test_an_unreachable_postgres_is_a_clear_error() -> None:
    """A closed port fails at once, naming the DSN (not its password) and how to start a server."""
    started = time.perf_counter()
    with pytest.raises(ServerUnavailableError) as caught:
        await create_test_database("postgresql", dsn="postgresql://me:s3cret@127.0.0.1:1/postgres")
    message = str(caught.value)
    assert time.perf_counter() - started < 5
    assert "cannot connect to PostgreSQL at postgresql://me:***@127.0.0.1:1/postgres" in message
    assert "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start" in message
    assert "s3cret" not in message
    assert isinstance(caught.value, ConnectionError)


@pytest.mark.asyncio
async def test_the_postgres_dsn_defaults_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without dsn=, AWAITFLOW_POSTGRES_DSN names the server."""
    monkeypatch.setenv("AWAITFLOW_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:1/other")
    with pytest.raises(
        ServerUnavailableError, match=r"at postgresql://postgres@127\.0\.0\.1:1/other"
    ):
        await create_test_database("postgresql")


@pytest.mark.asyncio
async def test_a_dsn_that_is_not_a_postgres_url_is_refused() -> None:
    """The DSN must be a postgresql:// URL; the message says where it came from."""
    with pytest.raises(
        ValueError, match=r"must be a postgresql:// URL, got 'mysql://u:\*\*\*@h/d'"
    ):
        await create_test_database("postgresql", dsn="mysql://u:pw@h/d")


@pytest.mark.asyncio
async def test_twenty_concurrent_creations_are_all_distinct(admin: Any) -> None:
    """Concurrent creations with one schema give as many distinct, complete databases."""
    databases = await asyncio.gather(
        *(create_test_database("postgresql", "concurrent", schema=PG_SCHEMA) for _ in range(20))
    )
    try:
        assert len({db.name for db in databases}) == 20
        for db in databases:
            assert await database_exists(admin, db.name)
    finally:
        await asyncio.gather(*(db.cleanup() for db in databases))
    for db in databases:
        assert not await database_exists(admin, db.name)


@pytest.mark.asyncio
@pytest.mark.parametrize("delay", [0.0, 0.002, 0.005, 0.01, 0.02, 0.05])
async def test_a_cancelled_creation_leaves_no_database(admin: Any, delay: float) -> None:
    """Cancelling create_test_database at any point leaves no database behind."""
    prefix = f"cancelled_{os.urandom(3).hex()}"
    task = asyncio.create_task(create_test_database("postgresql", prefix))
    await asyncio.sleep(delay)
    task.cancel()
    try:
        db = await task
    except asyncio.CancelledError:
        pass
    else:
        await db.cleanup()  # it finished before the cancellation arrived
    left = await admin.fetch(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", f"aftest_{prefix}"
    )
    assert left == []


@pytest.mark.asyncio
async def test_no_connection_of_ours_outlives_a_call(
    admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connection opened to create, build a template, fail or drop is closed after."""
    opened: list[Any] = []
    connect = asyncpg.connect

    async def tracking_connect(*args: Any, **kwargs: Any) -> Any:
        conn = await connect(*args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(asyncpg, "connect", tracking_connect)
    monkeypatch.setattr(_databases, "_swept_servers", set())
    monkeypatch.setattr(_databases, "_ready_templates", set())
    db = await create_test_database("postgresql", schema=PG_SCHEMA)
    await db.cleanup()
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await create_test_database("postgresql", schema="CREATE TABBLE t (x int);")
    assert len(opened) >= 5
    assert all(conn.is_closed() for conn in opened)


CROSS_PROCESS_CREATOR = """
import asyncio, sys
import asyncpg
from awaitflow.testing._databases import create_test_database

async def main():
    db = await create_test_database("postgresql", "xproc", schema=sys.argv[1])
    conn = await asyncpg.connect(db.connection_string)
    print(await conn.fetchval("SELECT marker FROM schema_runs"))
    await conn.close()
    await db.cleanup()

asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_concurrent_processes_build_a_new_template_once(admin: Any) -> None:
    """Separate processes (as xdist workers are) racing on a new schema share one template."""
    schema = PG_SCHEMA.replace("template clone", "template built across processes")
    template = f"aftest_tpl_{_databases._load_schema(schema).digest}"  # type: ignore[union-attr]
    await _databases._drop_template(admin, DEFAULT_POSTGRES_DSN, template)
    env = {**os.environ, "PYTHONPATH": str(Path(_databases.__file__).parents[2])}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CROSS_PROCESS_CREATOR,
            schema,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    assert len({stdout.strip() for stdout, _ in outputs}) == 1


@pytest.mark.asyncio
async def test_creation_waits_while_someone_is_connected_to_template1(admin: Any) -> None:
    """ "Source database is being accessed by other users" is retried until it clears."""
    template1 = await asyncpg.connect(DEFAULT_POSTGRES_DSN.rsplit("/", 1)[0] + "/template1")
    try:
        creation = asyncio.create_task(create_test_database("postgresql", "waiting"))
        await asyncio.sleep(0.3)  # holding template1 for a while is the scenario itself
        assert not creation.done()
    finally:
        await template1.close()
    async with await creation as db:
        assert await database_exists(admin, db.name)
