"""Real, isolated test databases: a SQLite file or a PostgreSQL database per call.

``create_test_database()`` gives every caller a database nobody else sees, and
``cleanup()`` removes it. A ``schema=`` is applied once, to a template, and
every later database with the same schema is a copy of that template (a file
copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL), which is much
faster than running the schema again.

PostgreSQL database names carry the marker prefix ``aftest_``, the host and the
process id of their creator: ``aftest_<prefix>_<worker>_<host>_<pid>_<token>``.
A process that crashed leaves its databases behind; the first creation in a
later process on the same host drops those whose creator is gone, and never
touches a database of a process that is still alive (a parallel pytest-xdist
worker, another test run). Templates are named ``aftest_tpl_<schema hash>`` and
are kept on the server, so the schema runs once per server, not once per run.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from awaitflow._exceptions import AwaitflowError

__all__ = [
    "DEFAULT_POSTGRES_DSN",
    "BaseTestDatabase",
    "PostgresTestDatabase",
    "ServerUnavailableError",
    "SqliteTestDatabase",
    "create_test_database",
    "drop_leftover_databases",
]

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
"""The PostgreSQL server used when neither ``dsn=`` nor ``AWAITFLOW_POSTGRES_DSN`` is set."""

POSTGRES_DSN_ENV = "AWAITFLOW_POSTGRES_DSN"
CONNECT_TIMEOUT = 5.0
TEMPLATE_LOCK_TIMEOUT = 120.0
_CREATE_ATTEMPTS = 50

_MARKER = "aftest_"
_MAX_IDENTIFIER = 63
_DEFAULT_PREFIX = "db"
_NAME_RE = re.compile(
    r"^aftest_(?P<prefix>[a-z0-9_]+?)_(?P<worker>[a-z0-9]+)_(?P<host>[0-9a-f]{6})"
    r"_(?P<pid>[0-9]+)_(?P<token>[0-9a-f]{8})$"
)
_TEMPLATE_RE = re.compile(r"^aftest_tpl_[0-9a-f]{16}$")
_SQLITE_DIR_RE = re.compile(r"^awaitflow-sqlite-(?P<pid>[0-9]+)-")


class ServerUnavailableError(AwaitflowError, ConnectionError):
    """A database or cache server a test resource needs cannot be reached.

    The message names the server (never its password) and how to start one;
    ``target`` is that server's address.
    """

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target

    def __str__(self) -> str:
        return str(self.args[0])


def _asyncpg() -> Any:
    """The asyncpg module, imported on first use (importing it takes a tenth of a second)."""
    import asyncpg  # type: ignore[import-untyped]

    return asyncpg


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of an exception, for messages that wrap it."""
    return f"{type(exc).__name__}: {str(exc).rstrip('.')}"


# --------------------------------------------------------------------------- identity


def worker_id() -> str:
    """The pytest-xdist worker running this process (``gw0``…), or ``main``."""
    raw = os.environ.get("PYTEST_XDIST_WORKER", "")
    return re.sub(r"[^a-z0-9]", "", raw.lower())[:8] or "main"


def _read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_BOOT_ID = _read_boot_id()
_RUN_TOKEN = secrets.token_hex(8)


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sanitize_prefix(database: str | None) -> str:
    if database is None:
        return _DEFAULT_PREFIX
    if not isinstance(database, str):
        raise TypeError(f"database must be a str name prefix, got {type(database).__name__}")
    cleaned = re.sub(r"[^a-z0-9]+", "_", database.lower()).strip("_")
    return cleaned or _DEFAULT_PREFIX


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class _Schema:
    sql: str
    source: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def _load_schema(schema: str | os.PathLike[str] | None) -> _Schema | None:
    """Read ``schema=``: a path (``os.PathLike``, or a one-line str ending in .sql) or SQL text."""
    if schema is None:
        return None
    is_path = isinstance(schema, os.PathLike) or (
        isinstance(schema, str) and "\n" not in schema and schema.strip().endswith(".sql")
    )
    if is_path:
        path = Path(os.fspath(schema).strip()).resolve()
        try:
            sql = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"schema file {str(path)!r} does not exist") from None
        source = f"schema file {str(path)!r}"
    elif isinstance(schema, str):
        sql, source = schema, "schema text"
    else:
        raise TypeError(
            f"schema must be SQL text or a path to a .sql file, got {type(schema).__name__}"
        )
    return _Schema(sql, source) if sql.strip() else None


