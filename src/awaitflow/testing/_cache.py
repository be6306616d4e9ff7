"""Test caches: an in-memory one, and a real Redis isolated by a key prefix.

Both backends behave the same: keys are strings, values are stored as JSON (so
what ``get`` returns is what ``json.loads(json.dumps(value))`` gives: tuples come
back as lists, dict keys as strings), a value that is not JSON raises
``TypeError`` naming the key, and every call is recorded for ``get_calls()``.

Time: the memory backend measures TTLs on the running event loop's clock, so a
virtual clock installed on the loop moves its expiries too. Redis expires keys
on the server, in real time, whatever clock the test's loop follows.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Self, overload

from ._databases import ServerUnavailableError, describe_error, worker_id

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_REDIS_URL",
    "BaseTestCache",
    "CacheCall",
    "MemoryTestCache",
    "RedisTestCache",
    "create_test_cache",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""The Redis server used when neither ``url=`` nor ``AWAITFLOW_REDIS_URL`` is set."""

REDIS_URL_ENV = "AWAITFLOW_REDIS_URL"
CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 10.0
_SCAN_BATCH = 500


class CacheCall(NamedTuple):
    """One recorded call of a test cache: ``method`` name, positional ``args``, ``kwargs``.

    ``args`` holds the key (and the value, for ``set``); ``kwargs`` holds the
    optional arguments that were not at their default (``ttl``, ``default``).
    """

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class BaseTestCache:
    """An async key-value cache for tests that records its calls.

    ``get``, ``set``, ``delete``, ``exists``, ``clear`` and ``keys`` are recorded
    (see ``get_calls``); ``cleanup()`` (alias ``aclose()``, also run on leaving
    ``async with``) removes every key of the cache and releases what it holds.
    After cleanup the recorded calls stay readable, and any other use raises
    ``RuntimeError``.
    """

    backend: ClassVar[str]
    METHODS: ClassVar[tuple[str, ...]] = ("get", "set", "delete", "exists", "clear", "keys")

    def __init__(self) -> None:
        self._calls: list[CacheCall] = []
        self._cleaned_up = False

    # -- the cache ------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none (or it expired)."""
        self._record("get", (key,), default=default)
        self._check_key(key)
        data = await self._get(key)
        return default if data is None else json.loads(data)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` (any JSON value) under ``key``; it expires after ``ttl`` seconds."""
        self._record("set", (key, value), ttl=ttl)
        self._check_key(key)
        if ttl is not None and (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not math.isfinite(ttl)
            or ttl <= 0
        ):
            raise ValueError(
                f"ttl for cache key {key!r} must be a positive number of seconds or None, "
                f"got {ttl!r}"
            )
        try:
            data = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"cannot cache the {type(value).__name__} value of key {key!r}: {exc}; "
                "a test cache stores JSON values (dict, list, str, int, float, bool, None)"
            ) from None
        await self._set(key, data, ttl)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        self._record("delete", (key,))
        self._check_key(key)
        return await self._delete(key)

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        self._record("exists", (key,))
        self._check_key(key)
        return await self._exists(key)

    async def clear(self) -> None:
        """Remove every key of this cache (and only of this cache)."""
        self._record("clear", ())
        self._check_open()
        await self._clear()

    async def keys(self) -> list[str]:
        """The keys of this cache that hold a value, sorted, without any prefix."""
        self._record("keys", ())
        self._check_open()
        return sorted(await self._keys())

    # -- recording and lifecycle ------------------------------------------------------------

    def get_calls(self, method: str | None = None) -> list[CacheCall]:
        """The recorded calls in order; with ``method``, only the calls of that method."""
        if method is None:
            return list(self._calls)
        if method not in self.METHODS:
            raise ValueError(
                f"test caches record no method {method!r}; "
                f"recorded methods: {', '.join(self.METHODS)}"
            )
        return [call for call in self._calls if call.method == method]

    @property
    def cleaned_up(self) -> bool:
        """Whether ``cleanup()`` has run."""
        return self._cleaned_up

    async def cleanup(self) -> None:
        """Remove this cache's keys and release its connections; later calls do nothing."""
        if self._cleaned_up:
            return
        self._cleaned_up = True
        try:
            await self._close()
        except BaseException:
            self._cleaned_up = False
            raise

    async def aclose(self) -> None:
        """Same as ``cleanup()``, so a runtime cleans the cache up as a resource."""
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

    def _record(self, method: str, args: tuple[Any, ...], **optional: Any) -> None:
        # Every optional argument defaults to None; only those given otherwise are kept.
        kwargs = {name: value for name, value in optional.items() if value is not None}
        self._calls.append(CacheCall(method, args, kwargs))

    def _check_open(self) -> None:
        if self._cleaned_up:
            raise RuntimeError(f"{self!r} was cleaned up; create a new test cache")

    def _check_key(self, key: object) -> None:
        if not isinstance(key, str):
            raise TypeError(f"cache keys must be str, got {type(key).__name__} {key!r}")
        self._check_open()

    # -- what a backend provides: JSON text in and out --------------------------------------

    async def _get(self, key: str) -> str | None:
        raise NotImplementedError

    async def _set(self, key: str, data: str, ttl: float | None) -> None:
        raise NotImplementedError

    async def _delete(self, key: str) -> bool:
        raise NotImplementedError

    async def _exists(self, key: str) -> bool:
        raise NotImplementedError

    async def _clear(self) -> None:
        raise NotImplementedError

    async def _keys(self) -> list[str]:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class MemoryTestCache(BaseTestCache):
    """A test cache in a dict of this process.

    Values are kept as JSON text, so mutating an object after ``set`` (or one
    ``get`` returned) never changes what the cache holds. TTLs follow the
    running event loop's clock (``loop.time()``): under a virtual clock they
    expire in virtual time.
    """

    backend: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[str, tuple[str, float | None]] = {}

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        data, expires_at = entry
        if expires_at is not None and self._now() >= expires_at:
            del self._data[key]
            return None
        return data

    async def _get(self, key: str) -> str | None:
        return self._live(key)

    async def _set(self, key: str, data: str, ttl: float | None) -> None:
        self._data[key] = (data, None if ttl is None else self._now() + ttl)

    async def _delete(self, key: str) -> bool:
        existed = self._live(key) is not None
        self._data.pop(key, None)
        return existed

    async def _exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def _clear(self) -> None:
        self._data.clear()

    async def _keys(self) -> list[str]:
        return [key for key in list(self._data) if self._live(key) is not None]

    async def _close(self) -> None:
        self._data.clear()

    def __repr__(self) -> str:
        state = " (cleaned up)" if self._cleaned_up else f" with {len(self._data)} keys"
        return f"<{type(self).__name__}{state}>"


class RedisTestCache(BaseTestCache):
    """A test cache on a real Redis server, isolated by a unique key prefix.

    Every key is stored as ``prefix + key``, with ``prefix`` =
    ``awaitflow:test:<xdist worker or main>:<random>:``; ``clear()`` and
    ``cleanup()`` delete only keys under that prefix. ``cleanup()`` also closes
    the connection pool: no connection outlives it. TTLs are set in
    milliseconds (``PX``) and expire on the server, in real time. Make one with
    ``await create_test_cache("redis", url)``.
    """

    backend: ClassVar[str] = "redis"

    def __init__(self, client: aioredis.Redis, url: str, prefix: str) -> None:
        super().__init__()
        self.client = client
        self.url = url
        self.prefix = prefix

    async def _get(self, key: str) -> str | None:
        data: str | bytes | None = await self.client.get(self.prefix + key)
        return data.decode() if isinstance(data, bytes) else data

    async def _set(self, key: str, data: str, ttl: float | None) -> None:
        px = None if ttl is None else max(1, round(ttl * 1000))
        await self.client.set(self.prefix + key, data, px=px)

    async def _delete(self, key: str) -> bool:
        return bool(await self.client.delete(self.prefix + key))

    async def _exists(self, key: str) -> bool:
        return bool(await self.client.exists(self.prefix + key))

    async def _own_keys(self) -> list[str]:
        """Every Redis key under this cache's prefix (SCAN, never KEYS)."""
        return [
            key async for key in self.client.scan_iter(match=self.prefix + "*", count=_SCAN_BATCH)
        ]

    async def _clear(self) -> None:
        keys = await self._own_keys()
        for start in range(0, len(keys), _SCAN_BATCH):
            await self.client.delete(*keys[start : start + _SCAN_BATCH])

    async def _keys(self) -> list[str]:
        return [key.removeprefix(self.prefix) for key in await self._own_keys()]

    async def _close(self) -> None:
        try:
            await self._clear()
        finally:
            await self.client.aclose(close_connection_pool=True)

    def __repr__(self) -> str:
        state = " (cleaned up)" if self._cleaned_up else ""
        return f"<{type(self).__name__} {self.prefix!r} on {_mask_url(self.url)}{state}>"


def _mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostinfo = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}:***@{hostinfo}" if colon else f"{scheme}://:***@{hostinfo}"


@overload
async def create_test_cache(
    backend: Literal["memory"] = "memory", url: None = None
) -> MemoryTestCache: ...


@overload
async def create_test_cache(
    backend: Literal["redis"], url: str | None = None
) -> RedisTestCache: ...


@overload
async def create_test_cache(backend: str, url: str | None = None) -> BaseTestCache: ...


async def create_test_cache(backend: str = "memory", url: str | None = None) -> BaseTestCache:
    """A fresh test cache: ``"memory"`` (the default) or a real ``"redis"``.

    For Redis, ``url`` defaults to the environment variable
    ``AWAITFLOW_REDIS_URL``, else ``redis://127.0.0.1:6379/0``. The server is
    pinged before the cache is returned: an unreachable one raises
    ``ServerUnavailableError`` within a few seconds instead of hanging.
    """
    if backend == "memory":
        if url is not None:
            raise ValueError("url= applies to backend='redis' only, not to 'memory'")
        return MemoryTestCache()
    if backend == "redis":
        return await _create_redis_cache(url)
    raise ValueError(f"unknown cache backend {backend!r}; expected 'memory' or 'redis'")


async def _create_redis_cache(url: str | None) -> RedisTestCache:
    # Imported here: redis.asyncio takes a third of a second to import.
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if url is None:
        url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    token = secrets.token_hex(6)
    prefix = f"awaitflow:test:{worker_id()}:{token}:"
    client = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        client_name=f"awaitflow-test-{worker_id()}-{token}",
    )
    try:
        await client.ping()
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        if isinstance(exc, AuthenticationError):
            await client.aclose(close_connection_pool=True)
            exc.add_note(f"while connecting to Redis at {_mask_url(url)}")
            raise
        await client.aclose(close_connection_pool=True)
        masked = _mask_url(url)
        raise ServerUnavailableError(
            f"cannot connect to Redis at {masked} ({describe_error(exc)}). "
            "Start a server, e.g. `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 "
            '--save "" --appendonly no`, or point url= or the environment variable '
            f"{REDIS_URL_ENV} at a running one.",
            target=masked,
        ) from exc
    except BaseException as exc:
        await client.aclose(close_connection_pool=True)
        if isinstance(exc, Exception):
            exc.add_note(f"while connecting to Redis at {_mask_url(url)}")
        raise
    return RedisTestCache(client, url, prefix)
