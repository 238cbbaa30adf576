"""Cache and AsyncCache: URLs, secrets, the read/write API, stored format, unreadable values.

Conformance tests take the `cache` / `acache` fixtures, which run each test on the embedded
store and on a real redis-server (see the core fixtures in conftest.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import inspect
import logging
import time
import zlib
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachectl import (
    MISS,
    AsyncCache,
    BackendUnavailable,
    BreakerState,
    Cache,
    CacheConfig,
    Compression,
    ConfigError,
    SerializationError,
    redact_url,
)
from cachectl.backends.memory import MemoryStore
from cachectl.codec import MAGIC, VERSION
from cachectl.testing import PATIENT
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.usefixtures("watchdog")

SECRET = "s3cret-Pa55"

VALUES: dict[str, Any] = {
    "none": None,
    "int": 42,
    "str": "héllo",
    "bytes": b"\x00\xff",
    "datetime-naive": dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    "datetime-aware": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    "date": dt.date(2024, 1, 2),
    "uuid": UUID(int=7),
    "decimal": Decimal("10.50"),
    "set": {1, 2},
    "frozenset": frozenset({"a"}),
    "nested-tuple": (1, (2, ("three", b"4")), [5]),
    "dict": {"a": [1, (2,)], "b": {"c": None}},
}


def _type_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return (dict, sorted((repr(k), _type_tree(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value), [_type_tree(v) for v in value])
    return type(value)


def _unreadable() -> dict[str, bytes]:
    bomb = bytes((MAGIC, VERSION, Compression.ZLIB)) + zlib.compress(msgpack.packb("x" * 300_000))
    return {
        "foreign": msgpack.packb({"not": "ours"}),
        "pickle": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
        "truncated": bytes((MAGIC, VERSION, 0)) + msgpack.packb("hello world")[:-3],
        "corrupt-lz4": bytes((MAGIC, VERSION, Compression.LZ4)) + b"\xff\x00\x00\x00junk",
        "bomb": bomb,
        "empty": b"",
    }


def _raw_put(cache: Cache, key: str, data: bytes) -> None:
    cache.backend.set_many([(cache.keys.full(key), data)], None)


async def _araw_put(cache: AsyncCache, key: str, data: bytes) -> None:
    await cache.backend.set_many([(cache.keys.full(key), data)], None)


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, "", "memory://"])
def test_no_url_means_the_embedded_store(url: str | None) -> None:
    with Cache(url, namespace="embedded") as cache:
        assert cache.config.is_memory
        cache.set("k", 1)
        assert cache.get("k") == 1


@pytest.mark.parametrize("url", [None, "memory://"])
async def test_async_no_url_means_the_embedded_store(url: str | None) -> None:
    async with AsyncCache(url, namespace="embedded") as cache:
        assert cache.config.is_memory
        await cache.set("k", 1)
        assert await cache.get("k") == 1


def test_from_url_is_the_constructor(redis_url: str) -> None:
    with Cache.from_url(redis_url, namespace="fu", **PATIENT) as cache:
        cache.set("k", "v")
        assert cache.get("k") == "v"
        assert cache.namespace == "fu"


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "mysql://u:p@h/db", "redis-cluster://h"])
def test_unsupported_scheme_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="scheme"):
        Cache(url)


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sockettimeout"):
        Cache("memory://", sockettimeout=1)


@pytest.mark.parametrize("namespace", ["", "has space", "glob*", "hash#"])
def test_bad_namespace_is_a_config_error(namespace: str) -> None:
    with pytest.raises(ConfigError):
        Cache("memory://", namespace=namespace)


def test_cluster_url_and_option_select_the_cluster_client() -> None:
    assert CacheConfig("redis+cluster://127.0.0.1:7000/0").cluster is True
    assert CacheConfig("redis://127.0.0.1:7000/0", cluster=True).cluster is True
    assert CacheConfig("redis://127.0.0.1:7000/0").cluster is False


def test_unix_socket_url() -> None:
    with RedisServer(unix_socket=True) as server:
        assert server.unix_url is not None
        with Cache(server.unix_url, namespace="unix", **PATIENT) as cache:
            cache.set("k", {"v": 1})
            assert cache.get("k") == {"v": 1}
        with server.client() as raw:
            assert raw.exists(b"unix:k")


async def test_async_unix_socket_url() -> None:
    with RedisServer(unix_socket=True) as server:
        assert server.unix_url is not None
        async with AsyncCache(server.unix_url, namespace="unix", **PATIENT) as cache:
            await cache.set("k", [1])
            assert await cache.get("k") == [1]


def test_rediss_url_is_accepted_and_redacted() -> None:
    config = CacheConfig(f"rediss://user:{SECRET}@cache.example:6380/0")
    assert not config.is_memory
    assert SECRET not in repr(config)
    assert config.display_url == "rediss://user:***@cache.example:6380/0"


# -- secrets never shown ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:{{port}}/0",
        f"redis://alice:{SECRET}@127.0.0.1:{{port}}/0",
        f"redis://127.0.0.1:{{port}}/0?password={SECRET}",
        f"rediss://:{SECRET}@127.0.0.1:{{port}}/0",
        f"redis+cluster://:{SECRET}@127.0.0.1:{{port}}/0",
    ],
    ids=["password-only", "user-password", "query", "tls", "cluster"],
)
def test_password_is_never_in_repr(url: str) -> None:
    with Cache(url.format(port=free_port()), namespace="secret") as cache:
        assert SECRET not in repr(cache)
        assert SECRET not in repr(cache.config)
        assert SECRET not in str(cache.config)
        assert SECRET not in cache.config.display_url
        assert "***" in repr(cache)


def test_password_option_is_never_in_repr() -> None:
    config = CacheConfig("redis://127.0.0.1:1/0", password=SECRET)
    assert SECRET not in repr(config)
    with Cache("redis://127.0.0.1:1/0", namespace="secret", password=SECRET) as cache:
        assert SECRET not in repr(cache)


def test_password_is_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://alice:{SECRET}@127.0.0.1:{free_port()}/0"
    caplog.set_level(logging.DEBUG, logger="cachectl")
    with Cache(url, namespace="secret") as cache:
        with pytest.raises(BackendUnavailable) as caught:
            cache.ping()
        for _ in range(5):
            cache.set("k", 1)
            assert cache.get("k") == 1  # served by the fallback store
        assert cache.breaker_state is BreakerState.OPEN
    assert SECRET not in str(caught.value)
    assert "alice:***@" in str(caught.value)
    assert caplog.records, "an outage is logged"
    assert SECRET not in caplog.text
    assert all(SECRET not in repr(r.args) for r in caplog.records)


def test_config_error_does_not_show_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Cache(f"ftp://bob:{SECRET}@host/0")
    assert SECRET not in str(caught.value)


def test_wrong_password_is_an_outage_that_does_not_leak_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachectl")
    with RedisServer(["--requirepass", SECRET]) as server:
        good = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
        with Cache(good, namespace="auth", **PATIENT) as cache:
            cache.set("k", "v")
            assert cache.get("k") == "v"
        wrong = f"redis://:wr0ng-{SECRET}@127.0.0.1:{server.port}/0"
        with Cache(wrong, namespace="auth", **PATIENT) as cache:
            with pytest.raises(BackendUnavailable) as caught:
                cache.ping()
            assert cache.get("k", "fallback") == "fallback"
    assert SECRET not in str(caught.value)
    assert SECRET not in caplog.text


def test_redact_url() -> None:
    assert redact_url(f"redis://:{SECRET}@h:1/0") == "redis://:***@h:1/0"
    assert redact_url(f"redis://u:{SECRET}@h/0?db=1&password={SECRET}") == (
        "redis://u:***@h/0?db=1&password=***"
    )
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


# -- the read/write API on every backend -------------------------------------------------------


def test_sync_and_async_have_the_same_public_methods() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert public(Cache) <= public(AsyncCache)
    for name in (
        "get",
        "set",
        "delete",
        "get_many",
        "set_many",
        "invalidate_prefix",
        "invalidate_pattern",
        "invalidate_tag",
        "ping",
        "close",
    ):
        assert callable(getattr(Cache, name))
        assert inspect.iscoroutinefunction(getattr(AsyncCache, name)), name
    assert callable(Cache.stats) and callable(AsyncCache.stats)


def test_miss_returns_default(cache: Cache) -> None:
    assert cache.get("absent") is None
    assert cache.get("absent", "dflt") == "dflt"
    assert cache.get("absent", MISS) is MISS


def test_none_is_cached_distinguishably_from_a_miss(cache: Cache) -> None:
    cache.set("nothing", None)
    assert cache.get("nothing", MISS) is None
    assert cache.get("absent", MISS) is MISS
    assert cache.get_many(["nothing", "absent"]) == {"nothing": None}
    assert not MISS
    assert repr(MISS) == "MISS"


@pytest.mark.parametrize("name", list(VALUES))
def test_values_round_trip_through_the_backend(cache: Cache, name: str) -> None:
    cache.set(name, VALUES[name])
    got = cache.get(name, MISS)
    assert got == VALUES[name]
    assert _type_tree(got) == _type_tree(VALUES[name])


def test_aware_datetime_keeps_its_offset(cache: Cache) -> None:
    cache.set("when", VALUES["datetime-aware"])
    assert cache.get("when").utcoffset() == dt.timedelta(hours=-5)
    cache.set("naive", VALUES["datetime-naive"])
    assert cache.get("naive").tzinfo is None


def test_set_overwrites(cache: Cache) -> None:
    cache.set("k", 1)
    cache.set("k", 2)
    assert cache.get("k") == 2


def test_delete_returns_how_many_existed(cache: Cache) -> None:
    cache.set_many({"a": 1, "b": 2})
    assert cache.delete("a", "b", "absent") == 2
    assert cache.delete("a") == 0
    assert cache.delete() == 0
    assert cache.get("a", MISS) is MISS


def test_ttl_expires(cache: Cache) -> None:
    cache.set("short", 1, ttl=0.05)
    cache.set("long", 2, ttl=60)
    cache.set("forever", 3)
    time.sleep(0.3)
    assert cache.get("short", MISS) is MISS
    assert cache.get_many(["short", "long", "forever"]) == {"long": 2, "forever": 3}


def test_default_ttl_option(backend_url: str, namespace: str) -> None:
    with Cache(backend_url, namespace=namespace, default_ttl=0.05, **PATIENT) as cache:
        cache.set("k", 1)
        cache.set("kept", 1, ttl=60)
        time.sleep(0.3)
        assert cache.get("k", MISS) is MISS
        assert cache.get("kept") == 1


@pytest.mark.parametrize("ttl", [0, -1, 0.0])
def test_non_positive_ttl_is_a_config_error(cache: Cache, ttl: float) -> None:
    with pytest.raises(ConfigError):
        cache.set("k", 1, ttl=ttl)


def test_get_many_set_many(cache: Cache) -> None:
    cache.set_many({f"item:{i}": i for i in range(50)}, ttl=60)
    keys = [f"item:{i}" for i in range(60)]
    assert cache.get_many(keys) == {f"item:{i}": i for i in range(50)}
    assert cache.get_many([]) == {}
    assert cache.get_many(["item:1", "item:1"]) == {"item:1": 1}
    cache.set_many({})


KEY_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.text(
    st.sampled_from("ab:9_"), max_size=12
)
#: Keys of every kind get_many meets: ASCII text (the one-pass path), other text, bytes.
ANY_KEY = KEY_TEXT | st.binary(max_size=12) | st.from_regex(r"\Au:[0-9]{1,4}\Z")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=st.lists(ANY_KEY, max_size=20), absent=st.lists(ANY_KEY, max_size=8))
def test_get_many_answers_like_get_for_any_keys(
    cache: Cache, stored: list[Any], absent: list[Any]
) -> None:
    # Keys of one length in a row and of changing lengths, text and bytes, duplicates.
    if stored or absent:
        cache.delete(*stored, *absent)
    cache.set_many({key: [i, key] for i, key in enumerate(stored)})
    asked = [*stored, *absent, *stored[:3]]
    expected = {key: cache.get(key) for key in asked if cache.get(key, MISS) is not MISS}
    assert cache.get_many(asked) == expected


def test_get_many_of_keys_in_runs_of_one_length(cache: Cache) -> None:
    keys = [f"user:{i}" for i in range(1, 2000, 3)] + ["user:x", "user:yy"] * 3
    cache.set_many({key: key.upper() for key in keys})
    assert cache.get_many(keys) == {key: key.upper() for key in keys}
    alternating = [f"a:{'x' * (i % 3)}{i}" for i in range(300)]
    cache.set_many({key: i for i, key in enumerate(alternating)})
    assert cache.get_many(alternating) == {key: i for i, key in enumerate(alternating)}


class Section(str, enum.Enum):  # noqa: UP042 - the (str, Enum) mixin is the case under test
    FLAGS = "cfg:flags"
    MAIN = "cfg:main"


def test_get_many_of_str_subclass_keys(cache: Cache) -> None:
    # An Enum formats as "Section.FLAGS": the key is its text, never its format.
    cache.set(Section.FLAGS, 1)
    cache.set("cfg:main", 2)
    assert cache.get_many([Section.FLAGS, Section.MAIN]) == {Section.FLAGS: 1, Section.MAIN: 2}
    assert cache.get(Section.MAIN) == 2


@pytest.mark.parametrize("keys", [[1, "a"], [None], ["a", 2.5]])
def test_get_many_of_keys_that_are_not_text_or_bytes(cache: Cache, keys: list[Any]) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        cache.get_many(keys)


def test_get_many_counts_every_key_asked(cache: Cache) -> None:
    cache.set_many({"p:1": 1, "p:2": 2})
    cache.get_many(["p:1", "p:1", "p:2", "p:3"])
    cache.get_many(["p:1", "q:1"])
    stats = cache.stats()
    assert (stats["p"].hits, stats["p"].misses) == (4, 1)
    assert (stats["q"].hits, stats["q"].misses) == (0, 1)


def test_str_and_bytes_keys_are_the_same_key(cache: Cache) -> None:
    cache.set("plain", 1)
    assert cache.get(b"plain") == 1
    cache.set(b"raw:\xff\x00 key", 2)
    assert cache.get(b"raw:\xff\x00 key") == 2
    assert cache.get_many([b"raw:\xff\x00 key", "plain"]) == {b"raw:\xff\x00 key": 2, "plain": 1}
    assert cache.delete(b"raw:\xff\x00 key") == 1


def test_unsupported_value_raises_serialization_error(cache: Cache) -> None:
    with pytest.raises(SerializationError):
        cache.set("k", object())
    assert cache.get("k", MISS) is MISS


def test_ping_and_context_manager(backend_url: str, namespace: str) -> None:
    with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
        assert isinstance(cache.ping(), float)
        cache.set("k", 1)
    assert cache.breaker_state is BreakerState.CLOSED


def test_ping_of_an_unreachable_server_raises_backend_unavailable() -> None:
    with (
        Cache(f"redis://127.0.0.1:{free_port()}/0", namespace="down") as cache,
        pytest.raises(BackendUnavailable),
    ):
        cache.ping()


def test_key_layout_in_redis(redis_server: RedisServer, redis_url: str) -> None:
    with Cache(redis_url, namespace="shop", **PATIENT) as cache:
        cache.set("dashboard:eu", 1)
        cache.set(b"raw\xff", 2)
    with redis_server.client() as raw:
        assert sorted(set(raw.scan_iter(match="shop:*"))) == [b"shop:dashboard:eu", b"shop:raw\xff"]
        assert raw.get(b"shop:dashboard:eu")[:3] == bytes((MAGIC, VERSION, 0))
        assert set(raw.scan_iter()) <= {b"shop:dashboard:eu", b"shop:raw\xff", b"shop#stats"}


@pytest.mark.parametrize(("compression", "flag"), [("lz4", 1), ("zlib", 2)])
def test_large_values_are_stored_compressed(
    redis_server: RedisServer, redis_url: str, compression: str, flag: int
) -> None:
    value = {"rows": ["abcdefgh" * 8] * 200}
    with Cache(redis_url, namespace="big", compression=compression, **PATIENT) as cache:
        cache.set("report", value)
        assert cache.get("report") == value
    with redis_server.client() as raw:
        stored = raw.get(b"big:report")
    assert stored[2] & 0x03 == flag
    assert len(stored) < len(msgpack.packb(value))


def test_threshold_option_controls_compression(redis_server: RedisServer, redis_url: str) -> None:
    with Cache(redis_url, namespace="th", compress_threshold=10**6, **PATIENT) as cache:
        cache.set("report", "abc" * 1000)
    with redis_server.client() as raw:
        assert raw.get(b"th:report")[2] == 0


# -- unreadable stored values are a miss, counted, never an exception ---------------------------


@pytest.mark.parametrize("kind", list(_unreadable()))
def test_unreadable_value_is_a_counted_miss(backend_url: str, namespace: str, kind: str) -> None:
    with Cache(backend_url, namespace=namespace, max_value_size=100_000, **PATIENT) as cache:
        _raw_put(cache, f"bad:{kind}", _unreadable()[kind])
        assert cache.get(f"bad:{kind}", MISS) is MISS
        assert cache.get_many([f"bad:{kind}"]) == {}
        stats = cache.stats()["bad"]
        assert (stats.errors, stats.misses, stats.hits) == (2, 2, 0)


def test_decompression_bomb_past_max_value_size_is_a_miss(backend_url: str, namespace: str) -> None:
    # Written by a process whose limit is higher (this one refuses such a write: ValueTooLarge).
    store = MemoryStore() if backend_url == "memory://" else None
    with Cache(backend_url, namespace=namespace, store=store, **PATIENT) as writer:
        writer.set("bomb", "x" * 50_000)  # small once compressed, too big to inflate
    with Cache(
        backend_url, namespace=namespace, store=store, max_value_size=10_000, **PATIENT
    ) as cache:
        cache.set("fits", "x" * 9_000)
        assert cache.get("fits") == "x" * 9_000
        assert cache.get("bomb", MISS) is MISS
        assert cache.stats()["bomb"].errors == 1


def test_unreadable_value_is_logged_without_raising(
    cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cachectl")
    _raw_put(cache, "bad", b"\x80\x04pickle?")
    assert cache.get("bad", "dflt") == "dflt"
    assert "unreadable" in caplog.text


def test_unknown_extension_type_is_a_counted_miss(cache: Cache) -> None:
    _raw_put(cache, "alien", bytes((MAGIC, VERSION, 0)) + msgpack.packb(msgpack.ExtType(99, b"?")))
    assert cache.get("alien", MISS) is MISS
    assert cache.stats()["alien"].errors == 1


async def test_async_unreadable_value_is_a_counted_miss(backend_url: str, namespace: str) -> None:
    unreadable = _unreadable()
    async with AsyncCache(
        backend_url, namespace=namespace, max_value_size=100_000, **PATIENT
    ) as cache:
        for kind, data in unreadable.items():
            await _araw_put(cache, f"bad:{kind}", data)
            assert await cache.get(f"bad:{kind}", MISS) is MISS
        assert await cache.get_many([f"bad:{k}" for k in unreadable]) == {}
        assert cache.stats()["bad"].errors == 2 * len(unreadable)


def test_redis_refusing_a_read_is_a_counted_miss(redis_server: RedisServer, redis_url: str) -> None:
    with Cache(redis_url, namespace="wt", **PATIENT) as cache:
        with redis_server.client() as raw:
            raw.rpush(b"wt:list", b"x")  # GET on a list: WRONGTYPE
        assert cache.get("list", MISS) is MISS
        assert cache.stats()["list"].errors == 1
        assert cache.breaker_state is BreakerState.CLOSED


# -- async conformance -------------------------------------------------------------------------


async def test_async_read_write_api(acache: AsyncCache) -> None:
    assert await acache.get("absent") is None
    assert await acache.get("absent", MISS) is MISS
    await acache.set("none", None)
    assert await acache.get("none", MISS) is None
    await acache.set("v", VALUES["nested-tuple"], ttl=60)
    assert await acache.get("v") == VALUES["nested-tuple"]
    await acache.set_many({f"k:{i}": i for i in range(20)})
    assert await acache.get_many([f"k:{i}" for i in range(25)]) == {f"k:{i}": i for i in range(20)}
    assert await acache.delete("k:1", "k:2", "absent") == 2
    assert await acache.get("k:1", MISS) is MISS
    assert isinstance(await acache.ping(), float)
    assert acache.stats()["k"].sets == 20


@pytest.mark.parametrize("name", list(VALUES))
async def test_async_values_round_trip(acache: AsyncCache, name: str) -> None:
    await acache.set(name, VALUES[name])
    got = await acache.get(name, MISS)
    assert got == VALUES[name]
    assert _type_tree(got) == _type_tree(VALUES[name])


async def test_async_ttl_expires(acache: AsyncCache) -> None:
    await acache.set("short", 1, ttl=0.05)
    await acache.set("long", 1, ttl=60)
    await asyncio.sleep(0.3)
    assert await acache.get("short", MISS) is MISS
    assert await acache.get("long") == 1


async def test_async_context_manager_and_aclose(backend_url: str, namespace: str) -> None:
    async with AsyncCache(backend_url, namespace=namespace, **PATIENT) as cache:
        await cache.set("k", 1)
        assert await cache.get("k") == 1
    again = AsyncCache(backend_url, namespace=namespace, **PATIENT)
    await again.set("k", 2)
    await again.aclose()


# -- per-prefix stats of writes ----------------------------------------------------------------


def test_set_many_counts_sets_per_prefix(cache: Cache) -> None:
    cache.set_many({"users:1": 1, "users:2": 2, "orders:1": 3})
    stats = cache.stats()
    assert (stats["users"].sets, stats["orders"].sets) == (2, 1)


@pytest.mark.parametrize("ttl", [float("inf"), float("nan"), 1e300, -1.0, 0.0])
async def test_a_ttl_out_of_range_is_refused_before_anything_is_written(
    cache: Cache, acache: AsyncCache, ttl: float
) -> None:
    # inf raised OverflowError, nan ValueError, and 1e300 reached Redis, which refused it,
    # so the write failed where the caller learned nothing.
    for call in (
        lambda: cache.set("t", 1, ttl=ttl),
        lambda: cache.set_many({"t": 1}, ttl=ttl),
        lambda: cache.touch("t", ttl),
    ):
        with pytest.raises(ConfigError, match="ttl must be positive seconds"):
            call()
    with pytest.raises(ConfigError, match="ttl must be positive seconds"):
        await acache.set("t", 1, ttl=ttl, tags=("x",))
    assert cache.get("t") is None and await acache.get("t") is None
    cache.set("t", 1, ttl=1e10)  # far, but within Redis's range
    assert cache.ttl("t") == pytest.approx(1e10, rel=1e-6)