# --------------------------------------------------------------------------- databases


class BaseTestDatabase:
    """A fresh, isolated database that ``cleanup()`` removes.

    ``engine`` is ``"sqlite"`` or ``"postgresql"``, ``name`` the database's
    unique name and ``connection_string`` how to reach it. ``cleanup()`` is
    idempotent; ``aclose()`` is the same, so a runtime can clean a database up
    as a resource; ``async with`` cleans up on exit.
    """

    engine: ClassVar[str]

    def __init__(self, name: str, connection_string: str) -> None:
        self.name = name
        self.connection_string = connection_string
        self._cleaned_up = False

    @property
    def cleaned_up(self) -> bool:
        """Whether ``cleanup()`` has removed the database."""
        return self._cleaned_up

    async def cleanup(self) -> None:
        """Remove the database; later calls do nothing."""
        if self._cleaned_up:
            return
        await self._remove()
        self._cleaned_up = True

    async def aclose(self) -> None:
        """Same as ``cleanup()``."""
        await self.cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cleanup()

    async def _remove(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = " (cleaned up)" if self._cleaned_up else ""
        return f"<{type(self).__name__} {self.name!r}{state}>"


class SqliteTestDatabase(BaseTestDatabase):
    """A temporary SQLite database file.

    ``path`` is the file (what ``sqlite3.connect`` and ``aiosqlite.connect``
    take); ``connection_string`` is ``sqlite:///`` followed by the absolute path,
    the form SQLAlchemy-style URLs use. ``cleanup()`` removes the file with its
    ``-wal``, ``-shm`` and ``-journal`` companions.
    """

    engine: ClassVar[str] = "sqlite"

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, f"sqlite:///{path}")
        self.path = path

    async def _remove(self) -> None:
        _remove_sqlite_files(self.path)


class PostgresTestDatabase(BaseTestDatabase):
    """A uniquely named database on a PostgreSQL server.

    ``connection_string`` is the server's DSN with this database in it.
    ``cleanup()`` drops the database even while connections to it are open
    (they are terminated).
    """

    engine: ClassVar[str] = "postgresql"

    def __init__(self, name: str, server_dsn: str) -> None:
        super().__init__(name, _dsn_for_database(server_dsn, name))
        self._server_dsn = server_dsn

    async def _remove(self) -> None:
        async with _connection(self._server_dsn) as conn:
            await _drop_database(conn, self.name)

    def __repr__(self) -> str:
        state = " (cleaned up)" if self._cleaned_up else ""
        return f"<{type(self).__name__} {self.name!r} on {_mask_dsn(self._server_dsn)}{state}>"


@overload
async def create_test_database(
    engine: Literal["sqlite"] = "sqlite",
    database: str | None = None,
    dsn: None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
) -> SqliteTestDatabase: ...


@overload
async def create_test_database(
    engine: Literal["postgresql"],
    database: str | None = None,
    dsn: str | None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
) -> PostgresTestDatabase: ...


@overload
async def create_test_database(
    engine: str,
    database: str | None = None,
    dsn: str | None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
) -> BaseTestDatabase: ...


