"""Test caches: the memory backend and a real Redis, which must behave alike."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from awaitflow.testing._cache import (
    DEFAULT_REDIS_URL,
    BaseTestCache,
    CacheCall,
    MemoryTestCache,
    RedisTestCache,
    create_test_cache,
)
from awaitflow.testing._databases import ServerUnavailableError

MakeRedisCache = Callable[[], Awaitable[RedisTestCache]]


@pytest_asyncio.fixture
async def make_redis_cache() -> AsyncIterator[MakeRedisCache]:
    """Make Redis test caches (skipping when no server answers); clean them all up after."""
    made: list[RedisTestCache] = []

    async def make() -> RedisTestCache:
        try:
            cache = await create_test_cache("redis")
        except ServerUnavailableError as exc:
            pytest.skip(f"the Redis server is unreachable: {exc}")
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.cleanup()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, make_redis_cache: MakeRedisCache) -> BaseTestCache:
    """A test cache of each backend."""
    if request.param == "memory":
        return await create_test_cache("memory")
    return await make_redis_cache()


@pytest_asyncio.fixture
async def raw_redis() -> AsyncIterator[aioredis.Redis]:
    """A plain Redis client, to look behind a test cache's back."""
    client = aioredis.Redis.from_url(DEFAULT_REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- both backends


@pytest.mark.asyncio
async def test_get_of_a_missing_key_returns_the_default(cache: BaseTestCache) -> None:
    """get() of a key never set returns None, or the default given."""
    assert await cache.get("missing") is None
    assert await cache.get("missing", default=7) == 7


@pytest.mark.asyncio
async def test_json_values_round_trip(cache: BaseTestCache) -> None:
    """Every JSON value comes back equal; tuples come back as lists, as JSON has it."""
    value = {"s": "é", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, {"x": []}], "t": (1, 2)}
    await cache.set("k", value)
    assert await cache.get("k") == {**value, "t": [1, 2]}
    for scalar in ["text", 0, -2.5, False, None, []]:
        await cache.set("scalar", scalar)
        assert await cache.get("scalar", default="absent") == scalar


@pytest.mark.asyncio
async def test_a_stored_value_does_not_follow_later_mutation(cache: BaseTestCache) -> None:
    """The cache keeps a copy: changing the original or a returned value changes nothing."""
    original = {"items": [1]}
    await cache.set("k", original)
    original["items"].append(2)
    fetched = await cache.get("k")
    fetched["items"].append(3)
    assert await cache.get("k") == {"items": [1]}


@pytest.mark.asyncio
async def test_a_non_json_value_is_refused_naming_the_key(cache: BaseTestCache) -> None:
    """set() of a value JSON cannot hold raises TypeError naming the key; nothing is stored."""
    with pytest.raises(TypeError, match=r"cannot cache the set value of key 'users'.*JSON"):
        await cache.set("users", {1, 2})
    assert not await cache.exists("users")


@pytest.mark.asyncio
async def test_a_non_str_key_is_refused(cache: BaseTestCache) -> None:
    """Keys are strings on both backends."""
    with pytest.raises(TypeError, match=r"cache keys must be str, got int 5"):
        await cache.set(5, "v")  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.parametrize("ttl", [0, -1.0, float("nan"), "1", True])
async def test_a_bad_ttl_is_refused(cache: BaseTestCache, ttl: object) -> None:
    """A TTL must be a positive number of seconds."""
    with pytest.raises(ValueError, match=r"ttl for cache key 'k' must be a positive number"):
        await cache.set("k", 1, ttl=ttl)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_a_value_expires_after_its_ttl(cache: BaseTestCache) -> None:
    """A key set with a TTL is there before it runs out and gone after."""
    await cache.set("short", "v", ttl=0.2)
    await cache.set("forever", "v")
    assert await cache.get("short") == "v"
    await asyncio.sleep(0.25)
    assert await cache.get("short") is None
    assert not await cache.exists("short")
    assert await cache.keys() == ["forever"]


@pytest.mark.asyncio
async def test_delete_tells_whether_the_key_existed(cache: BaseTestCache) -> None:
    """delete() returns True for a stored key, then False."""
    await cache.set("k", 1)
    assert await cache.delete("k") is True
    assert await cache.delete("k") is False
    assert await cache.get("k") is None


@pytest.mark.asyncio
async def test_keys_lists_the_keys_sorted_without_prefix(cache: BaseTestCache) -> None:
    """keys() gives the user's keys, sorted, with no backend prefix."""
    for key in ["b", "a:1", "c*"]:
        await cache.set(key, key)
    assert await cache.keys() == ["a:1", "b", "c*"]


