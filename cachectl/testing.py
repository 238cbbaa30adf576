"""The conformance suite every cachectl backend passes, shipped for third-party backends.

In the spirit of dogpile.cache's `_GenericBackendTestSuite`: subclass `CacheConformance` in a
pytest module and give it the URL of your backend (its scheme registered with
`cachectl.backends.registry.register_backend`)::

    import pytest
    from cachectl.testing import CacheConformance

    class TestMyBackend(CacheConformance):
        @pytest.fixture
        def cache_url(self) -> str:
            return "mine://localhost"

Every test runs on both faces, `Cache` and `AsyncCache`, through one adapter that awaits where
the async face needs it (so the two can never be tested differently), and once more on each
face with the breaker held open, where the in-memory fallback answers. pytest is needed only by
this module, never by the library.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachectl.cache import MISS, AsyncCache, Cache
from cachectl.codec import MAX_COUNTER
from cachectl.errors import BackendUnavailable, KeyTooLarge, SerializationError, ValueTooLarge

#: Generous timeouts: a slow reply on a busy machine must not send a test to the fallback.
PATIENT: dict[str, Any] = {"socket_timeout": 2.0, "connect_timeout": 2.0, "pool_timeout": 2.0}

#: max_value_size of the caches the size tests make, and values over it (one compresses well:
#: the limit is on the encoded size before compression, as on read).
SMALL = 1024
BIG = hashlib.shake_256(b"cachectl").digest(4 * SMALL)
BIG_COMPRESSIBLE = "x" * (4 * SMALL)

#: max_key_size of the caches the key size tests make, and a key one byte over it (in UTF-8:
#: 'é' is two bytes, so a key's length in characters is not what counts).
KEY_LIMIT = 64
LONG_KEY = "k:" + "é" * (KEY_LIMIT // 2 - 1) + "x"

#: Every call that takes a key, tag, prefix or glob, given the one that is too long.
KEYED_CALLS: dict[str, Callable[[Face, str], Any]] = {
    "get": lambda c, k: c.get(k),
    "get_many": lambda c, k: c.get_many(["ok:1", k]),
    "set": lambda c, k: c.set(k, 1),
    "set_many": lambda c, k: c.set_many({"ok:1": 1, k: 2}),
    "add": lambda c, k: c.add(k, 1),
    "delete": lambda c, k: c.delete("ok:1", k),
    "delete_many": lambda c, k: c.delete_many(["ok:1", k]),
    "incr": lambda c, k: c.incr(k),
    "decr": lambda c, k: c.decr(k),
    "touch": lambda c, k: c.touch(k, 10),
    "ttl": lambda c, k: c.ttl(k),
    "has": lambda c, k: c.has(k),
    "get_or_set": lambda c, k: c.get_or_set(k, 1),
    "invalidate_prefix": lambda c, k: c.invalidate_prefix(k),
    "invalidate_pattern": lambda c, k: c.invalidate_pattern(k),
    "invalidate_tag": lambda c, k: c.invalidate_tag("ok", k),
    "set with a tag": lambda c, k: c.set("ok:1", 1, tags=("ok", k)),
    "add with a tag": lambda c, k: c.add("ok:1", 1, tags=(k,)),
    "get_or_set with a tag": lambda c, k: c.get_or_set("ok:1", 1, tags=(k,)),
    "set_many with a tag": lambda c, k: c.set_many({"ok:1": 1}, tags=(k,)),
}

#: The faces each test runs on: sync or async, with the breaker closed or held open.
FACES = ("sync", "async", "sync-open", "async-open")


class Face:
    """A Cache or an AsyncCache called the same way: coroutines are run to completion."""

    def __init__(self, cache: Cache | AsyncCache, loop: asyncio.AbstractEventLoop | None) -> None:
        self.cache = cache
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.cache, name)
        if self.loop is None or not callable(attr):
            return attr
        loop = self.loop

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return loop.run_until_complete(result) if inspect.isawaitable(result) else result

        return call

    def __contains__(self, key: str) -> bool:
        return bool(self.has(key))

    def close(self) -> None:
        """Close the cache (and the event loop of the async face)."""
        if self.loop is None:
            assert isinstance(self.cache, Cache)
            self.cache.close()
            return
        assert isinstance(self.cache, AsyncCache)
        self.loop.run_until_complete(self.cache.close())
        self.loop.close()


class _Watched:
    """A backend that notes each error it raises that is not an outage, and raises it on.

    The cache takes a refused command (a script where scripts are refused, a WRONGTYPE) for a
    failure and answers from its fallback, so a test may pass while the backend never stored
    anything: make_face puts this in front of a closed face's backend and fails the test on
    any such error. Outages (a slow reply on a busy machine) are the breaker's to judge.
    """

    def __init__(self, backend: Any, refused: list[BaseException]) -> None:
        self.backend = backend
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.backend, name)
        return functools.partial(self._call, attr) if callable(attr) else attr

    def _note(self, exc: BaseException) -> None:
        backend = self.backend
        if isinstance(exc, backend.errors) and not isinstance(exc, backend.transient_errors):
            self.refused.append(exc)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except BaseException as exc:
            self._note(exc)
            raise
        return self._awaited(result) if inspect.isawaitable(result) else result

    async def _awaited(self, result: Any) -> Any:
        try:
            return await result
        except BaseException as exc:
            self._note(exc)
            raise


class CacheConformance:
    """Tests of the whole cache API; subclass it and override the `cache_url` fixture."""

    @pytest.fixture
    def cache_url(self) -> str:
        """The URL of the backend under test (override this)."""
        raise NotImplementedError("override the cache_url fixture with your backend's URL")

    @pytest.fixture
    def cache_options(self) -> dict[str, Any]:
        """Options given to every cache the suite makes."""
        return dict(PATIENT)

    @pytest.fixture
    def cache_namespace(self, request: pytest.FixtureRequest) -> str:
        """A namespace of this test's own, so that no two tests share keys."""
        digest = hashlib.blake2b(request.node.nodeid.encode(), digest_size=6).hexdigest()
        return f"conf-{digest}"

    @pytest.fixture(params=FACES)
    def make_face(
        self,
        request: pytest.FixtureRequest,
        cache_url: str,
        cache_options: dict[str, Any],
    ) -> Iterator[Callable[..., Face]]:
        """Makes caches of this test's face (namespace, then options), closing them after."""
        kind: str = request.param
        made: list[Face] = []
        shared: dict[str, Any] = {}

        def make(namespace: str, **overrides: Any) -> Face:
            options = {**cache_options, **overrides}
            if kind.endswith("-open"):
                options["recovery_interval"] = 3600.0  # no probe during the test
                # The fallback's counting (lossy, opted in) is what these faces test of incr;
                # without it, incr raises (test_incr_is_never_counted_where_it_would_be_lost).
                options.setdefault("fallback_counters", True)
            face: Face
            if kind.startswith("async"):
                loop = asyncio.new_event_loop()
                face = Face(AsyncCache(cache_url, namespace=namespace, **options), loop)
            else:
                face = Face(Cache(cache_url, namespace=namespace, **options), None)
            store = shared.setdefault("store", face.cache.backend)
            if cache_url == "memory://":
                # Two namespaces in one embedded store, as two on one Redis share a server.
                face.cache.backend = store
            if kind.endswith("-open"):
                face.cache.breaker.trip()
            else:
                watched: Any = _Watched(face.cache.backend, refused)  # the backend's contract
                face.cache.backend = watched
            made.append(face)
            return face

        refused: list[BaseException] = []
        yield make
        for face in made:
            face.close()
        # A command the backend refuses (a script where scripts are refused, a WRONGTYPE) is
        # taken by the breaker, and the fallback answers: a test may pass while the backend
        # never stored anything. A closed face must meet none.
        assert not refused, f"the backend refused a call, and the fallback hid it: {refused[0]!r}"

    @pytest.fixture
    def c(self, make_face: Callable[[str], Face], cache_namespace: str) -> Face:
        """The cache under test, on one face."""
        return make_face(cache_namespace)

    # -- get / set ----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "value",
        [None, 0, -1, 2**40, 1.5, "", "text", b"\x00bytes", [1, "a"], {"a": {"b": [None]}}, True],
        ids=repr,
    )
    def test_set_then_get_returns_the_value(self, c: Face, value: Any) -> None:
        c.set("item:1", value)
        assert c.get("item:1", "absent") == value
        assert type(c.get("item:1", "absent")) is type(value)

    def test_get_of_a_missing_key_is_the_default(self, c: Face) -> None:
        assert c.get("nothing:here") is None
        assert c.get("nothing:here", "d") == "d"

    def test_set_replaces(self, c: Face) -> None:
        c.set("item:1", "old")
        c.set("item:1", "new")
        assert c.get("item:1") == "new"

    def test_get_many_returns_only_present_keys(self, c: Face) -> None:
        c.set_many({"u:1": 1, "u:2": None, "u:3": "three"})
        assert c.get_many(["u:1", "u:2", "u:3", "u:4"]) == {"u:1": 1, "u:2": None, "u:3": "three"}
        assert c.get_many([]) == {}

    # -- delete -------------------------------------------------------------------------------

    def test_delete_counts_the_keys_that_existed(self, c: Face) -> None:
        c.set_many({"d:1": 1, "d:2": 2})
        assert c.delete("d:1", "d:2", "d:3") == 2
        assert c.get_many(["d:1", "d:2"]) == {}
        assert c.delete() == 0

    def test_delete_many(self, c: Face) -> None:
        c.set_many({"d:1": 1, "d:2": 2, "d:3": 3})
        assert c.delete_many(["d:1", "d:2", "d:9"]) == 2
        assert c.delete_many(iter(["d:3"])) == 1
        assert c.delete_many([]) == 0
        assert c.get_many(["d:1", "d:2", "d:3"]) == {}

    def test_delete_many_refuses_one_string(self, c: Face) -> None:
        with pytest.raises(TypeError):
            c.delete_many("d:1")

    # -- add ----------------------------------------------------------------------------------

    def test_add_sets_only_when_absent(self, c: Face) -> None:
        assert c.add("a:1", "first") is True
        assert c.add("a:1", "second") is False
        assert c.get("a:1") == "first"
        c.delete("a:1")
        assert c.add("a:1", "third") is True
        assert c.get("a:1") == "third"

    def test_add_of_none_counts_as_present(self, c: Face) -> None:
        assert c.add("a:none", None) is True
        assert c.add("a:none", 1) is False
        assert c.has("a:none")
        assert c.get("a:none", "d") is None

    def test_add_records_its_tags(self, c: Face) -> None:
        assert c.add("a:1", 1, tags=("t",))
        assert c.add("a:2", 2, tags=("t",))
        c.set("a:3", 3)
        c.invalidate_tag("t")
        assert c.get_many(["a:1", "a:2", "a:3"]) == {"a:3": 3}

    def test_add_with_a_ttl(self, c: Face) -> None:
        assert c.add("a:1", 1, ttl=100)
        left = c.ttl("a:1")
        assert isinstance(left, float) and 0 < left <= 100

    # -- incr / decr --------------------------------------------------------------------------

    def test_incr_and_decr(self, c: Face) -> None:
        c.set("n", 10)
        assert c.incr("n") == 11
        assert c.incr("n", 5) == 16
        assert c.decr("n") == 15
        assert c.decr("n", 20) == -5
        assert c.incr("n", -1) == -6
        assert c.get("n") == -6

    @pytest.mark.parametrize("start", [0, 127, 128, 255, 65_535, 2**32, -32, -33, -(2**40)])
    def test_incr_across_integer_encodings(self, c: Face, start: int) -> None:
        c.set("n", start)
        assert c.incr("n", 1) == start + 1
        assert c.decr("n", 2) == start - 1
        assert c.get("n") == start - 1

    def test_incr_of_a_missing_key_is_a_value_error(self, c: Face) -> None:
        with pytest.raises(ValueError):
            c.incr("missing")
        with pytest.raises(ValueError):
            c.decr("missing")
        assert not c.has("missing")

    @pytest.mark.parametrize("value", ["10", 1.0, True, None, [1], 2**60], ids=repr)
    def test_incr_of_a_value_that_is_no_counter_is_a_type_error(self, c: Face, value: Any) -> None:
        c.set("n", value)
        with pytest.raises((TypeError, OverflowError)):
            c.incr("n")
        assert c.get("n") == value

    def test_incr_past_the_counter_range_is_an_overflow_error(self, c: Face) -> None:
        c.set("n", MAX_COUNTER)
        with pytest.raises(OverflowError):
            c.incr("n")
        assert c.get("n") == MAX_COUNTER
        assert c.decr("n") == MAX_COUNTER - 1

    def test_incr_is_never_counted_where_it_would_be_lost(
        self, make_face: Callable[..., Face], cache_namespace: str
    ) -> None:
        # While the breaker is open the fallback would count from what it holds, and its count
        # is deleted once Redis is back: incr says it could not count instead.
        c = make_face(cache_namespace, fallback_counters=False, recovery_interval=3600.0)
        c.set("n", 1)
        c.cache.breaker.trip()
        with pytest.raises(BackendUnavailable, match="fallback_counters"):
            c.incr("n")
        with pytest.raises(BackendUnavailable):
            c.decr("n", 2)
        with pytest.raises(BackendUnavailable):
            c.incr("absent")

    @pytest.mark.parametrize("delta", [1.5, "1", True, None], ids=repr)
    def test_incr_takes_an_int(self, c: Face, delta: Any) -> None:
        c.set("n", 1)
        with pytest.raises(TypeError):
            c.incr("n", delta)
        assert c.get("n") == 1

    def test_incr_keeps_the_ttl(self, c: Face) -> None:
        c.set("n", 1, ttl=100)
        c.incr("n")
        left = c.ttl("n")
        assert isinstance(left, float) and 0 < left <= 100
        c.set("forever", 1)
        c.incr("forever")
        assert c.ttl("forever") is None

    # -- touch / ttl / has --------------------------------------------------------------------

    def test_ttl(self, c: Face) -> None:
        assert c.ttl("absent") is MISS
        c.set("forever", 1)
        assert c.ttl("forever") is None
        c.set("brief", 1, ttl=50)
        left = c.ttl("brief")
        assert isinstance(left, float) and 0 < left <= 50

    def test_touch(self, c: Face) -> None:
        c.set("k", 1, ttl=10)
        assert c.touch("k", 1000) is True
        left = c.ttl("k")
        assert isinstance(left, float) and 10 < left <= 1000
        assert c.touch("k", None) is True  # no default_ttl: no expiry
        assert c.ttl("k") is None
        assert c.touch("absent", 10) is False
        assert c.ttl("absent") is MISS
        assert c.get("k") == 1

    @pytest.mark.parametrize("longer", [30.0, None], ids=["ttl", "no-expiry"])
    def test_touch_keeps_the_entry_under_its_tags(self, c: Face, longer: float | None) -> None:
        # The tag's bookkeeping must live as long as the entry now does: after the first TTL
        # (when the tag set expired, and a later tagged write reaped what had expired),
        # invalidating the tag still removes the entry: no stale read.
        c.set("tt:1", "v", ttl=0.3, tags=("t", "u"))
        assert c.touch("tt:1", longer) is True
        time.sleep(0.5)
        c.set("tt:2", "w", ttl=30, tags=("t",))
        assert c.get("tt:1") == "v"
        assert c.invalidate_tag("t") == 2
        assert c.get_many(["tt:1", "tt:2"]) == {}

    def test_has_and_in(self, c: Face) -> None:
        assert not c.has("k")
        assert "k" not in c
        c.set("k", None)
        assert c.has("k")
        assert "k" in c

    # -- clear --------------------------------------------------------------------------------

    def test_clear_removes_this_namespace_only(
        self, c: Face, make_face: Callable[[str], Face], cache_namespace: str
    ) -> None:
        other = make_face(cache_namespace + "-other")
        other.set("kept", 1, tags=("t",))
        c.set_many({"a:1": 1, "b:2": 2}, tags=("t",))
        c.set("c", 3)
        assert c.clear() is None
        assert c.get_many(["a:1", "b:2", "c"]) == {}
        assert c.invalidate_tag("t") == 0  # the tag bookkeeping went too
        c.set("after", 1)
        assert c.get("after") == 1
        assert other.get("kept") == 1

    # -- get_or_set ---------------------------------------------------------------------------

    def test_get_or_set_stores_the_default_on_a_miss(self, c: Face) -> None:
        assert c.get_or_set("g", "value") == "value"
        assert c.get("g") == "value"
        assert c.get_or_set("g", "other") == "value"

    def test_get_or_set_calls_a_callable_only_on_a_miss(self, c: Face) -> None:
        calls: list[int] = []

        def compute() -> dict[str, int]:
            calls.append(1)
            return {"n": len(calls)}

        assert c.get_or_set("g", compute, ttl=60, tags=("t",)) == {"n": 1}
        assert c.get_or_set("g", compute) == {"n": 1}
        assert calls == [1]
        left = c.ttl("g")
        assert isinstance(left, float) and 0 < left <= 60
        c.invalidate_tag("t")
        assert not c.has("g")

    def test_get_or_set_of_a_cached_none(self, c: Face) -> None:
        c.set("g", None)
        assert c.get_or_set("g", "default") is None

    # -- invalidation -------------------------------------------------------------------------

    def test_invalidate_tag(self, c: Face) -> None:
        c.set("p:1", 1, tags=("red",))
        c.set_many({"p:2": 2, "p:3": 3}, tags=("red", "blue"))
        c.set("p:4", 4, tags=("blue",))
        c.invalidate_tag("red")
        assert c.get_many(["p:1", "p:2", "p:3", "p:4"]) == {"p:4": 4}
        c.invalidate_tag("blue", "green")
        assert c.get_many(["p:4"]) == {}

    def test_invalidate_prefix_takes_whole_segments(self, c: Face) -> None:
        c.set_many({"user": 0, "user:1": 1, "user:1:posts": 2, "users:1": 3})
        c.invalidate_prefix("user")
        assert c.get_many(["user", "user:1", "user:1:posts", "users:1"]) == {"users:1": 3}

    def test_invalidate_pattern(self, c: Face) -> None:
        c.set_many({"a:1": 1, "a:2": 2, "b:1": 3})
        c.invalidate_pattern("a:*")
        assert c.get_many(["a:1", "a:2", "b:1"]) == {"b:1": 3}

    # -- stats --------------------------------------------------------------------------------

    def test_reads_are_counted_per_prefix(self, c: Face) -> None:
        c.set("s:1", 1)
        c.get("s:1")
        c.get("s:2")
        figures = c.stats()["s"]
        assert (figures.hits, figures.misses) == (1, 1)

    # -- values over max_value_size -----------------------------------------------------------
    # A value the cache could never read back is refused at write, and the key's old value goes
    # with it, so that no read returns what the caller meant to replace.

    @pytest.fixture
    def small(self, make_face: Callable[..., Face], cache_namespace: str) -> Face:
        """A cache of this test's face whose max_value_size is SMALL bytes."""
        return make_face(cache_namespace, max_value_size=SMALL)

    def test_a_value_at_the_limit_is_stored_one_byte_more_is_refused(self, small: Face) -> None:
        at_limit = b"a" * (SMALL - 3)  # msgpack bin 16: three bytes of header
        small.set("v:at", at_limit)
        assert small.get("v:at") == at_limit
        with pytest.raises(ValueTooLarge) as refused:
            small.set("v:over", at_limit + b"a")
        assert (refused.value.size, refused.value.limit, refused.value.keys) == (
            SMALL + 1,
            SMALL,
            ("v:over",),
        )
        assert isinstance(refused.value, SerializationError)

    @pytest.mark.parametrize("big", [BIG, BIG_COMPRESSIBLE], ids=["random", "compressible"])
    def test_a_refused_set_removes_the_old_value(self, small: Face, big: Any) -> None:
        small.set("v:1", "old", tags=("t",))
        with pytest.raises(ValueTooLarge, match="max_value_size"):
            small.set("v:1", big, tags=("t",))
        assert small.get("v:1", "absent") == "absent"
        assert not small.has("v:1")
        assert small.stats()["v"].errors == 1
        small.set("v:1", "new")
        assert small.get("v:1") == "new"

    def test_set_many_stores_the_others_and_names_the_refused(self, small: Face) -> None:
        small.set_many({"m:1": "old", "m:big": "old", "m:2": "old"})
        with pytest.raises(ValueTooLarge) as refused:
            small.set_many({"m:1": 1, "m:big": BIG, "m:2": 2}, tags=("t",))
        assert refused.value.keys == ("m:big",)
        assert small.get_many(["m:1", "m:big", "m:2"]) == {"m:1": 1, "m:2": 2}
        small.invalidate_tag("t")
        assert small.get_many(["m:1", "m:2"]) == {}

    def test_a_value_msgpack_cannot_store_removes_the_old_value_too(self, c: Face) -> None:
        c.set_many({"t:1": "old", "t:2": "old"})
        with pytest.raises(SerializationError):
            c.set("t:1", object())
        with pytest.raises(SerializationError):
            c.set_many({"t:2": object(), "t:3": 3})
        assert c.get_many(["t:1", "t:2", "t:3"]) == {"t:3": 3}

    def test_a_refused_add_stores_nothing_and_keeps_what_is_there(self, small: Face) -> None:
        with pytest.raises(ValueTooLarge):
            small.add("a:new", BIG)
        assert not small.has("a:new")
        small.set("a:old", "old")
        with pytest.raises(ValueTooLarge):
            small.add("a:old", BIG)  # add would not have replaced it: nothing is stale
        assert small.get("a:old") == "old"

    def test_get_or_set_returns_a_value_too_large_to_cache(self, small: Face) -> None:
        assert small.get_or_set("g:1", lambda: BIG) == BIG
        assert not small.has("g:1")
        assert small.stats()["g"].errors == 1

    # -- keys over max_key_size -----------------------------------------------------------------
    # Refused on every call before anything is sent or remembered: nothing written, nothing
    # owed to Redis, nothing counted.

    @pytest.fixture
    def short_keys(self, make_face: Callable[..., Face], cache_namespace: str) -> Face:
        """A cache of this test's face whose max_key_size is KEY_LIMIT bytes."""
        return make_face(cache_namespace, max_key_size=KEY_LIMIT)

    @pytest.mark.parametrize("call", list(KEYED_CALLS))
    def test_a_key_over_max_key_size_is_refused_before_anything_is_done(
        self, short_keys: Face, call: str
    ) -> None:
        c = short_keys
        c.set("ok:1", "before", tags=("ok",))
        before, owed = c.stats(), c.cache.pending.owed()
        assert len(LONG_KEY.encode()) == KEY_LIMIT + 1
        with pytest.raises(KeyTooLarge, match="max_key_size") as refused:
            KEYED_CALLS[call](c, LONG_KEY)
        assert (refused.value.size, refused.value.limit) == (KEY_LIMIT + 1, KEY_LIMIT)
        assert isinstance(refused.value, ValueError)
        assert c.get("ok:1") == "before"  # set_many and delete did not get halfway
        assert c.cache.pending.owed() == owed  # nothing more owed to Redis
        assert c.stats().prefixes.keys() == before.prefixes.keys()
        assert c.get_many(["ok:1"]) == {"ok:1": "before"}

    def test_a_key_at_max_key_size_is_taken(self, short_keys: Face) -> None:
        at_limit = LONG_KEY[:-1]
        assert len(at_limit.encode()) == KEY_LIMIT
        short_keys.set(at_limit, 1, tags=("é" * (KEY_LIMIT // 2),))
        assert short_keys.get_many([at_limit]) == {at_limit: 1}
        assert short_keys.incr(at_limit) == 2
        assert short_keys.invalidate_tag("é" * (KEY_LIMIT // 2)) == 1
        short_keys.set(at_limit.encode(), 3)  # bytes keys count their own bytes
        assert short_keys.get(at_limit.encode()) == 3
        with pytest.raises(KeyTooLarge):
            short_keys.get(LONG_KEY.encode())

    def test_a_decorated_function_whose_key_is_too_long_raises(self, short_keys: Face) -> None:
        calls: list[str] = []
        if isinstance(short_keys.cache, AsyncCache):

            @short_keys.cache.cached(ttl=60, prefix="r", key="{name}")
            async def report_async(name: str) -> str:
                calls.append(name)
                return name

            def report(name: str) -> Any:
                assert short_keys.loop is not None
                return short_keys.loop.run_until_complete(report_async(name))

        else:

            @short_keys.cache.cached(ttl=60, prefix="r", key="{name}")
            def report(name: str) -> str:
                calls.append(name)
                return name

        assert report("short") == "short"
        with pytest.raises(KeyTooLarge):
            report("x" * KEY_LIMIT)
        assert calls == ["short"]  # refused before the function ran

    def test_a_decorated_result_too_large_is_returned_and_not_cached(self, small: Face) -> None:
        calls: list[int] = []
        if isinstance(small.cache, AsyncCache):

            @small.cache.cached(ttl=60, prefix="report")
            async def report_async(n: int) -> Any:
                calls.append(n)
                return BIG if n else "small"

            def report(n: int) -> Any:
                assert small.loop is not None
                return small.loop.run_until_complete(report_async(n))

        else:

            @small.cache.cached(ttl=60, prefix="report")
            def report(n: int) -> Any:
                calls.append(n)
                return BIG if n else "small"

        assert report(1) == BIG
        assert report(1) == BIG  # computed again: it could not be cached
        assert report(0) == report(0) == "small"
        assert calls == [1, 1, 0]
        assert small.stats()["report"].errors == 2