async def create_test_database(
    engine: str = "sqlite",
    database: str | None = None,
    dsn: str | None = None,
    *,
    schema: str | os.PathLike[str] | None = None,
) -> BaseTestDatabase:
    """Create a fresh, isolated database and return it; ``await db.cleanup()`` removes it.

    ``engine`` is ``"sqlite"`` (a temporary file, the default) or
    ``"postgresql"`` (a new database on the server of ``dsn``, else of the
    environment variable ``AWAITFLOW_POSTGRES_DSN``, else of
    ``postgresql://postgres@127.0.0.1:5432/postgres``). ``database`` is a name
    prefix: two databases asked for with the same one are still distinct.
    ``schema`` is SQL text, or a path to a ``.sql`` file, applied once to a
    template that every later database with the same schema copies.
    """
    if engine not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown database engine {engine!r}; expected 'sqlite' or 'postgresql'")
    if engine == "sqlite" and dsn is not None:
        raise ValueError("dsn= applies to engine='postgresql' only, not to 'sqlite'")
    prefix = _sanitize_prefix(database)
    loaded = _load_schema(schema)
    if engine == "sqlite":
        return await _create_sqlite(prefix, loaded)
    return await _create_postgres(_resolve_dsn(dsn), prefix, loaded)


# --------------------------------------------------------------------------- SQLite


@dataclass
class _SqliteProcessState:
    """The temporary directory of this process's SQLite databases and templates."""

    pid: int
    directory: Path
    templates: dict[str, Path] = field(default_factory=dict)


_sqlite_state: _SqliteProcessState | None = None
_sqlite_state_lock = threading.Lock()
_sqlite_template_lock = threading.Lock()


def _sqlite_process_state() -> _SqliteProcessState:
    global _sqlite_state
    with _sqlite_state_lock:
        if _sqlite_state is None or _sqlite_state.pid != os.getpid():
            _remove_sqlite_leftovers()
            directory = Path(tempfile.mkdtemp(prefix=f"awaitflow-sqlite-{os.getpid()}-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            _sqlite_state = _SqliteProcessState(os.getpid(), directory)
        return _sqlite_state


def _remove_sqlite_leftovers() -> None:
    """Remove the SQLite directories of processes that are gone."""
    root = Path(tempfile.gettempdir())
    for entry in root.glob("awaitflow-sqlite-*"):
        match = _SQLITE_DIR_RE.match(entry.name)
        if match and entry.is_dir() and not _pid_alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)


def _build_sqlite_template(state: _SqliteProcessState, schema: _Schema) -> Path:
    import sqlite3

    with _sqlite_template_lock:
        existing = state.templates.get(schema.digest)
        if existing is not None and existing.exists():
            return existing
        path = state.directory / f"template-{schema.digest}.sqlite3"
        building = path.with_suffix(".building")
        building.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(building)
            try:
                # The template is a throwaway file: durability is not needed while building it.
                conn.execute("PRAGMA synchronous = OFF")
                conn.executescript(schema.sql)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            building.unlink(missing_ok=True)
            exc.add_note(f"while applying the {schema.source} to a SQLite test database")
            raise
        building.replace(path)
        state.templates[schema.digest] = path
        return path


async def _create_sqlite(prefix: str, schema: _Schema | None) -> SqliteTestDatabase:
    state = _sqlite_process_state()
    template = None
    if schema is not None:
        template = state.templates.get(schema.digest)
        if template is None or not template.exists():
            template = await asyncio.to_thread(_build_sqlite_template, state, schema)
    while True:
        name = f"{prefix}_{worker_id()}_{secrets.token_hex(4)}"
        path = state.directory / f"{name}.sqlite3"
        try:
            _new_sqlite_file(path, template)
        except FileExistsError:
            continue
        return SqliteTestDatabase(name, path)


def _new_sqlite_file(path: Path, template: Path | None) -> None:
    """Create ``path``: a copy of ``template``, or an empty file (an empty SQLite database)."""
    if template is None:
        path.touch(exist_ok=False)
        return
    with template.open("rb") as source:
        target = path.open("xb")
        try:
            with target:
                shutil.copyfileobj(source, target)
        except BaseException:
            path.unlink(missing_ok=True)
            raise


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --------------------------------------------------------------------------- PostgreSQL


def _resolve_dsn(dsn: str | None) -> str:
    origin = "dsn="
    if dsn is None:
        origin = f"the environment variable {POSTGRES_DSN_ENV}"
        dsn = os.environ.get(POSTGRES_DSN_ENV) or DEFAULT_POSTGRES_DSN
    if not isinstance(dsn, str):
        raise TypeError(f"dsn must be a str, got {type(dsn).__name__}")
    if urlsplit(dsn).scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"a PostgreSQL DSN must be a postgresql:// URL, got {_mask_dsn(dsn)!r} from {origin}"
        )
    return dsn


