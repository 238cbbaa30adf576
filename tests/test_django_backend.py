"""CachectlCache as Django applications meet it: settings, timeouts, key layout, the CLI on
Django's keys, msgpack-only values, tags and prefixes, native async, an outage."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("django")

from tests.vendor.django_cache import configure

configure()

import redis  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.core.cache.backends.base import BaseCache  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.views.decorators.cache import cache_page  # noqa: E402

from cachectl.contrib.django import RESPONSE_MARK, CachectlCache  # noqa: E402
from cachectl.errors import ConfigError  # noqa: E402
from cachectl.testing import PATIENT  # noqa: E402
from tests.plugins.cli import CliResult  # noqa: E402
from tests.servers import RedisServer  # noqa: E402
from tests.vendor.django_cache.models import Poll  # noqa: E402

BACKEND = "cachectl.contrib.django.CachectlCache"

pytestmark = pytest.mark.usefixtures("django_caches_closed")


def make(location: str, namespace: str, **params: Any) -> CachectlCache:
    """The backend as Django's cache handler builds it from a CACHES entry."""
    options = {"namespace": namespace, **PATIENT, **params.pop("OPTIONS", {})}
    return CachectlCache(location, {"OPTIONS": options, **params})


@pytest.fixture
def dj(backend_url: str, namespace: str) -> CachectlCache:
    """The Django backend on memory:// and on a real redis-server, KEY_PREFIX 'site'."""
    return make(backend_url, namespace, KEY_PREFIX="site")


# -- settings -----------------------------------------------------------------------------------


def test_configured_through_caches_setting(redis_url: str) -> None:
    config = {"BACKEND": BACKEND, "LOCATION": redis_url, "KEY_PREFIX": "site", "OPTIONS": PATIENT}
    with override_settings(CACHES={"default": config}):
        cache = caches["default"]
        cache.set("greeting", "hello")
        assert cache.get("greeting") == "hello"
        assert isinstance(cache, BaseCache)
        # The namespace is 'django' unless OPTIONS names another; KEY_PREFIX:version:key below.
        assert redis.Redis.from_url(redis_url).exists(b"django:site:1:greeting") == 1


def test_empty_location_is_the_embedded_store() -> None:
    with override_settings(CACHES={"default": {"BACKEND": BACKEND}}):
        cache = caches["default"]
        assert cache.cachectl.config.is_memory
        cache.set("k", 1)
        assert cache.get("k") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"MAX_ENTRIES": 30}, "unknown OPTIONS 'MAX_ENTRIES'"),
        ({"sokcet_timeout": 1}, "unknown OPTIONS 'sokcet_timeout'"),
        ({"default_ttl": 60}, "set TIMEOUT"),
        ({"url": "redis://x"}, "set LOCATION"),
        ({"socket_timeout": -1}, "socket_timeout"),
        ({"namespace": ""}, "namespace"),
    ],
)
def test_bad_options_are_refused_when_the_cache_is_made(
    options: dict[str, Any], message: str
) -> None:
    config = {"BACKEND": BACKEND, "LOCATION": "memory://", "OPTIONS": options}
    with (
        override_settings(CACHES={"default": config}),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        caches["default"].get("k")


def test_bad_location_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="cachectl cache"):
        CachectlCache("http://example.com", {})


def test_one_cache_per_process_for_one_configuration(redis_url: str, namespace: str) -> None:
    """Django makes a backend per thread and alias; the pool, breaker and stats are shared."""
    made: list[CachectlCache] = []
    thread = threading.Thread(target=lambda: made.append(make(redis_url, namespace)))
    thread.start()
    thread.join()
    here = make(redis_url, namespace, KEY_PREFIX="other")
    assert made[0].cachectl is here.cachectl

    async def both() -> bool:
        return made[0].acachectl is here.acachectl

    assert asyncio.run(both())


# -- timeouts -----------------------------------------------------------------------------------


def test_timeouts_as_django_has_them(redis_url: str, namespace: str) -> None:
    cache = make(redis_url, namespace, KEY_PREFIX="site", TIMEOUT=120)
    raw = redis.Redis.from_url(redis_url)

    def ttl(key: str) -> int:
        return int(raw.ttl(f"{namespace}:site:1:{key}".encode()))

    cache.set("default", 1)  # DEFAULT_TIMEOUT: the TIMEOUT setting
    cache.set("forever", 1, None)
    cache.set("short", 1, 30)
    cache.set("float", 1, 2.5)
    assert 110 < ttl("default") <= 120
    assert ttl("forever") == -1
    assert 25 < ttl("short") <= 30
    assert 0 < ttl("float") <= 3
    cache.set("zero", 1, 0)
    cache.set("short", 1, -5)  # zero or less: not cached, and an older value goes
    assert ttl("zero") == ttl("short") == -2
    assert cache.add("zero", 1, 0) is True
    assert cache.get("zero") is None
    assert cache.touch("forever", 60) is True and 55 < ttl("forever") <= 60
    assert cache.touch("forever", None) is True and ttl("forever") == -1
    assert cache.touch("forever", 0) is True and ttl("forever") == -2
    cache.set_many({"a": 1, "b": 2}, 0)
    assert cache.get_many(["a", "b"]) == {}


