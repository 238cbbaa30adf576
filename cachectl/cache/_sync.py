# Generated from cachectl/cache/_async.py by scripts/unasync.py: do not edit.
# Edit the source, then run `python scripts/unasync.py`; CI checks that the two agree.
"""The cache's calls, written once: the source of both faces.

scripts/unasync.py generates the synchronous face (_sync.py) from this file, so that a change
here reaches both faces. Reads and writes never raise for an outage or an unreadable value:
the breaker sends calls to the in-memory fallback, and an unreadable value is a miss counted
as an error. The decisions are in cache.base, cache.recovery and cache.changes; what each face
does its own way, in cache.faces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from time import monotonic_ns, perf_counter_ns
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar, Unpack

from cachectl.api import MISS, Entry, Missing
from cachectl.backends.base import Items
from cachectl.breaker import Owed, Pending
from cachectl.cache.changes import Change
from cachectl.cache.faces import SyncFace
from cachectl.cache.helpers import checked_delta, key_list, prefix_of, seconds_left
from cachectl.cache.near import Near
from cachectl.cache.recovery import OutOfTime, thrown
from cachectl.codec import EXT_HOOK, unpackb
from cachectl.config import DEFAULT_NAMESPACE
from cachectl.decorator import CachedFunction, CachedOptions, cached
from cachectl.errors import SerializationError, ValueTooLarge
from cachectl.keys import KEY_ERRORS, Key, prefixed
from cachectl.stats import CacheStats, Counters

P = ParamSpec("P")
R = TypeVar("R")


class Cache(SyncFace):
    """A synchronous cache over Redis, Redis Cluster or the embedded in-process store."""

    @classmethod
    def from_url(
        cls, url: str | None = None, *, namespace: str = DEFAULT_NAMESPACE, **options: Any
    ) -> Self:
        """A cache for a redis://, rediss://, unix://, redis+cluster:// or memory:// URL."""
        return cls(url, namespace=namespace, **options)

    # -- breaker ------------------------------------------------------------------------------

    def _available(self, reads: Sequence[bytes] | None = None) -> bool:
        """Whether a call goes to Redis while the breaker is not closed (see _admits); the one
        caller that may probe or carry on replaying does so first."""
        if self.breaker.claim_probe():
            try:
                self._recover()
            finally:
                self.breaker.release_probe()
        return self._admits(reads)

    def _recover(self, deadline: float | None = None) -> None:
        # The decisions are _recovery's; this only makes the calls it asks for.
        steps = self._recovery(deadline)
        step = next(steps, None)
        while step is not None:
            try:
                getattr(self, step[0])(*step[1])
            except BaseException as exc:
                step = thrown(steps, exc)
            else:
                step = next(steps, None)

    def _probe(self) -> None:
        self.backend.probe()

    def _replay(self, taken: Pending, deadline: float | None = None) -> None:
        for method, args in self._replay_calls(taken, deadline):
            if deadline is not None and time.monotonic() > deadline:
                raise OutOfTime
            getattr(self.backend, method)(*args)

    def _settle(self) -> Owed:
        """Replay what Redis is owed, probing it until close_timeout is over; what is left."""
        deadline = self._close_deadline()
        if deadline is None:
            return Owed()
        pause: float | None = 0.0
        try:
            while pause is not None:
                if pause:
                    self._pause(pause)
                claimed = self.breaker.claim_probe()
                if claimed:
                    try:
                        self._recover(deadline)
                    finally:
                        self.breaker.release_probe()
                pause = self._close_waits(deadline, claimed)
        except OutOfTime:
            pass
        return self._unpaid()

    def _publish(self, wait: bool = False) -> None:
        if not self._stats_on or not self.breaker.closed:
            return
        if not self._publish_turn(wait):
            return
        try:
            delta = self.recorder.take_delta()
            if delta:
                try:
                    self.backend.incr_counters(self.keys.stats_key, delta)
                except self._errors:
                    self.recorder.restore_delta(delta)
            if self.near is not None:
                self._publish_near(self.near)
        finally:
            self._publishing.release()

    def _publish_near(self, near: Near) -> None:
        """This process's near-cache snapshot (cachectl.stats), in place of its last one."""
        member, previous, until_ms, now_ms = self._near_snapshot(near)
        try:
            self._tracked.publish_near(self._near_key, member, previous, until_ms, now_ms)
        except self._errors as exc:
            self._warn_once("publish", "cachectl: publishing stats failed: %s", exc)
        else:
            near.published = member

    # -- reads --------------------------------------------------------------------------------

    def _lookup(self, key: Key) -> Entry | Missing:
        # The hot path: str keys are handled inline (a call costs as much as the work).
        if self.near is not None:
            return self._near_lookup(key, self.near)
        if type(key) is str:
            keys = self.keys
            full = keys.ns + key.encode("utf-8", KEY_ERRORS)
            if len(full) > keys.max_full:
                raise keys.refuse(full, key)
            counters = self.recorder.counters(key.partition(":")[0])
        else:
            full = self.keys.full(key)
            counters = self.recorder.counters(prefix_of(key))
        start = perf_counter_ns()
        data: bytes | None
        if self.breaker.closed or self._available((full,)):
            try:
                data = self.backend.get(full)
                if self.breaker.failures:
                    self.breaker.success()
            except self._transient as exc:
                self._failed(exc, counters)
                counters.fallback += 1
                data = self.fallback.get(full)
            except self._errors as exc:
                data = None
                self._refused(exc, counters)
        else:
            counters.fallback += 1
            data = self.fallback.get(full)
        found = MISS if data is None else self._decode(full, data, counters)
        if self._stats_on:
            if found is MISS:
                counters.misses += 1
            else:
                counters.hits += 1
            self._observe(counters, start)
            if self._publish_due:
                self._ensure_publisher()
        return found

    def _near_lookup(self, key: Key, near: Near) -> Entry | Missing:
        """_lookup with the near cache (cache.near, for the entry's layout): a hit answers here;
        a miss reads the value with its PTTL and keeps it. Apart from _lookup, whose path
        without a near cache then costs one test more (a measured 1 % of an embedded-store
        miss); the breaker's steps below are _lookup's."""
        if type(key) is str:
            keys = self.keys
            full = keys.ns + key.encode("utf-8", KEY_ERRORS)
            if len(full) > keys.max_full:
                raise keys.refuse(full, key)
        else:
            full = self.keys.full(key)
        now = monotonic_ns()
        entry = near.entries.get(full) if now <= near.due or near.poll(now) else None
        if entry is not None and entry[0] > now:
            entry[4] = True
            found: Entry | Missing | None = entry[1]
            if found is None:  # Near.fresh, inlined: this is the hot path
                found = (unpackb(entry[2], ext_hook=EXT_HOOK, strict_map_key=False), entry[5])
            if self._stats_on:
                counters = entry[6]
                counters.near += 1
                if found is MISS:
                    counters.misses += 1
                else:
                    counters.hits += 1
            return found
        counters = self._counters(key)
        token = near.begin(full)
        pttl: int | None = None  # None: not read from Redis, so not kept
        start = perf_counter_ns()
        data: bytes | None
        if self.breaker.closed or self._available((full,)):
            try:
                if token:
                    data, pttl = self._tracked.get_entry(full)
                else:
                    data = self.backend.get(full)
                if self.breaker.failures:
                    self.breaker.success()
            except self._transient as exc:
                self._failed(exc, counters)
                counters.fallback += 1
                data = self.fallback.get(full)
            except self._errors as exc:
                data = None
                self._refused(exc, counters)
        else:
            counters.fallback += 1
            data = self.fallback.get(full)
        found = MISS if data is None else self._decode(full, data, counters)
        if token:
            # Counted from before the read was sent: the entry expires no later than its key.
            near.keep(full, token, data, found, pttl, now, counters)
        if self._stats_on:
            if found is MISS:
                counters.misses += 1
            else:
                counters.hits += 1
            self._observe(counters, start)
            if self._publish_due:
                self._ensure_publisher()
        return found

    def get(self, key: Key, default: Any = None) -> Any:
        """The cached value of key, or default on a miss."""
        found = self._lookup(key)
        return default if isinstance(found, Missing) else found[0]

    #: The entry of key for a decorator: (value, fresh-until unix ms or None), or MISS.
    lookup = _lookup

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Any]:
        """The cached values of those keys that are present, in one round trip."""
        # Duplicates are harmless: MGET answers each, and the dict keeps one.
        keys = keys if type(keys) is list else list(keys)
        if not keys:
            return {}
        self.keys.check_many(keys)
        if self.near is not None:
            return self._near_get_many(keys, self.near)
        ns = self.keys.ns
        counters = self._counters(keys[0])
        start = perf_counter_ns()
        if self.breaker.closed or self._available(prefixed(ns, keys)):
            try:
                values = self.backend.get_many_prefixed(ns, keys)
            except self._transient as exc:
                self._failed(exc, counters)
                counters.fallback += 1
                values = self.fallback.get_many_prefixed(ns, keys)
            except self._errors as exc:
                values = [None] * len(keys)
                self._refused(exc, counters)
        else:
            counters.fallback += 1
            values = self.fallback.get_many_prefixed(ns, keys)
        out = self._collect(keys, values)
        if self._stats_on:
            self._observe(counters, start)
            if self._publish_due:
                self._ensure_publisher()
        return out

    def _near_get_many(self, keys: list[Key], near: Near) -> dict[Key, Any]:
        """get_many with the near cache: what it holds, and the rest in one round trip."""
        fulls = prefixed(self.keys.ns, keys)
        entries, now, stats_on = near.entries, monotonic_ns(), self._stats_on
        if now > near.due and not near.poll(now):
            entries = {}  # the near cache cannot be trusted this moment: every key from Redis
        held: dict[int, Entry | Missing] = {}
        for index, full in enumerate(fulls):
            entry = entries.get(full)
            if entry is not None and entry[0] > now:
                entry[4] = True
                found = entry[1]
                held[index] = near.fresh(entry) if found is None else found
                if stats_on:
                    counters = self._counters(keys[index])
                    counters.near += 1
                    if found is MISS:
                        counters.misses += 1
                    else:
                        counters.hits += 1
        fetched: dict[Key, Any] = {}
        if len(held) < len(keys):
            rest = [index for index in range(len(keys)) if index not in held]
            fetched = self._near_fetch([keys[i] for i in rest], [fulls[i] for i in rest], near)
        out: dict[Key, Any] = {}
        for index, key in enumerate(keys):
            found = held.get(index)
            if found is None:
                if key in fetched:
                    out[key] = fetched[key]
            elif not isinstance(found, Missing):
                out[key] = found[0]
        return out

    def _near_fetch(self, keys: list[Key], fulls: list[bytes], near: Near) -> dict[Key, Any]:
        """What the near cache did not hold, read from Redis (and kept), or the fallback."""
        tokens = near.begin_many(fulls)
        counters = self._counters(keys[0])
        start = perf_counter_ns()
        sent = monotonic_ns()
        replies: list[tuple[bytes | None, int]] | None = None
        if self.breaker.closed or self._available(fulls):
            try:
                if any(tokens):
                    replies = self._tracked.get_entries(fulls)
                    values = [data for data, _ in replies]
                else:
                    values = self.backend.get_many(fulls)
            except self._transient as exc:
                self._failed(exc, counters)
                counters.fallback += 1
                values = self.fallback.get_many(fulls)
            except self._errors as exc:
                values = [None] * len(keys)
                self._refused(exc, counters)
        else:
            counters.fallback += 1
            values = self.fallback.get_many(fulls)
        out = self._collect(keys, values)
        near.keep_many(keys, fulls, tokens, out, replies, sent, self._counters)
        if self._stats_on:
            self._observe(counters, start)
            if self._publish_due:
                self._ensure_publisher()
        return out

    # -- writes -------------------------------------------------------------------------------

    def set(self, key: Key, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> None:
        """Store value under key for ttl seconds (None: the cache's default_ttl).

        A value the codec refuses (SerializationError; ValueTooLarge past max_value_size)
        removes the key's old value, then raises.
        """
        try:
            data = self.codec.encode(value)
        except SerializationError as exc:
            change, error = self._refusal([(key, exc)])
            self._change(change)
            raise error from None
        self._write(
            [(self.keys.full(key), data)],
            self._ttl_ms(ttl),
            self._tag_keys(tags),
            self._counters(key),
        )

    def store_entry(
        self, key: Key, value: Any, ttl: float | None, tags: Iterable[str], stale: float | None
    ) -> None:
        """Store a decorated call's value; with stale, Redis keeps it stale seconds past ttl.

        A value the codec refuses removes the old entry, then raises (see set).
        """
        try:
            items, ttl_ms = self._entry(key, value, ttl, stale)
        except SerializationError as exc:
            change, error = self._refusal([(key, exc)])
            self._change(change)
            raise error from None
        self._write(items, ttl_ms, self._tag_keys(tags), self._counters(key))

    def set_many(
        self, mapping: Mapping[Key, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store several values, in one round trip.

        Values the codec refuses do not stop the others: those are stored, the refused keys'
        old values removed, then one error names the refused keys (ValueTooLarge.keys).
        """
        items, refused = self._encode_many(mapping)
        if items:
            self._write(
                items,
                self._ttl_ms(ttl),
                self._tag_keys(tags),
                self._counters(next(iter(mapping))),
                count=self._count_sets(mapping, refused),
            )
        if refused:
            change, error = self._refusal(refused)
            self._change(change)
            raise error from None

    def _write(
        self,
        items: Items,
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        counters: Counters,
        count: int = 1,
    ) -> None:
        counters.sets += count
        if self.breaker.closed or self._available():
            try:
                self.backend.set_many(items, ttl_ms, tag_keys)
            except self._errors as exc:
                self._failed(exc, counters)
            else:
                if not self.breaker.closed:
                    # Recovering: reads of owed keys are served by the fallback; keep it current.
                    self.fallback.set_many(items, ttl_ms, tag_keys)
                if self.near is not None:
                    self._near_changed([k for k, _ in items], (), ())
                return
        counters.fallback += 1
        # Redis may still hold an older value, or may have taken this write: delete it there.
        self._owe([k for k, _ in items])
        self.fallback.set_many(items, ttl_ms, tag_keys)
        if self.near is not None:
            self._near_changed([k for k, _ in items], (), ())

    # -- invalidation -------------------------------------------------------------------------

    def _change(self, change: Change) -> Any:
        """Send a change to Redis; while Redis is out, make it in the fallback and owe it."""
        if self.breaker.closed or self._available(change.reads):
            try:
                result = getattr(self.backend, change.method)(*change.args)
            except self._errors as exc:
                self._failed(exc, change.counters)
            else:
                if self.breaker.closed and change.done is None and self.near is None:
                    return result
                return self._sent(change, result)
        return self._kept(change)

    def delete(self, *keys: Key) -> int:
        """Remove keys; returns how many existed."""
        fulls = [self.keys.full(k) for k in keys]
        if not fulls:
            return 0
        return int(self._change(Change("delete", (fulls,), keys=fulls)))

    def invalidate_prefix(self, prefix: Key) -> int:
        """Remove the key equal to prefix and every key below it (whole segments only)."""
        exact, below = self.keys.prefix_selection(prefix)
        # The key equal to the prefix is unlinked by name: a glob without wildcards would
        # still cost a SCAN of the whole keyspace.
        named: int = self._change(Change("delete", ([exact],), keys=[exact]))
        return named + self._delete_matching((below,))

    def invalidate_pattern(self, glob: Key) -> int:
        """Remove every key matching a Redis glob (matched inside the namespace)."""
        return self._delete_matching((self.keys.glob(glob),))

    def _delete_matching(self, globs: tuple[bytes, ...]) -> int:
        return int(self._change(Change("delete_matching", (globs,), globs=globs)))

    def invalidate_tag(self, *tags: str) -> int:
        """Remove every entry written with any of the tags."""
        tag_keys = self._tag_keys(tags)
        return int(self._change(Change("invalidate_tags", (tag_keys,), tags=tag_keys)))

    # -- the rest of the cache API ------------------------------------------------------------

    def add(self, key: Key, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> bool:
        """Store value under key only if key is absent, atomically; whether it did.

        A value the codec refuses raises (ValueTooLarge past max_value_size) and changes nothing.
        """
        added: bool = self._change(self._add_change(key, value, ttl, tags))
        return added

    def incr(self, key: Key, delta: int = 1) -> int:
        """Add delta to the integer under key, atomically, keeping its TTL; the new value.

        ValueError when key is absent, TypeError when its value is not an int. While Redis is
        out, BackendUnavailable: the count is never made where it would be lost (unless the
        cache was made with fallback_counters=True: then the fallback counts, lossily).
        """
        change = self._incr_change(key, delta)
        if self.config.fallback_counters:
            return self._incremented(key, self._change(change), change)
        if self.breaker.closed or self._available(change.reads):
            try:
                result = self.backend.incr(*change.args)
            except self._errors as exc:
                self._failed(exc, change.counters)
                raise self._uncounted(key, exc) from None
            return self._incremented(key, self._sent(change, result), change)
        raise self._uncounted(key, None)

    def decr(self, key: Key, delta: int = 1) -> int:
        """Subtract delta from the integer under key (see incr)."""
        return self.incr(key, -checked_delta(delta))

    def touch(self, key: Key, ttl: float | None = None) -> bool:
        """Give key a new ttl (None: the cache's default_ttl, else no expiry); whether it exists.

        Its tags follow: invalidating one of them removes it for as long as it now lives.
        """
        touched: bool = self._change(self._touch_change(key, ttl))
        return touched

    def ttl(self, key: Key) -> float | Missing | None:
        """Seconds key has left; None when it never expires; MISS when it is absent."""
        full, counters = self.keys.full(key), self._counters(key)
        if self.breaker.closed or self._available((full,)):
            try:
                return seconds_left(self.backend.ttl_ms(full))
            except self._transient as exc:
                self._failed(exc, counters)
            except self._errors as exc:
                self._refused(exc, counters)
                return MISS
        return self._ttl_fallback(full, counters)

    def has(self, key: Key) -> bool:
        """Whether get(key) would find a value."""
        return not isinstance(self._lookup(key), Missing)

    def delete_many(self, keys: Iterable[Key]) -> int:
        """Remove keys; returns how many existed."""
        return self.delete(*key_list(keys))

    def clear(self) -> None:
        """Remove every entry of this namespace and its tag bookkeeping (never FLUSHDB)."""
        # Tags first, as in the replay of an owed clear.
        self._delete_matching((self.keys.tag_glob, self.keys.data_glob))

    def get_or_set(
        self, key: Key, default: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> Any:
        """The cached value of key; on a miss, default (called if callable) is added and returned.

        When another caller adds first, its value is returned, as Django's get_or_set does. A
        value over max_value_size is returned uncached (the refusal is counted and logged).
        """
        if tags:
            self._tag_keys(tags)  # checked on a hit too: a tag too long fails every call
        found = self._lookup(key)
        if not isinstance(found, Missing):
            return found[0]
        value = self._default_value(default)
        try:
            if self.add(key, value, ttl, tags):
                return value
        except ValueTooLarge:
            return value
        found = self._lookup(key)
        return value if isinstance(found, Missing) else found[0]

    # -- operations ---------------------------------------------------------------------------

    def ping(self) -> float:
        """Round-trip time to the backend in seconds; raises BackendUnavailable."""
        start = time.perf_counter()
        try:
            self.backend.ping()
        except self._transient as exc:
            raise self._unavailable(exc) from None
        return time.perf_counter() - start

    def published_stats(self) -> CacheStats:
        """The figures every process has published for this namespace, merged."""
        try:
            return CacheStats.from_fields(self.backend.read_counters(self.keys.stats_key))
        except self._transient as exc:
            raise self._unavailable(exc) from None

    def publish_stats(self) -> None:
        """Publish pending figures now (close does this too); they are on the server on return."""
        self._publish(wait=True)

    def close(self) -> Owed:
        """Replay the invalidations Redis is owed (waiting up to close_timeout for it), publish
        pending stats and release connections; returns what is still owed (logged at WARNING)."""
        self._stop_publisher()
        owed = self._settle()
        self._close_near()
        self._publish(wait=True)
        self.backend.close()
        return owed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def cached(
        self, ttl: float | None = None, prefix: str = "", **options: Unpack[CachedOptions]
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """Decorate a function so its results are cached here: cachectl.cached(..., cache=self),
        with its options (tags, tags_from, key, stale)."""
        return cached(ttl, prefix, cache=self, **options)