def _mask_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***``."""
    parts = urlsplit(dsn)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at:
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostinfo}" if colon else netloc
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*/")))


def _dsn_for_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("dbname", "database")]
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query, safe="/")))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _connect(dsn: str) -> Any:
    asyncpg = _asyncpg()
    try:
        return await asyncpg.connect(
            dsn, timeout=CONNECT_TIMEOUT, server_settings={"application_name": "awaitflow-test"}
        )
    except (OSError, asyncpg.CannotConnectNowError) as exc:
        masked = _mask_dsn(dsn)
        raise ServerUnavailableError(
            f"cannot connect to PostgreSQL at {masked} ({describe_error(exc)}). "
            "Start a server, e.g. `pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start`, or point dsn= or the environment "
            f"variable {POSTGRES_DSN_ENV} at a running one.",
            target=masked,
        ) from exc
    except asyncpg.PostgresError as exc:
        exc.add_note(f"while connecting to PostgreSQL at {_mask_dsn(dsn)}")
        raise


@contextlib.asynccontextmanager
async def _connection(dsn: str) -> AsyncIterator[Any]:
    """A connection that is closed on exit, or killed when the block failed."""
    conn = await _connect(dsn)
    try:
        yield conn
    except BaseException:
        conn.terminate()
        raise
    try:
        await conn.close(timeout=CONNECT_TIMEOUT)
    except BaseException:
        conn.terminate()
        raise


async def _end_sessions(conn: Any, name: str, polls: int = 200) -> bool:
    """End the sessions connected to ``name``; True once none is left (5 ms polls)."""
    others = "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
    await conn.execute(f"SELECT pg_terminate_backend(pid) {others}", name)
    for _poll in range(polls):
        if not await conn.fetchval(f"SELECT count(*) {others}", name):
            return True
        await asyncio.sleep(0.005)
    return False


async def _drop_database(conn: Any, name: str, *, force: bool | None = None) -> None:
    """Drop ``name`` if it exists, terminating the connections still open to it."""
    asyncpg = _asyncpg()
    if force is None:
        force = conn.get_server_version().major >= 13
    if force:
        # WITH (FORCE) waits for the sessions it ends in 100 ms steps; ending them here
        # and watching them go takes a few ms. FORCE stays the fallback.
        if await _end_sessions(conn, name):
            with contextlib.suppress(asyncpg.ObjectInUseError):
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")
                return
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
        return
    # Before PostgreSQL 13: refuse new connections, end the open ones, then drop.
    with contextlib.suppress(asyncpg.InvalidCatalogNameError):
        await conn.execute(f"ALTER DATABASE {_quote(name)} WITH ALLOW_CONNECTIONS false")
    for _attempt in range(50):
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")
        except asyncpg.ObjectInUseError:
            await asyncio.sleep(0.05)
        else:
            return
    raise RuntimeError(f"could not drop test database {name!r}: connections to it keep coming")


async def _drop_quietly(dsn: str, name: str) -> None:
    with contextlib.suppress(Exception):
        async with _connection(dsn) as conn:
            await _drop_database(conn, name)


def _new_database_name(prefix: str, pid: int | None = None) -> str:
    """``aftest_<prefix>_<worker>_<host>_<pid>_<token>``, at most 63 characters."""
    pid = os.getpid() if pid is None else pid
    tail = f"_{worker_id()}_{_HOST_TAG}_{pid}_{secrets.token_hex(4)}"
    room = _MAX_IDENTIFIER - len(_MARKER) - len(tail)
    return f"{_MARKER}{prefix[:room].rstrip('_') or _DEFAULT_PREFIX}{tail}"


def _creator_comment() -> str:
    return json.dumps(
        {
            "awaitflow": "test database",
            "host": socket.gethostname(),
            "boot": _BOOT_ID,
            "pid": os.getpid(),
            "run": _RUN_TOKEN,
            "worker": worker_id(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def _is_leftover(name: str, comment: str | None) -> bool:
    """Whether ``name`` is a test database whose creating process is gone."""
    match = _NAME_RE.match(name)
    if match is None or match["host"] != _HOST_TAG:
        return False
    pid = int(match["pid"])
    try:
        info = json.loads(comment) if comment else {}
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    if _BOOT_ID and info.get("boot") and info["boot"] != _BOOT_ID:
        return True  # created before this machine last booted
    if pid == os.getpid():
        return bool(info.get("run")) and info["run"] != _RUN_TOKEN
    return not _pid_alive(pid)


def _advisory_key(name: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"awaitflow:{name}".encode()).digest()[:8], "big", signed=True
    )


async def drop_leftover_databases(dsn: str | None = None, *, templates: bool = False) -> list[str]:
    """Drop the test databases that crashed processes of this host left on the server.

    A database is a leftover when its name has the ``aftest_`` marker and this
    host's tag, and the process that created it is no longer alive (or ran
    before the machine last booted). Databases of live processes and of other
    hosts are never touched. With ``templates=True`` the schema templates
    (``aftest_tpl_*``) are dropped too; they are rebuilt on next use. Returns
    the names dropped.
    """
    asyncpg = _asyncpg()
    dsn = _resolve_dsn(dsn)
    dropped: list[str] = []
    async with _connection(dsn) as conn:
        rows = await conn.fetch(
            "SELECT datname, shobj_description(oid, 'pg_database') AS comment "
            "FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
            _MARKER,
        )
        for row in rows:
            name: str = row["datname"]
            if _TEMPLATE_RE.match(name):
                if templates and await _drop_template(conn, dsn, name):
                    dropped.append(name)
            elif _is_leftover(name, row["comment"]):
                with contextlib.suppress(asyncpg.PostgresError):
                    await _drop_database(conn, name)
                    dropped.append(name)
    return dropped


async def _drop_template(conn: Any, dsn: str, name: str) -> bool:
    """Drop a template unless someone is building it right now."""
    asyncpg = _asyncpg()
    key = _advisory_key(name)
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
        return False
    try:
        with contextlib.suppress(asyncpg.InvalidCatalogNameError):
            await conn.execute(f"ALTER DATABASE {_quote(name)} WITH IS_TEMPLATE false")
        await _drop_database(conn, name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", key)
    _ready_templates.discard((dsn, name))
    return True


# Servers swept for leftovers by this process, and templates known to be complete.
_swept_servers: set[str] = set()
_ready_templates: set[tuple[str, str]] = set()
_template_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _template_lock(name: str) -> asyncio.Lock:
    locks = _template_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(name, asyncio.Lock())


async def _ensure_template(dsn: str, schema: _Schema) -> str:
    """The name of a complete template database holding ``schema``, built if needed.

    Within a process an asyncio lock, across processes a PostgreSQL advisory
    lock, make sure one creator builds it while the others wait. A template is
    complete once it is marked ``IS_TEMPLATE``; one that is not (its builder
    crashed) is dropped and built again.
    """
    name = f"{_MARKER}tpl_{schema.digest}"
    if (dsn, name) in _ready_templates:
        return name
    async with _template_lock(name):
        if (dsn, name) in _ready_templates:
            return name
        async with _connection(dsn) as conn:
            try:
                await conn.execute(
                    "SELECT pg_advisory_lock($1)",
                    _advisory_key(name),
                    timeout=TEMPLATE_LOCK_TIMEOUT,
                )
            except TimeoutError:
                raise TimeoutError(
                    f"waited {TEMPLATE_LOCK_TIMEOUT:g}s for another process to finish building "
                    f"the template database {name!r} on {_mask_dsn(dsn)}"
                ) from None
            is_template = await conn.fetchval(
                "SELECT datistemplate FROM pg_database WHERE datname = $1", name
            )
            if not is_template:
                if is_template is not None:
                    await _drop_database(conn, name)
                await _build_template(conn, dsn, name, schema)
            # Closing the admin connection releases the advisory lock.
        _ready_templates.add((dsn, name))
    return name


async def _build_template(conn: Any, dsn: str, name: str, schema: _Schema) -> None:
    asyncpg = _asyncpg()
    await conn.execute(f"CREATE DATABASE {_quote(name)}")
    try:
        try:
            async with _connection(_dsn_for_database(dsn, name)) as target:
                await target.execute(schema.sql)
        except asyncpg.PostgresError as exc:
            exc.add_note(f"while applying the {schema.source} to template database {name!r}")
            raise
        comment = json.dumps(
            {
                "awaitflow": "schema template",
                "schema": schema.source,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        await conn.execute(f"COMMENT ON DATABASE {_quote(name)} IS {_literal(comment)}")
        await conn.execute(
            f"ALTER DATABASE {_quote(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        )
    except BaseException:
        await _drop_quietly(dsn, name)
        raise


async def _create_postgres(dsn: str, prefix: str, schema: _Schema | None) -> PostgresTestDatabase:
    asyncpg = _asyncpg()
    if dsn not in _swept_servers:
        _swept_servers.add(dsn)  # first, so that concurrent first creations sweep once
        try:
            await drop_leftover_databases(dsn)
        except BaseException:
            _swept_servers.discard(dsn)
            raise
    template = await _ensure_template(dsn, schema) if schema is not None else None
    try:
        name = await _create_database(dsn, prefix, template)
    except asyncpg.InvalidCatalogNameError:
        if template is None or schema is None:
            raise
        # The template was dropped since this process built it: build it again.
        _ready_templates.discard((dsn, template))
        template = await _ensure_template(dsn, schema)
        name = await _create_database(dsn, prefix, template)
    return PostgresTestDatabase(name, dsn)


async def _finish_before_cancelling(statement: Awaitable[Any]) -> Any:
    """Await ``statement``; when cancelled meanwhile, let it finish first, then re-raise.

    A cancelled ``CREATE DATABASE`` may still complete on the server after the
    client gave up; waiting for its outcome lets the caller drop what it made.
    """
    task = asyncio.ensure_future(statement)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller sees
        raise


async def _create_database(dsn: str, prefix: str, template: str | None) -> str:
    asyncpg = _asyncpg()
    clause = f" TEMPLATE {_quote(template)}" if template else ""
    attempted: str | None = None
    try:
        async with _connection(dsn) as conn:
            for attempt in range(1, _CREATE_ATTEMPTS + 1):
                name = _new_database_name(prefix)
                attempted = name
                try:
                    await _finish_before_cancelling(
                        conn.execute(f"CREATE DATABASE {_quote(name)}{clause}")
                    )
                except (asyncpg.DuplicateDatabaseError, asyncpg.ObjectInUseError) as exc:
                    # A name taken by someone else (never drop it), or "source database
                    # is being accessed by other users": someone is connected to the
                    # template (template1 cannot lock them out). Try again shortly.
                    attempted = None
                    if attempt == _CREATE_ATTEMPTS:
                        exc.add_note(
                            f"gave up creating a test database after {attempt} tries: sessions "
                            f"connected to {template or 'template1'!r} keep it in use"
                        )
                        raise
                    await asyncio.sleep(0.1)
                    continue
                comment = _literal(_creator_comment())
                await conn.execute(f"COMMENT ON DATABASE {_quote(name)} IS {comment}")
                return name
            raise AssertionError("unreachable")
    except BaseException:
        if attempted is not None:
            # The server may have created it before the failure (or cancellation) reached us.
            await _drop_quietly(dsn, attempted)
        raise