def test_timeout_none_setting_keeps_entries_forever(redis_url: str, namespace: str) -> None:
    cache = make(redis_url, namespace, TIMEOUT=None)
    cache.set("k", "v")
    assert redis.Redis.from_url(redis_url).ttl(f"{namespace}::1:k".encode()) == -1


def test_incr_version_keeps_the_remaining_lifetime(dj: CachectlCache) -> None:
    dj.set("answer", 42, 100)
    assert dj.incr_version("answer") == 2
    left = dj.cachectl.ttl(dj.make_key("answer", 2))
    assert isinstance(left, float) and 90 < left <= 100
    assert dj.get("answer", version=1) is None
    assert dj.get("answer", version=2) == 42


# -- key layout and the command-line tool -------------------------------------------------------


def test_cachectl_flush_prefix_removes_one_django_key_prefix(
    redis_url: str, run_script: Callable[..., CliResult]
) -> None:
    site = make(redis_url, "django", KEY_PREFIX="site")
    shop = make(redis_url, "django", KEY_PREFIX="shop")
    site.set_many({"a": 1, "b": 2})
    site.set("c", 3, version=2)
    shop.set("a", 10)

    listed = run_script("--url", redis_url, "--namespace", "django", "keys", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert "site:1:a" in listed.stdout and "shop:1:a" in listed.stdout

    done = run_script(
        "--url", redis_url, "--namespace", "django", "flush", "--prefix", "site", "--yes"
    )
    assert done.exit_code == 0, done.stderr
    assert site.get_many(["a", "b"]) == {}
    assert site.get("c", version=2) is None
    assert shop.get("a") == 10


def test_invalidate_prefix_and_tags_reachable_from_django(dj: CachectlCache) -> None:
    dj.set("user:1", {"name": "ada"}, tags=["users"])
    dj.set("user:1:posts", [1, 2])
    dj.set("user:2", {"name": "bob"}, tags=["users"])
    dj.set("username", "kept")
    assert dj.invalidate_prefix("user:1") == 2
    assert dj.get("user:2") == {"name": "bob"}
    assert dj.invalidate_tag("users") == 1
    assert dj.get("user:2") is None
    assert dj.get("username") == "kept"


def test_cached_decorator_reachable_from_django(dj: CachectlCache) -> None:
    calls: list[int] = []

    @dj.cached(ttl=60, prefix="square")
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert square(4) == 16
    assert square(4) == 16
    assert calls == [4]
    assert dj.cachectl.stats().prefixes["square"].hits == 1


# -- values -------------------------------------------------------------------------------------


def test_a_model_instance_is_a_type_error_at_set_and_nothing_is_stored(
    dj: CachectlCache,
) -> None:
    poll = Poll(question="Well?", answer="Yes", pub_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(TypeError, match="cannot cache a value of type Poll"):
        dj.set("poll", poll)
    with pytest.raises(TypeError):
        dj.add("poll", poll)
    assert dj.get("poll", "absent") == "absent"
    # The recommended pattern: cache the fields (values() rows are dicts like this one).
    row = {"id": 1, "question": poll.question, "pub_date": poll.pub_date}
    dj.set("poll", row)
    assert dj.get("poll") == row


@pytest.mark.parametrize(
    "value",
    [
        "text",
        42,
        True,
        None,
        [1, 2, 3],
        (1, 2, 3),
        {"A": 1, "B": [2]},
        b"\x00bytes",
        dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        Decimal("1.10"),
        {1, 2},
    ],
)
def test_data_types_round_trip(dj: CachectlCache, value: Any) -> None:
    dj.set("value", value)
    assert dj.get("value", "absent") == value
    assert type(dj.get("value")) is type(value)


def test_incr_is_atomic_across_threads(dj: CachectlCache) -> None:
    dj.set("hits", 0)

    def bump() -> None:
        for _ in range(50):
            dj.incr("hits")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert dj.get("hits") == 400


# -- async --------------------------------------------------------------------------------------

ASYNC_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("aadd", ("k", 1)),
    ("aget", ("k",)),
    ("aset", ("k", 1)),
    ("atouch", ("k",)),
    ("adelete", ("k",)),
    ("aget_many", (["k"],)),
    ("ahas_key", ("k",)),
    ("aset_many", ({"k": 1},)),
    ("aincr", ("k",)),
    ("adecr", ("k",)),
    ("aincr_version", ("k",)),
    ("adecr_version", ("k", 1, 2)),
    ("aget_or_set", ("k", 1)),
    ("adelete_many", (["k"],)),
    ("aclear", ()),
]


@pytest.fixture
def no_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every sync method of the backend fails: an async method that wraps one is caught."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an async method called a sync one (thread-wrapped)")

    for name, _ in ASYNC_CALLS:
        monkeypatch.setattr(CachectlCache, name[1:], refuse)
    yield