@pytest.mark.asyncio
async def test_clear_removes_every_key(cache: BaseTestCache) -> None:
    """clear() empties the cache."""
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.clear()
    assert await cache.keys() == []
    assert not await cache.exists("a")


@pytest.mark.asyncio
async def test_calls_are_recorded_in_order(cache: BaseTestCache) -> None:
    """Each call is a CacheCall; optional arguments appear only when given."""
    await cache.set("k", [1], ttl=5.0)
    await cache.set("j", 2)
    await cache.get("k")
    await cache.get("x", default=0)
    await cache.exists("k")
    await cache.delete("j")
    await cache.keys()
    await cache.clear()
    assert cache.get_calls() == [
        CacheCall("set", ("k", [1]), {"ttl": 5.0}),
        CacheCall("set", ("j", 2), {}),
        CacheCall("get", ("k",), {}),
        CacheCall("get", ("x",), {"default": 0}),
        CacheCall("exists", ("k",), {}),
        CacheCall("delete", ("j",), {}),
        CacheCall("keys", (), {}),
        CacheCall("clear", (), {}),
    ]


@pytest.mark.asyncio
async def test_get_calls_filters_by_method(cache: BaseTestCache) -> None:
    """get_calls(method) keeps only that method's calls."""
    await cache.set("k", 1)
    await cache.get("k")
    await cache.get("j")
    assert [call.args for call in cache.get_calls("get")] == [("k",), ("j",)]
    assert cache.get_calls("delete") == []


@pytest.mark.asyncio
async def test_get_calls_refuses_an_unknown_method(cache: BaseTestCache) -> None:
    """A misspelt method name is an error listing the recorded methods."""
    with pytest.raises(ValueError, match=r"no method 'gets'; recorded methods: get, set"):
        cache.get_calls("gets")


@pytest.mark.asyncio
async def test_a_failed_call_is_recorded_too(cache: BaseTestCache) -> None:
    """A call that raised is still in the record."""
    with pytest.raises(TypeError):
        await cache.set("k", object())
    assert [call.method for call in cache.get_calls()] == ["set"]


@pytest.mark.asyncio
async def test_a_cleaned_up_cache_refuses_use_but_keeps_its_record(cache: BaseTestCache) -> None:
    """After cleanup() the cache is empty and closed; get_calls() still answers."""
    await cache.set("k", 1)
    await cache.cleanup()
    await cache.cleanup()
    assert cache.cleaned_up
    assert len(cache.get_calls()) == 1
    with pytest.raises(RuntimeError, match=r"was cleaned up; create a new test cache"):
        await cache.get("k")
    with pytest.raises(RuntimeError, match=r"was cleaned up"):
        await cache.keys()


@pytest.mark.asyncio
async def test_async_with_and_aclose_clean_up(cache: BaseTestCache) -> None:
    """Leaving ``async with`` cleans the cache up; aclose() is the same as cleanup()."""
    async with cache as entered:
        assert entered is cache
        await cache.set("k", 1)
    assert cache.cleaned_up
    await cache.aclose()


# --------------------------------------------------------------------------- memory backend


