"""cachectl.contrib.cachelib.CachectlCache as Flask-Caching and cachelib users meet it."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("flask_caching")

import redis
from flask import Flask
from flask_caching import Cache as FlaskCache

from cachectl import KeyTooLarge
from cachectl.contrib.cachelib import CachectlCache
from cachectl.testing import PATIENT


@pytest.fixture
def cl(backend_url: str, namespace: str) -> Iterator[CachectlCache]:
    cache = CachectlCache(backend_url, namespace=namespace, default_timeout=120, **PATIENT)
    yield cache
    cache.close()


def test_flask_caching_builds_it_from_cache_type_and_options(redis_url: str) -> None:
    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="cachectl.contrib.cachelib.CachectlCache",
        CACHE_DEFAULT_TIMEOUT=42,
        CACHE_OPTIONS={"url": redis_url, "namespace": "flaskns", "key_prefix": "app:", **PATIENT},
    )
    cache = FlaskCache(app)
    backend = app.extensions["cache"][cache]
    assert isinstance(backend, CachectlCache)
    assert backend.default_timeout == 42
    calls: list[int] = []

    @cache.memoize(timeout=60)
    def slow_add(a: int, b: int) -> int:
        calls.append(1)
        return a + b

    with app.app_context():
        assert slow_add(1, 2) == slow_add(1, 2) == 3
        assert len(calls) == 1
        cache.delete_memoized(slow_add, 1, 2)
        assert slow_add(1, 2) == 3
        assert len(calls) == 2
        cache.set("plain", {"a": 1})
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(b"flaskns:app:plain") is not None
    assert 0 < int(raw.ttl(b"flaskns:app:plain")) <= 42


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown cache option"):
        CachectlCache("memory://", sokcet_timeout=1)


def test_timeouts_as_cachelib_has_them(redis_url: str, namespace: str) -> None:
    cl = CachectlCache(redis_url, namespace=namespace, default_timeout=120, **PATIENT)
    raw = redis.Redis.from_url(redis_url)

    def ttl(key: str) -> int:
        return int(raw.ttl(f"{namespace}:{key}".encode()))

    cl.set("default", 1)
    cl.set("forever", 1, timeout=0)
    cl.set("short", 1, timeout=30)
    cl.add("added", 1, timeout=0)
    assert 110 < ttl("default") <= 120
    assert ttl("forever") == ttl("added") == -1
    assert 25 < ttl("short") <= 30
    assert cl.set("short", 2, timeout=-1) is True  # below zero: already expired
    assert ttl("short") == -2
    assert cl.ttl("forever") is None
    assert cl.ttl("absent") is None


def test_inc_is_atomic_and_starts_a_missing_key_at_zero(cl: CachectlCache) -> None:
    def bump() -> None:
        for _ in range(50):
            cl.inc("hits")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cl.get("hits") == 400
    assert cl.dec("missing", 3) == -3


def test_values_msgpack_cannot_carry_are_a_type_error_at_set(cl: CachectlCache) -> None:
    class Model:
        pass

    with pytest.raises(TypeError, match="cannot cache a value of type"):
        cl.set("model", Model())
    assert cl.get("model") is None


def test_an_unreadable_value_is_a_miss(redis_url: str, namespace: str) -> None:
    cl = CachectlCache(redis_url, namespace=namespace, **PATIENT)
    redis.Redis.from_url(redis_url).set(f"{namespace}:pickled".encode(), b"\x80\x04K\x01.")
    assert cl.get("pickled") is None
    assert cl.get_many("pickled", "absent") == [None, None]


def test_tags_and_prefixes_reachable(cl: CachectlCache) -> None:
    cl.cachectl.set("user:1", "ada", tags=["users"])
    cl.set("user:1:posts", [1])
    cl.set("user:2", "bob")
    assert cl.invalidate_prefix("user:1") == 2
    assert cl.get("user:2") == "bob"
    cl.cachectl.set("user:3", "cy", tags=["users"])
    assert cl.invalidate_tag("users") == 1


def test_clear_leaves_other_namespaces(redis_url: str, namespace: str) -> None:
    ours = CachectlCache(redis_url, namespace=namespace, **PATIENT)
    theirs = CachectlCache(redis_url, namespace=namespace + "-other", **PATIENT)
    ours.set("k", 1)
    theirs.set("k", 2)
    assert ours.clear() is True
    assert ours.get("k") is None
    assert theirs.get("k") == 2


@pytest.mark.parametrize(
    "timeout",
    [10**20, 2**64, "60", b"60", [60], object()],
    ids=repr,
)
def test_a_timeout_that_cannot_be_stored_is_false_as_cachelib_says(
    cl: CachectlCache, timeout: Any
) -> None:
    # cachelib: set and add return False for backend errors; set_many the keys it set.
    cl.set("k", "old")
    assert cl.set("k", "new", timeout=timeout) is False
    assert cl.add("fresh", 1, timeout=timeout) is False
    assert cl.set_many({"k": "new", "m": 1}, timeout=timeout) == []
    assert cl.get("k") == "old"  # nothing was written, nothing deleted
    assert cl.get_many("fresh", "m") == [None, None]


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 1e300], ids=repr)
def test_a_float_timeout_out_of_range_is_false_after_cachelib_s_warning(
    cl: CachectlCache, timeout: float
) -> None:
    with pytest.warns(DeprecationWarning, match="Float timeouts"):
        assert cl.set("k", 1, timeout=timeout) is False
    assert cl.get("k") is None
    assert cl.set("k", 1, timeout=dt.timedelta(days=999_999_999)) is True  # the largest one


def test_every_answer_has_cachelib_s_type(cl: CachectlCache) -> None:
    assert cl.set("k", 1) is True
    assert cl.add("k", 2) is False
    assert cl.add("j", 2) is True
    assert cl.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cl.get_many("a", "absent") == [1, None]
    assert cl.get_dict("a", "b") == {"a": 1, "b": 2}
    assert cl.has("a") is True and cl.has("absent") is False
    assert cl.delete("a") is True and cl.delete("a") is False
    assert cl.delete_many("b", "absent") == ["b", "absent"]
    assert cl.inc("n") == 1 and cl.dec("n", 3) == -2
    assert cl.clear() is True
    assert cl.get("k") is None


def test_a_key_too_long_is_an_error_not_a_silent_false(cl: CachectlCache) -> None:
    long_key = "k" * (16 * 1024 + 1)
    for call in (
        lambda: cl.get(long_key),
        lambda: cl.set(long_key, 1),
        lambda: cl.add(long_key, 1),
        lambda: cl.inc(long_key),
        lambda: cl.delete(long_key),
    ):
        with pytest.raises(KeyTooLarge):
            call()