async def test_every_async_method_is_native(dj: CachectlCache, no_sync: None) -> None:
    await dj.aset("k", 1)
    for name, args in ASYNC_CALLS:
        await getattr(dj, name)(*args)
    assert await dj.aget("k") is None  # aclear ran last


async def test_async_methods_behave_as_the_sync_ones(dj: CachectlCache) -> None:
    assert await dj.aadd("n", 41) is True
    assert await dj.aadd("n", 0) is False
    assert await dj.aincr("n") == 42
    assert dj.get("n") == 42
    assert await dj.adecr("n", 2) == 40
    await dj.aset_many({"a": 1, "b": (2, 3)}, 60)
    assert await dj.aget_many(["a", "b", "c"]) == {"a": 1, "b": (2, 3)}
    assert await dj.ahas_key("a") is True
    assert await dj.atouch("a", 0) is True
    assert await dj.ahas_key("a") is False
    assert await dj.aget_or_set("c", lambda: "made") == "made"
    assert await dj.aincr_version("c") == 2
    assert await dj.aget("c", version=2) == "made"
    await dj.adelete_many(["b", "n"])
    assert await dj.aget_many(["b", "n"]) == {}
    with pytest.raises(ValueError):
        await dj.aincr("missing")
    with pytest.raises(TypeError):
        await dj.aset("f", object())


def test_async_methods_work_across_event_loops(redis_url: str, namespace: str) -> None:
    """Django runs each async view on the server's loop; tests and scripts make new ones."""
    cache = make(redis_url, namespace)
    for n in range(3):
        asyncio.run(cache.aset("k", n))
        assert asyncio.run(cache.aget("k")) == n


# -- an outage ----------------------------------------------------------------------------------


def test_redis_down_django_calls_go_to_the_fallback(own_redis: RedisServer) -> None:
    options = {"failure_threshold": 1, "socket_timeout": 0.2, "connect_timeout": 0.2}
    cache = make(own_redis.url, "django", OPTIONS=options)
    cache.set("k", "before")
    own_redis.stop()
    assert cache.get("k", "default") == "default"  # no exception in the view
    cache.set("k", "during")
    assert cache.get("k") == "during"
    assert cache.cachectl.breaker_state.value == "open"
    # The write during the outage is owed to Redis as a deletion: paid at close once it is
    # back, instead of a wait of close_timeout on a server that never returns.
    own_redis.start()
    assert not cache.cachectl.close()  # nothing left owed


# -- responses (cache_page, CacheMiddleware) ----------------------------------------------------


def test_an_http_response_round_trips_without_pickle(dj: CachectlCache) -> None:
    response = HttpResponse("<p>hello</p>", status=203, headers={"X-Thing": "1"})
    response.set_cookie("session", "abc", max_age=60, httponly=True)
    dj.set("page", response)
    back = dj.get("page")
    assert isinstance(back, HttpResponse)
    assert (back.status_code, back.content, back["X-Thing"]) == (203, b"<p>hello</p>", "1")
    assert back["Content-Type"] == response["Content-Type"]
    assert back.cookies["session"].value == "abc"
    assert back.cookies["session"]["max-age"] == 60
    assert back.cookies["session"]["httponly"] is True
    assert dj.get_many(["page"])["page"].content == b"<p>hello</p>"
    # A tuple of the application's own is left alone.
    dj.set("pair", ("a", 1))
    assert dj.get("pair") == ("a", 1)


def test_cache_page_serves_the_second_request_from_the_cache(dj: CachectlCache) -> None:
    calls: list[int] = []

    def view(request: HttpRequest) -> HttpResponse:
        calls.append(1)
        return HttpResponse(f"computed {len(calls)}")

    config = {"default": {"BACKEND": BACKEND, "LOCATION": "memory://", "OPTIONS": {}}}
    with override_settings(CACHES=config):
        cached_view = cache_page(60)(view)
        first = cached_view(RequestFactory().get("/report"))
        second = cached_view(RequestFactory().get("/report"))
        caches["default"].clear()
    assert first.content == second.content == b"computed 1"
    assert calls == [1]