@pytest.mark.asyncio
async def test_memory_ttl_follows_the_event_loop_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expiry is measured on loop.time(), so a virtual clock on the loop drives it."""
    loop = asyncio.get_running_loop()
    now = [1000.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    cache = MemoryTestCache()
    await cache.set("k", "v", ttl=10.0)
    now[0] += 9.999
    assert await cache.exists("k")
    now[0] += 0.001
    assert not await cache.exists("k")


@pytest.mark.asyncio
async def test_memory_cleanup_empties_it() -> None:
    """cleanup() of the memory backend drops its data."""
    cache = MemoryTestCache()
    await cache.set("k", 1)
    await cache.cleanup()
    assert cache._data == {}


@pytest.mark.asyncio
async def test_create_test_cache_checks_its_arguments() -> None:
    """An unknown backend, or a url for the memory backend, is refused."""
    with pytest.raises(ValueError, match=r"unknown cache backend 'memcached'; expected 'memory'"):
        await create_test_cache("memcached")
    with pytest.raises(ValueError, match=r"url= applies to backend='redis' only"):
        await create_test_cache("memory", "redis://x")


# --------------------------------------------------------------------------- Redis backend


@pytest.mark.asyncio
async def test_redis_caches_with_the_same_keys_do_not_see_each_other(
    make_redis_cache: MakeRedisCache,
) -> None:
    """Two Redis caches on one server are isolated by their prefixes."""
    first, second = await make_redis_cache(), await make_redis_cache()
    await first.set("user", "first")
    await second.set("user", "second")
    await second.set("only-second", 1)
    assert await first.get("user") == "first"
    assert await first.keys() == ["user"]
    await first.clear()
    assert await second.keys() == ["only-second", "user"]


@pytest.mark.asyncio
async def test_redis_prefix_names_the_xdist_worker(
    make_redis_cache: MakeRedisCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys live under ``awaitflow:test:<worker>:<random>:``."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    cache = await make_redis_cache()
    assert re.fullmatch(r"awaitflow:test:gw3:[0-9a-f]{12}:", cache.prefix)


@pytest.mark.asyncio
async def test_redis_cleanup_leaves_other_keys_alone(
    make_redis_cache: MakeRedisCache, raw_redis: aioredis.Redis
) -> None:
    """cleanup() deletes the cache's keys and no key outside its prefix."""
    cache, neighbour = await make_redis_cache(), await make_redis_cache()
    foreign = f"awaitflow-foreign:{secrets.token_hex(4)}"
    await raw_redis.set(foreign, "keep", ex=60)
    try:
        await cache.set("a", 1)
        await cache.set("b", 2, ttl=30)
        await neighbour.set("a", "keep")
        await cache.cleanup()
        assert await raw_redis.get(foreign) == "keep"
        assert await neighbour.get("a") == "keep"
        assert [key async for key in raw_redis.scan_iter(match=cache.prefix + "*")] == []
    finally:
        await raw_redis.delete(foreign)


@pytest.mark.asyncio
async def test_redis_ttl_is_set_in_milliseconds(
    make_redis_cache: MakeRedisCache, raw_redis: aioredis.Redis
) -> None:
    """A float TTL becomes a PX expiry on the server; no TTL means no expiry."""
    cache = await make_redis_cache()
    await cache.set("k", 1, ttl=2.5)
    await cache.set("p", 1)
    assert 2000 < await raw_redis.pttl(cache.prefix + "k") <= 2500
    assert await raw_redis.pttl(cache.prefix + "p") == -1


@pytest.mark.asyncio
async def test_redis_clear_removes_more_keys_than_one_scan_batch(
    make_redis_cache: MakeRedisCache,
) -> None:
    """clear() deletes every key of the cache, however many."""
    cache = await make_redis_cache()
    async with cache.client.pipeline(transaction=False) as pipe:
        for i in range(1200):
            pipe.set(f"{cache.prefix}k{i}", "1")
        await pipe.execute()
    assert len(await cache.keys()) == 1200
    await cache.clear()
    assert await cache.keys() == []


@pytest.mark.asyncio
async def test_redis_cleanup_closes_every_connection(
    make_redis_cache: MakeRedisCache, raw_redis: aioredis.Redis
) -> None:
    """No connection of the cache is left on the server after cleanup()."""
    cache = await make_redis_cache()
    await asyncio.gather(*(cache.set(f"k{i}", i) for i in range(5)))
    name = cache.client.connection_pool.connection_kwargs["client_name"]

    async def connections() -> int:
        return sum(1 for client in await raw_redis.client_list() if client["name"] == name)

    assert await connections() >= 1
    await cache.cleanup()
    assert await connections() == 0


@pytest.mark.asyncio
async def test_an_unreachable_redis_is_a_clear_error() -> None:
    """A closed port fails at once, naming the URL (not its password) and how to start Redis."""
    with pytest.raises(ServerUnavailableError) as caught:
        await asyncio.wait_for(create_test_cache("redis", "redis://:s3cret@127.0.0.1:1/0"), 10)
    message = str(caught.value)
    assert "cannot connect to Redis at redis://:***@127.0.0.1:1/0" in message
    assert 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""' in message
    assert "s3cret" not in message
    assert isinstance(caught.value, ConnectionError)


@pytest.mark.asyncio
async def test_the_redis_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without url=, AWAITFLOW_REDIS_URL names the server."""
    monkeypatch.setenv("AWAITFLOW_REDIS_URL", "redis://127.0.0.1:1/3")
    with pytest.raises(
        ServerUnavailableError, match=r"at redis://127\.0\.0\.1:1/3 .*AWAITFLOW_REDIS"
    ):
        await create_test_cache("redis")