def test_a_forged_response_in_redis_is_a_miss(redis_url: str, namespace: str) -> None:
    dj = make(redis_url, namespace)
    for forged in [
        (RESPONSE_MARK, "x", [], b"", []),
        (RESPONSE_MARK, 200, [("X-Bad", "a\r\nSet-Cookie: evil=1")], b"", []),
        (RESPONSE_MARK, 200, [], b"", [("name", "value", "not a dict")]),
        (RESPONSE_MARK, 200, [], b"", [("bad name;", "v", {})]),
    ]:
        dj.cachectl.set(dj.make_key("page"), forged)
        assert dj.get("page", "absent") == "absent"
        assert dj.get_many(["page"]) == {}


def test_a_streaming_response_is_a_type_error(dj: CachectlCache) -> None:
    with pytest.raises(TypeError, match="StreamingHttpResponse"):
        dj.set("page", StreamingHttpResponse(iter([b"a"])))


# -- Redis Cluster ------------------------------------------------------------------------------


@pytest.mark.cluster
async def test_django_api_on_a_redis_cluster(cluster_url: str, namespace: str) -> None:
    dj = make(cluster_url, namespace, KEY_PREFIX="site")
    # Keys of one call land in different slots: get_many, set_many and delete_many span nodes.
    data = {f"user:{n}": {"n": n} for n in range(20)}
    dj.set_many(data, 60)
    assert dj.get_many(list(data)) == data
    dj.set("hits", 0)
    assert dj.incr("hits", 5) == 5
    assert dj.invalidate_prefix("user:1") == 1
    await dj.aset("async", [1, 2])
    assert await dj.aget_many(["async", "user:2"]) == {"async": [1, 2], "user:2": {"n": 2}}
    dj.delete_many(list(data))
    assert dj.get_many(list(data)) == {}
    dj.clear()
    assert dj.get("hits") is None


# -- process-wide state --------------------------------------------------------------------------


def test_async_views_on_loops_of_their_own_publish_their_stats(
    redis_url: str, namespace: str
) -> None:
    """Under WSGI each async view runs on a loop of its own that ends at once: what the async
    face recorded is published all the same (by the sync face's publisher)."""
    from asgiref.sync import async_to_sync

    dj = make(redis_url, namespace, OPTIONS={"stats_interval": 0.05})

    async def view(i: int) -> None:
        await dj.aset(f"v{i}", i)
        assert await dj.aget(f"v{i}") == i

    for i in range(4):
        async_to_sync(view)(i)
    prefix = dj.make_key("v0").partition(":")[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        published = dj.cachectl.published_stats()
        if prefix in published and published[prefix].sets >= 4:
            break
        time.sleep(0.05)
    figures = dj.cachectl.published_stats()[prefix]
    assert (figures.sets, figures.hits) == (4, 4)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_another_thread_makes_a_backend(redis_url: str, namespace: str) -> None:
    from cachectl.contrib import django as module

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with module._shared_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child = make(redis_url, namespace)
                child.set("after-fork", 1)
                code = 0 if child.get("after-fork") == 1 else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the child hung on a lock the parent's thread held")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join()


@pytest.mark.parametrize("timeout", [float("nan"), "60", [60]], ids=repr)
async def test_a_timeout_that_is_not_a_number_is_an_error_and_keeps_the_entry(
    dj: CachectlCache, timeout: Any
) -> None:
    # nan compared false to 0, read as "not cached", and deleted the entry; a str raised a
    # bare TypeError from the comparison.
    dj.set("k", "old")
    for call in (
        lambda: dj.set("k", "new", timeout),
        lambda: dj.add("fresh", 1, timeout),
        lambda: dj.touch("k", timeout),
        lambda: dj.set_many({"k": "new"}, timeout),
    ):
        with pytest.raises(ConfigError, match="timeout must be a number"):
            call()
    with pytest.raises(ConfigError, match="timeout must be a number"):
        await dj.aset("k", "new", timeout)
    assert dj.get("k") == "old"
    assert dj.get("fresh") is None


@pytest.mark.parametrize("prefix", ["", ":", "::"], ids=repr)
async def test_an_empty_prefix_is_refused_as_the_library_refuses_it(
    dj: CachectlCache, prefix: str
) -> None:
    # make_key("") is "site:1:": a prefix of every key of the version, all of which went.
    dj.set_many({"user:1": 1, "page": 2})
    with pytest.raises(ConfigError, match="empty prefix"):
        dj.invalidate_prefix(prefix)
    with pytest.raises(ConfigError, match="empty prefix"):
        await dj.ainvalidate_prefix(prefix)
    assert dj.get_many(["user:1", "page"]) == {"user:1": 1, "page": 2}
