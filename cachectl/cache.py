"""Cache and AsyncCache: the façade applications call.

Both share _CacheBase (keys, encoding, breaker decisions, stats) and differ only where they
await. Reads and writes never raise for an outage or an unreadable value: the breaker sends
calls to the in-memory fallback, and an unreadable value is a miss counted as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from cachectl import forksafe
from cachectl.api import MISS as MISS
from cachectl.api import Entry
from cachectl.api import Missing as _Missing
from cachectl.backends.base import AsyncBackend, Backend
from cachectl.backends.memory import AsyncMemoryBackend, MemoryStore
from cachectl.backends.registry import make_async_backend, make_backend
from cachectl.breaker import Breaker, BreakerState, Pending
from cachectl.codec import HAS_STAMP, Codec, fresh_until
from cachectl.config import DEFAULT_NAMESPACE, CacheConfig, build_config
from cachectl.decorator import CachedFunction, KeyTemplate, TagsFrom, cached
from cachectl.errors import (
    BackendUnavailable,
    ConfigError,
    DecodeError,
    SerializationError,
    ValueTooLarge,
)
from cachectl.keys import Key, KeySpace, display_name, prefixed
from cachectl.stats import CacheStats, Counters, StatsRecorder

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("cachectl")

#: Replay rounds one caller runs before it lets the next caller carry on.
REPLAY_ROUNDS = 3


#: The longest ttl a write takes, in seconds: Redis refuses an expiry past 2**63 ms from now.
MAX_TTL = 1e15


def _prefix(key: Key) -> str:
    if isinstance(key, str):
        return key.partition(":")[0]
    if isinstance(key, bytes):
        return display_name(key.partition(b":")[0])  # as `stats` shows the keyspace's rows
    raise TypeError(f"cache keys are str or bytes, not {type(key).__name__}")


def _shared_prefix(keys: list[Key]) -> str | None:
    """The prefix of every key, if they are str keys that all share one."""
    first = keys[0]
    if type(first) is not str:
        return None
    head = first.partition(":")[0] + ":"
    try:
        # Every string between the smallest and the largest shares what those two share.
        low, high = min(keys), max(keys)
    except TypeError:  # a bytes key among them
        return None
    if low.startswith(head) and high.startswith(head):  # type: ignore[arg-type]
        return head[:-1]
    return None


def _thrown(
    steps: Generator[tuple[str, tuple[Any, ...]], None, None], exc: BaseException
) -> tuple[str, tuple[Any, ...]] | None:
    """Tell a step generator that its last call failed; its next call, or None when done."""
    try:
        return steps.throw(exc)
    except StopIteration:
        return None


def _seconds(ttl_ms: int | None) -> float | _Missing | None:
    """A backend's remaining life in ms as ttl() answers it."""
    if ttl_ms is None:
        return None
    return MISS if ttl_ms < 0 else ttl_ms / 1000


def _delta(delta: int) -> int:
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"incr and decr add an int, not {type(delta).__name__}")
    return int(delta)


def _refusal_error(
    refused: Sequence[tuple[Key, SerializationError]], replaced: bool
) -> SerializationError:
    """The error a refused write raises: a type msgpack cannot store as the codec said it,
    values over max_value_size as one ValueTooLarge naming their keys."""
    for _, exc in refused:
        if not isinstance(exc, ValueTooLarge):
            return exc
    keys = tuple(key for key, _ in refused)
    named = ", ".join(repr(key)[:100] for key in keys[:5]) + (", ..." if len(keys) > 5 else "")
    first = refused[0][1]
    assert isinstance(first, ValueTooLarge)
    size = f"{first.size} bytes" if len(keys) == 1 else "each"
    after = "; the old value was removed" if replaced else ""
    return ValueTooLarge(
        f"not cached: {named}: {size} encoded, over max_value_size ({first.limit} bytes){after}",
        max(exc.size for _, exc in refused if isinstance(exc, ValueTooLarge)),
        first.limit,
        keys,
    )


def _key_list(keys: Iterable[Key]) -> list[Key]:
    if isinstance(keys, (str, bytes)):
        raise TypeError("delete_many takes a collection of keys; use delete for one key")
    return list(keys)


@dataclass(slots=True)
class _Change:
    """A change to the cache, described once for both faces: the backend method to call and its
    arguments. The fallback (a MemoryStore) has the same methods, so while Redis is out it makes
    the same call there, and Redis is owed keys, globs and tags.
    """

    method: str
    args: tuple[Any, ...]
    keys: Sequence[bytes] = ()
    globs: Sequence[bytes] = ()
    tags: Sequence[bytes] = ()
    #: Full keys whose owed deletions keep the change off Redis while recovering (None: none).
    reads: Sequence[bytes] | None = None
    counters: Counters | None = None
    #: What the fallback does with Redis's answer while recovering (None: the same call).
    mirror: Callable[[MemoryStore, Any], object] | None = None
    #: Applied to the answer from Redis or the fallback.
    done: Callable[[Any], Any] | None = None


class _CacheBase:
    """State and decisions shared by Cache and AsyncCache; no I/O here."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.keys = KeySpace(config.namespace)
        self.codec = Codec(config.compress_threshold, config.compression, config.max_value_size)
        self.breaker = Breaker(config.failure_threshold, config.recovery_interval)
        self.pending = Pending(config.pending_max)
        self.fallback = MemoryStore(config.fallback_max_entries, config.fallback_max_bytes)
        self.recorder = StatsRecorder()
        self._stats_on = config.stats
        self._publish_every = int(config.stats_interval * 1e9)
        self._next_publish = 0  # the first recorded call starts the publisher
        self._publishing = threading.Lock()
        self._warned: set[str] = set()
        self._owed_lock = threading.Lock()
        self._announced = 0  # the breaker's opening count when recovery was last logged
        forksafe.register(self)

    def after_fork(self) -> None:
        """In a forked child: new locks, since a thread of the parent may have held one."""
        self._owed_lock = threading.Lock()
        self._publishing = threading.Lock()
        self.breaker.after_fork()
        self.fallback.after_fork()

    def _classify(self, backend: Backend | AsyncBackend) -> None:
        # Each backend says which of its errors mean an outage (the breaker counts them) and
        # which a refused command; read only when something was raised, so the hot path is free.
        self._transient = backend.transient_errors
        self._errors = backend.errors

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(url={self.config.display_url!r}, "
            f"namespace={self.config.namespace!r}, breaker={self.breaker.state.value!r})"
        )

    @property
    def namespace(self) -> str:
        """The namespace every key of this cache lives under."""
        return self.config.namespace

    @property
    def breaker_state(self) -> BreakerState:
        """closed (Redis), open (fallback), or half-open (probing)."""
        return self.breaker.state

    def stats(self) -> CacheStats:
        """This process's hit/miss/latency figures per prefix."""
        return self.recorder.snapshot()

    def _counters(self, key: Key) -> Counters:
        return self.recorder.counters(_prefix(key))

    def _ttl_ms(self, ttl: float | None) -> int | None:
        if ttl is None:
            ttl = self.config.default_ttl
            if ttl is None:
                return None
        # Written so that nan fails too; past MAX_TTL, Redis refuses the expiry (or the
        # conversion overflows), and the write would fail where the caller learns nothing.
        if not 0 < ttl <= MAX_TTL:
            raise ConfigError(
                f"ttl must be positive seconds up to {MAX_TTL:.0e}, or None, not {ttl!r}"
            )
        return max(1, int(ttl * 1000))

    def _tag_keys(self, tags: Iterable[str]) -> list[bytes]:
        if isinstance(tags, str):
            raise ConfigError("tags is a sequence of strings; wrap a single tag in a tuple")
        return [self.keys.tag(tag) for tag in dict.fromkeys(tags)]

    def _decode(self, full: bytes, data: bytes, counters: Counters) -> Entry | _Missing:
        try:
            value = self.codec.decode(data)
            return value, (fresh_until(data) if data[2] & HAS_STAMP else None)
        except DecodeError as exc:
            counters.errors += 1
            self._warn_once(
                "decode", "cachectl: unreadable value at %r treated as a miss: %s", full, exc
            )
            return MISS

    def _entry(
        self, key: Key, value: Any, ttl: float | None, stale: float | None
    ) -> tuple[list[tuple[bytes, bytes]], int | None]:
        """The item to write for a decorated call; with stale, Redis keeps it longer."""
        ttl_ms = self._ttl_ms(ttl)
        stamp = None
        if stale is not None and ttl_ms is not None:
            stamp = int(time.time() * 1000) + ttl_ms
            ttl_ms += int(stale * 1000)
        return [(self.keys.full(key), self.codec.encode(value, stamp))], ttl_ms

    def _collect(self, keys: list[Key], values: Sequence[bytes | None]) -> dict[Key, Any]:
        """Decode a get_many reply, counting hits and misses per prefix."""
        out, failed = self.codec.decode_many(keys, values)
        for key, exc in failed:
            self._counters(key).errors += 1
            self._warn_once("decode", "cachectl: unreadable value treated as a miss: %s", exc)
        if self._stats_on:
            prefix = _shared_prefix(keys)
            if prefix is not None:
                # One prefix, the common case: counted without a look at each key.
                hits = len(out)
                if hits + len(failed) != len(keys):  # misses, or a key asked twice
                    hits = len(values) - values.count(None) - len(failed)
                c = self.recorder.counters(prefix)
                c.hits += hits
                c.misses += len(keys) - hits
            else:
                for key in keys:
                    c = self._counters(key)
                    if key in out:
                        c.hits += 1
                    else:
                        c.misses += 1
        return out

    def _failed(self, exc: BaseException, counters: Counters | None = None) -> None:
        """Count a failed call; the breaker opens at the threshold, or at once while draining."""
        if counters is not None:
            counters.errors += 1
        if self.breaker.failure():
            self._opened(exc)

    def _count_sets(
        self, mapping: Mapping[Key, Any], refused: Sequence[tuple[Key, SerializationError]] = ()
    ) -> int:
        """Count a set_many's writes on each key's own prefix (so _write counts none)."""
        if self._stats_on:
            skipped = {key for key, _ in refused}
            for key in mapping:
                if key not in skipped:
                    self._counters(key).sets += 1
        return 0

    # A write the codec refuses (a type msgpack cannot store, a value over max_value_size) is
    # decided here for both faces: set, set_many and store_entry delete the key's old value
    # (the caller meant to replace it: no read may return it after the write failed; memcached
    # and Django's memcached backend do the same), then raise; add raises and deletes nothing.

    def _encode_many(
        self, mapping: Mapping[Key, Any]
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[Key, SerializationError]]]:
        """The items to write, and apart the keys whose values the codec refuses."""
        full, encode = self.keys.full, self.codec.encode
        try:
            return [(full(k), encode(v)) for k, v in mapping.items()], []
        except SerializationError:
            pass  # rare: encode each, keeping the others
        items: list[tuple[bytes, bytes]] = []
        refused: list[tuple[Key, SerializationError]] = []
        for key, value in mapping.items():
            try:
                items.append((full(key), encode(value)))
            except SerializationError as exc:
                refused.append((key, exc))
        return items, refused

    def _refusing(
        self, refused: Sequence[tuple[Key, SerializationError]], replaced: bool
    ) -> SerializationError:
        """Count refused writes as errors, log the first, and return the error to raise."""
        for key, _ in refused:
            self._counters(key).errors += 1
        error = _refusal_error(refused, replaced)
        self._warn_once("refused-write", "cachectl: a write was refused: %s", error)
        return error

    def _refusal(
        self, refused: Sequence[tuple[Key, SerializationError]]
    ) -> tuple[_Change, SerializationError]:
        """The deletion of refused keys' old values, and the error to raise once it is made."""
        fulls = [self.keys.full(key) for key, _ in refused]
        error = self._refusing(refused, replaced=True)
        return _Change("delete", (fulls,), keys=fulls), error

    # Changes (writes but set's, deletions, invalidations) are decided here for both faces: a
    # face only sends change.remote to its backend, awaiting it or not (see _change).

    def _sent(self, change: _Change, result: Any) -> Any:
        """Redis took the change; while recovering, the fallback gets it too (reads of owed
        keys are served there, and it must hold nothing older than Redis if Redis fails again)."""
        if not self.breaker.closed:
            if change.mirror is None:
                getattr(self.fallback, change.method)(*change.args)
            else:
                change.mirror(self.fallback, result)
        return result if change.done is None else change.done(result)

    def _kept(self, change: _Change) -> Any:
        """Redis is out (or failed the change): the fallback takes it, and Redis owes it."""
        if change.counters is not None:
            change.counters.fallback += 1
        self._owe(change.keys, change.globs, change.tags)
        result = getattr(self.fallback, change.method)(*change.args)
        return result if change.done is None else change.done(result)

    def _add_change(self, key: Key, value: Any, ttl: float | None, tags: Iterable[str]) -> _Change:
        try:
            data = self.codec.encode(value)
        except SerializationError as exc:
            # Nothing to delete: add would not have replaced a value that is there.
            raise self._refusing([(key, exc)], replaced=False) from None
        full, counters = self.keys.full(key), self._counters(key)
        ttl_ms, tag_keys = self._ttl_ms(ttl), self._tag_keys(tags)

        def mirror(store: MemoryStore, added: bool) -> None:
            if added:
                store.set_many([(full, data)], ttl_ms, tag_keys)

        def counted(added: bool) -> bool:
            counters.sets += added
            return added

        return _Change(
            "add",
            (full, data, ttl_ms, tag_keys),
            keys=(full,),
            reads=(full,),
            counters=counters,
            mirror=mirror,
            done=counted,
        )

    def _incr_change(self, key: Key, delta: int) -> _Change:
        full, delta, counters = self.keys.full(key), _delta(delta), self._counters(key)
        return _Change(
            "incr",
            (full, delta),
            keys=(full,),
            reads=(full,),
            counters=counters,
            # Recovering: the fallback's copy (if any) is now older than Redis's.
            mirror=lambda s, _: s.delete([full]),
        )

    def _incremented(self, key: Key, value: int | None, change: _Change) -> int:
        """The counter's new value; a missing key is a ValueError (as Django's incr has it)."""
        if value is None:
            raise ValueError(f"cannot increment {key!r}: it is not in the cache")
        if change.counters is not None:
            change.counters.sets += 1
        return value

    def _touch_change(self, key: Key, ttl: float | None) -> _Change:
        full, ttl_ms = self.keys.full(key), self._ttl_ms(ttl)
        return _Change(
            "touch",
            (full, ttl_ms),
            keys=(full,),
            reads=(full,),
            counters=self._counters(key),
        )

    def _ttl_fallback(self, full: bytes, counters: Counters) -> float | _Missing | None:
        counters.fallback += 1
        return _seconds(self.fallback.ttl_ms(full))

    def _owe(
        self, keys: Sequence[bytes] = (), globs: Sequence[bytes] = (), tags: Sequence[bytes] = ()
    ) -> None:
        """Remember deletions Redis has not seen (the caller then applies them to the fallback)."""
        with self._owed_lock:
            self.pending.add(list(keys), tuple(globs), list(tags))
            if self.breaker.closed:
                # A call that found the breaker open finished after it closed, or a write failed
                # below the threshold: replay that debt; the fallback serves the keys it covers,
                # and holds nothing older than this moment.
                self.fallback.clear()
                self.breaker.drain()

    def _admits(self, reads: Sequence[bytes] | None) -> bool:
        """Whether a call goes to Redis while the breaker is not closed. Draining, writes and
        deletions do; a read (its full keys) does when no owed deletion covers any of them."""
        breaker = self.breaker
        if breaker.closed:
            return True
        if not breaker.draining:
            return False
        if reads is None:
            return True
        with self._owed_lock:
            owes = self.pending.owes
            return not any(owes(full) for full in reads)

    def _drain(self) -> None:
        """The probe reached Redis: writes go there from now on, and the replay starts."""
        with self._owed_lock:
            self.breaker.drain()
        log.warning("cachectl: %s answers; replaying owed invalidations", self.config.display_url)

    def _take(self) -> Pending | None:
        """The owed deletions to replay now, or None when nothing is left to replay."""
        with self._owed_lock:
            return self.pending.take() if self.pending and self.breaker.draining else None

    def _replayed(self, taken: Pending, ok: bool) -> None:
        """The replay of a taken batch reached Redis (ok), or not: then it is owed again."""
        with self._owed_lock:
            if ok:
                self.pending.paid(taken)
            else:
                self.pending.restore(taken)

    def _recovery(self) -> Generator[tuple[str, tuple[Any, ...]], None, None]:
        """The probe and the replay rounds, for both faces: yields the face's calls to make
        ("_probe", "_replay"), and is told of a failed one by a throw."""
        try:
            if not self.breaker.draining:
                yield ("_probe", ())
                self._drain()
            # No new debt while draining: the rounds converge. A few per caller, so that no
            # caller is held long; the next caller carries on.
            for _ in range(REPLAY_ROUNDS):
                if self._close_if_settled():
                    return
                taken = self._take()
                if taken is None:
                    return
                ok = False
                try:
                    yield ("_replay", (taken,))
                    ok = True
                finally:
                    self._replayed(taken, ok)
        except self._errors as exc:
            self._probe_failed(exc)

    def _replay_calls(self, taken: Pending) -> list[tuple[str, tuple[Any, ...]]]:
        """The backend calls that pay a taken batch of owed deletions, in order."""
        calls: list[tuple[str, tuple[Any, ...]]] = []
        if taken.everything:
            # Tags first: a write whose tag entry this removes was made before the data keys'
            # scan began, so that scan removes its key too.
            calls.append(("delete_matching", ([self.keys.tag_glob, self.keys.data_glob],)))
        calls.append(("delete", (list(taken.keys),)))
        if taken.globs:
            calls.append(("delete_matching", (list(taken.globs),)))
        calls.append(("invalidate_tags", (list(taken.tags),)))
        return calls

    def _close_if_settled(self) -> bool:
        """Close the breaker if nothing is owed; under the lock, so no deletion slips past."""
        with self._owed_lock:
            if not self.breaker.draining or not self.pending.settled:
                return False
            self.fallback.clear()
            self.breaker.close()
            # Said once per outage: a write refused while closed (OOM) drains without opening.
            announce = self.breaker.opened != self._announced
            self._announced = self.breaker.opened
        (log.warning if announce else log.debug)(
            "cachectl: %s is back; owed invalidations replayed", self.config.display_url
        )
        return True

    def _probe_failed(self, exc: BaseException) -> None:
        """The probe or a replay failed: Redis is unreachable again."""
        log.debug("cachectl: probe of %s failed: %s", self.config.display_url, exc)
        if self.breaker.draining:
            self._opened(exc)
        else:
            self.breaker.retry_later()

    def _opened(self, exc: BaseException) -> None:
        with self._owed_lock:
            breaker = self.breaker
            if breaker.closed:
                # The fallback starts empty at each outage: entries from an earlier one may be
                # stale. From draining it is kept: every write and deletion since the outage
                # began reached it.
                self.fallback.clear()
            elif not breaker.draining:
                return  # another caller opened it
            breaker.trip()
        log.warning(
            "cachectl: %s is failing (%s: %s); serving from the in-memory fallback",
            self.config.display_url,
            type(exc).__name__,
            exc,
        )

    def _refused(self, exc: BaseException, counters: Counters) -> None:
        """Redis answered with an error (WRONGTYPE, OOM...): a miss, counted and logged once."""
        counters.errors += 1
        self._warn_once(
            "refused",
            "cachectl: %s refused a read (%s); treated as a miss",
            self.config.display_url,
            exc,
        )

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind in self._warned:
            log.debug(message, *args)
        else:
            self._warned.add(kind)
            log.warning(message, *args)

    def _observe(self, counters: Counters, start: int) -> None:
        now = perf_counter_ns()
        counters.observe((now - start) // 1000)
        if now >= self._next_publish:
            self._next_publish = now + self._publish_every
            self._publish_due = True

    _publish_due = False

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(
            f"cannot reach {self.config.display_url}: {type(exc).__name__}: {exc}"
        )


class Cache(_CacheBase):
    """A synchronous cache over Redis, Redis Cluster or the embedded in-process store."""

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        store: MemoryStore | None = None,
        **options: Any,
    ) -> None:
        config = build_config(url, namespace=namespace, **options)
        super().__init__(config)
        self.backend: Backend = (
            store if store is not None and config.is_memory else make_backend(config)
        )
        self._classify(self.backend)
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    def after_fork(self) -> None:
        """In a forked child: fresh locks; the publisher restarts when next due."""
        super().after_fork()
        if isinstance(self.backend, MemoryStore):
            self.backend.after_fork()
        stop, self._stop = self._stop, threading.Event()
        if stop.is_set():
            self._stop.set()
        self._publisher = None

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

    def _recover(self) -> None:
        # The decisions are _recovery's; this only makes the calls it asks for.
        steps = self._recovery()
        step = next(steps, None)
        while step is not None:
            try:
                getattr(self, step[0])(*step[1])
            except BaseException as exc:
                step = _thrown(steps, exc)
            else:
                step = next(steps, None)

    def _probe(self) -> None:
        self.backend.probe()

    def _replay(self, taken: Pending) -> None:
        for method, args in self._replay_calls(taken):
            getattr(self.backend, method)(*args)

    def _publish(self, wait: bool = False) -> None:
        if not self._stats_on or not self.breaker.closed:
            return
        # The background publisher skips a turn while another publish runs; publish_stats and
        # close wait for it (one round trip, bounded by socket_timeout), so that everything
        # recorded before they were called is on the server when they return. Bounded all the
        # same: a lock held across a fork is never released in the child.
        if wait:
            config = self.config  # longer than any one publish: a connection, one round trip
            patience = config.pool_timeout + config.connect_timeout + config.socket_timeout + 1
            if not self._publishing.acquire(timeout=patience):
                return
        elif not self._publishing.acquire(blocking=False):
            return
        try:
            delta = self.recorder.take_delta()
            if delta:
                try:
                    self.backend.incr_counters(self.keys.stats_key, delta)
                except self._errors:
                    self.recorder.restore_delta(delta)
        finally:
            self._publishing.release()

    def start_publisher(self) -> None:
        """Start publishing stats every stats_interval now, not at the first call: for a
        recorder this cache shares with another face (an AsyncCache whose loops end early)."""
        self._ensure_publisher()

    def _ensure_publisher(self) -> None:
        # A daemon thread publishes every stats_interval, so figures stay live when the
        # application goes quiet; it is (re)started from the hot path at most once an interval,
        # which also covers a forked child, where the parent's thread does not exist.
        self._publish_due = False
        if not self._stats_on or self.config.is_memory or self._stop.is_set():
            return
        with self._owed_lock:  # two callers noticing at once start one thread
            thread = self._publisher
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(target=self._publish_loop, name="cachectl-stats", daemon=True)
            self._publisher = thread
            thread.start()

    def _publish_loop(self) -> None:
        while not self._stop.wait(self.config.stats_interval):
            try:
                self._publish()
            except Exception as exc:  # the publisher must outlive any one failure
                self._warn_once("publish", "cachectl: publishing stats failed: %s", exc)

    # -- reads --------------------------------------------------------------------------------

    def _lookup(self, key: Key) -> Entry | _Missing:
        # The hot path: str keys are handled inline (a call costs as much as the work).
        if type(key) is str:
            full = self.keys.ns + key.encode("utf-8", "surrogateescape")
            counters = self.recorder.counters(key.partition(":")[0])
        else:
            full = self.keys.full(key)
            counters = self.recorder.counters(_prefix(key))
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

    def get(self, key: Key, default: Any = None) -> Any:
        """The cached value of key, or default on a miss."""
        found = self._lookup(key)
        return default if isinstance(found, _Missing) else found[0]

    #: The entry of key for a decorator: (value, fresh-until unix ms or None), or MISS.
    lookup = _lookup

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Any]:
        """The cached values of those keys that are present, in one round trip."""
        # Duplicates are harmless: MGET answers each, and the dict keeps one.
        keys = keys if type(keys) is list else list(keys)
        if not keys:
            return {}
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
        items: Sequence[tuple[bytes, bytes]],
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
                return
        counters.fallback += 1
        # Redis may still hold an older value, or may have taken this write: delete it there.
        self._owe([k for k, _ in items])
        self.fallback.set_many(items, ttl_ms, tag_keys)

    # -- invalidation -------------------------------------------------------------------------

    def _change(self, change: _Change) -> Any:
        """Send a change to Redis; while Redis is out, make it in the fallback and owe it."""
        if self.breaker.closed or self._available(change.reads):
            try:
                result = getattr(self.backend, change.method)(*change.args)
            except self._errors as exc:
                self._failed(exc, change.counters)
            else:
                if self.breaker.closed and change.done is None:
                    return result
                return self._sent(change, result)
        return self._kept(change)

    def delete(self, *keys: Key) -> int:
        """Remove keys; returns how many existed."""
        fulls = [self.keys.full(k) for k in keys]
        if not fulls:
            return 0
        return int(self._change(_Change("delete", (fulls,), keys=fulls)))

    def invalidate_prefix(self, prefix: Key) -> int:
        """Remove the key equal to prefix and every key below it (whole segments only)."""
        exact, below = self.keys.prefix_selection(prefix)
        # The key equal to the prefix is unlinked by name: a glob without wildcards would
        # still cost a SCAN of the whole keyspace.
        named: int = self._change(_Change("delete", ([exact],), keys=[exact]))
        return named + self._delete_matching((below,))

    def invalidate_pattern(self, glob: Key) -> int:
        """Remove every key matching a Redis glob (matched inside the namespace)."""
        return self._delete_matching((self.keys.glob(glob),))

    def _delete_matching(self, globs: tuple[bytes, ...]) -> int:
        return int(self._change(_Change("delete_matching", (globs,), globs=globs)))

    def invalidate_tag(self, *tags: str) -> int:
        """Remove every entry written with any of the tags."""
        tag_keys = self._tag_keys(tags)
        return int(self._change(_Change("invalidate_tags", (tag_keys,), tags=tag_keys)))

    # -- the rest of the cache API ------------------------------------------------------------

    def add(self, key: Key, value: Any, ttl: float | None = None, tags: Iterable[str] = ()) -> bool:
        """Store value under key only if key is absent, atomically; whether it did.

        A value the codec refuses raises (ValueTooLarge past max_value_size) and changes nothing.
        """
        added: bool = self._change(self._add_change(key, value, ttl, tags))
        return added

    def incr(self, key: Key, delta: int = 1) -> int:
        """Add delta to the integer under key, atomically, keeping its TTL; the new value.

        ValueError when key is absent, TypeError when its value is not an int.
        """
        change = self._incr_change(key, delta)
        return self._incremented(key, self._change(change), change)

    def decr(self, key: Key, delta: int = 1) -> int:
        """Subtract delta from the integer under key (see incr)."""
        return self.incr(key, -_delta(delta))

    def touch(self, key: Key, ttl: float | None = None) -> bool:
        """Give key a new ttl (None: the cache's default_ttl, else no expiry); whether it exists.

        Its tags follow: invalidating one of them removes it for as long as it now lives.
        """
        touched: bool = self._change(self._touch_change(key, ttl))
        return touched

    def ttl(self, key: Key) -> float | _Missing | None:
        """Seconds key has left; None when it never expires; MISS when it is absent."""
        full, counters = self.keys.full(key), self._counters(key)
        if self.breaker.closed or self._available((full,)):
            try:
                return _seconds(self.backend.ttl_ms(full))
            except self._transient as exc:
                self._failed(exc, counters)
            except self._errors as exc:
                self._refused(exc, counters)
                return MISS
        return self._ttl_fallback(full, counters)

    def has(self, key: Key) -> bool:
        """Whether get(key) would find a value."""
        return not isinstance(self._lookup(key), _Missing)

    def __contains__(self, key: Key) -> bool:
        return self.has(key)

    def delete_many(self, keys: Iterable[Key]) -> int:
        """Remove keys; returns how many existed."""
        return self.delete(*_key_list(keys))

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
        found = self._lookup(key)
        if not isinstance(found, _Missing):
            return found[0]
        value = default() if callable(default) else default
        try:
            if self.add(key, value, ttl, tags):
                return value
        except ValueTooLarge:
            return value
        found = self._lookup(key)
        return value if isinstance(found, _Missing) else found[0]

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

    def close(self) -> None:
        """Publish pending stats and release connections."""
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join(self.config.socket_timeout * 4 + 0.1)
        self._publish(wait=True)
        self.backend.close()

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
        self,
        ttl: float | None = None,
        prefix: str = "",
        *,
        tags: Iterable[str] = (),
        tags_from: TagsFrom = None,
        key: KeyTemplate = None,
        stale: float | None = None,
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """Decorate a function so its results are cached here (see cachectl.cached)."""
        return cached(ttl, prefix, tags=tags, tags_from=tags_from, key=key, stale=stale, cache=self)


class AsyncCache(_CacheBase):
    """The asyncio cache: the same methods as Cache, as coroutines."""

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        store: MemoryStore | None = None,
        **options: Any,
    ) -> None:
        config = build_config(url, namespace=namespace, **options)
        super().__init__(config)
        self.backend: AsyncBackend = (
            AsyncMemoryBackend(store)
            if store is not None and config.is_memory
            else make_async_backend(config)
        )
        self._classify(self.backend)
        self._closed = False
        self._publisher: asyncio.Task[None] | None = None

    def after_fork(self) -> None:
        """In a forked child: fresh locks; the parent's publisher task is kept, never run."""
        super().after_fork()
        if isinstance(self.backend, AsyncMemoryBackend):
            self.backend.store.after_fork()
        if self._publisher is not None:
            forksafe.keep(self._publisher)
            self._publisher = None

    @classmethod
    def from_url(
        cls, url: str | None = None, *, namespace: str = DEFAULT_NAMESPACE, **options: Any
    ) -> Self:
        """A cache for a redis://, rediss://, unix://, redis+cluster:// or memory:// URL."""
        return cls(url, namespace=namespace, **options)

    async def _available(self, reads: Sequence[bytes] | None = None) -> bool:
        if self.breaker.claim_probe():
            try:
                await self._recover()
            finally:
                self.breaker.release_probe()
        return self._admits(reads)

    async def _recover(self) -> None:
        # The decisions are _recovery's; this only makes the calls it asks for.
        steps = self._recovery()
        step = next(steps, None)
        while step is not None:
            try:
                await getattr(self, step[0])(*step[1])
            except BaseException as exc:
                step = _thrown(steps, exc)
            else:
                step = next(steps, None)

    async def _probe(self) -> None:
        await self.backend.probe()

    async def _replay(self, taken: Pending) -> None:
        for method, args in self._replay_calls(taken):
            await getattr(self.backend, method)(*args)

    async def _publish(self, wait: bool = False) -> None:
        if not self._stats_on or not self.breaker.closed:
            return
        config = self.config  # see Cache._publish
        deadline = time.monotonic() + config.pool_timeout + config.connect_timeout
        deadline += config.socket_timeout + 1
        while not self._publishing.acquire(blocking=False):
            if not wait or time.monotonic() > deadline:
                return  # the background publisher skips a turn (see Cache._publish)
            # The holder may be a task of this very loop awaiting its reply, which blocking
            # would never let finish; the lock is a thread lock, polled, because tasks of
            # several loops and threads may share this cache.
            await asyncio.sleep(0.001)
        try:
            delta = self.recorder.take_delta()
            if delta:
                try:
                    await self.backend.incr_counters(self.keys.stats_key, delta)
                except self._errors:
                    self.recorder.restore_delta(delta)
        finally:
            self._publishing.release()

    def start_publisher(self) -> None:
        """Start publishing stats every stats_interval now, on the running event loop (see
        Cache.start_publisher)."""
        self._ensure_publisher()

    def _ensure_publisher(self) -> None:
        # A task on the running loop publishes every stats_interval (see Cache).
        self._publish_due = False
        if not self._stats_on or self.config.is_memory or self._closed:
            return
        task = self._publisher
        if task is not None and not task.done() and not task.get_loop().is_closed():
            return
        self._publisher = asyncio.get_running_loop().create_task(
            self._publish_loop(), name="cachectl-stats"
        )

    async def _publish_loop(self) -> None:
        # On Python 3.11 redis-py's asyncio.wait_for drops a cancel that lands as a command
        # completes (CPython gh-86296): the loop would go on and close() or the loop's
        # shutdown await it forever. So it also ends on _closed, and re-raises a cancel that
        # was requested but swallowed.
        me = asyncio.current_task()
        while not self._closed:
            await asyncio.sleep(self.config.stats_interval)
            if self._closed:
                return
            try:
                await self._publish()
            except Exception as exc:  # the publisher must outlive any one failure
                self._warn_once("publish", "cachectl: publishing stats failed: %s", exc)
            if me is not None and me.cancelling():
                raise asyncio.CancelledError

    async def _lookup(self, key: Key) -> Entry | _Missing:
        # The hot path: str keys are handled inline (a call costs as much as the work).
        if type(key) is str:
            full = self.keys.ns + key.encode("utf-8", "surrogateescape")
            counters = self.recorder.counters(key.partition(":")[0])
        else:
            full = self.keys.full(key)
            counters = self.recorder.counters(_prefix(key))
        start = perf_counter_ns()
        data: bytes | None
        if self.breaker.closed or await self._available((full,)):
            try:
                data = await self.backend.get(full)
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

    async def get(self, key: Key, default: Any = None) -> Any:
        """The cached value of key, or default on a miss."""
        found = await self._lookup(key)
        return default if isinstance(found, _Missing) else found[0]

    #: See Cache.lookup.
    lookup = _lookup

    async def get_many(self, keys: Iterable[Key]) -> dict[Key, Any]:
        """The cached values of those keys that are present, in one round trip."""
        # Duplicates are harmless: MGET answers each, and the dict keeps one.
        keys = keys if type(keys) is list else list(keys)
        if not keys:
            return {}
        ns = self.keys.ns
        counters = self._counters(keys[0])
        start = perf_counter_ns()
        if self.breaker.closed or await self._available(prefixed(ns, keys)):
            try:
                values = await self.backend.get_many_prefixed(ns, keys)
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

    async def set(
        self, key: Key, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store value under key for ttl seconds (see Cache.set)."""
        try:
            data = self.codec.encode(value)
        except SerializationError as exc:
            change, error = self._refusal([(key, exc)])
            await self._change(change)
            raise error from None
        await self._write(
            [(self.keys.full(key), data)],
            self._ttl_ms(ttl),
            self._tag_keys(tags),
            self._counters(key),
        )

    async def store_entry(
        self, key: Key, value: Any, ttl: float | None, tags: Iterable[str], stale: float | None
    ) -> None:
        """See Cache.store_entry."""
        try:
            items, ttl_ms = self._entry(key, value, ttl, stale)
        except SerializationError as exc:
            change, error = self._refusal([(key, exc)])
            await self._change(change)
            raise error from None
        await self._write(items, ttl_ms, self._tag_keys(tags), self._counters(key))

    async def set_many(
        self, mapping: Mapping[Key, Any], ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store several values, in one round trip (see Cache.set_many)."""
        items, refused = self._encode_many(mapping)
        if items:
            await self._write(
                items,
                self._ttl_ms(ttl),
                self._tag_keys(tags),
                self._counters(next(iter(mapping))),
                count=self._count_sets(mapping, refused),
            )
        if refused:
            change, error = self._refusal(refused)
            await self._change(change)
            raise error from None

    async def _write(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        counters: Counters,
        count: int = 1,
    ) -> None:
        counters.sets += count
        if self.breaker.closed or await self._available():
            try:
                await self.backend.set_many(items, ttl_ms, tag_keys)
            except self._errors as exc:
                self._failed(exc, counters)
            else:
                if not self.breaker.closed:
                    # Recovering: reads of owed keys are served by the fallback; keep it current.
                    self.fallback.set_many(items, ttl_ms, tag_keys)
                return
        counters.fallback += 1
        self._owe([k for k, _ in items])
        self.fallback.set_many(items, ttl_ms, tag_keys)

    async def _change(self, change: _Change) -> Any:
        """Send a change to Redis; while Redis is out, make it in the fallback and owe it."""
        if self.breaker.closed or await self._available(change.reads):
            try:
                result = await getattr(self.backend, change.method)(*change.args)
            except self._errors as exc:
                self._failed(exc, change.counters)
            else:
                if self.breaker.closed and change.done is None:
                    return result
                return self._sent(change, result)
        return self._kept(change)

    async def delete(self, *keys: Key) -> int:
        """Remove keys; returns how many existed."""
        fulls = [self.keys.full(k) for k in keys]
        if not fulls:
            return 0
        return int(await self._change(_Change("delete", (fulls,), keys=fulls)))

    async def invalidate_prefix(self, prefix: Key) -> int:
        """Remove the key equal to prefix and every key below it (whole segments only)."""
        exact, below = self.keys.prefix_selection(prefix)
        # The key equal to the prefix is unlinked by name: a glob without wildcards would
        # still cost a SCAN of the whole keyspace.
        named: int = await self._change(_Change("delete", ([exact],), keys=[exact]))
        return named + await self._delete_matching((below,))

    async def invalidate_pattern(self, glob: Key) -> int:
        """Remove every key matching a Redis glob (matched inside the namespace)."""
        return await self._delete_matching((self.keys.glob(glob),))

    async def _delete_matching(self, globs: tuple[bytes, ...]) -> int:
        return int(await self._change(_Change("delete_matching", (globs,), globs=globs)))

    async def invalidate_tag(self, *tags: str) -> int:
        """Remove every entry written with any of the tags."""
        tag_keys = self._tag_keys(tags)
        return int(await self._change(_Change("invalidate_tags", (tag_keys,), tags=tag_keys)))

    # -- the rest of the cache API ------------------------------------------------------------

    async def add(
        self, key: Key, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> bool:
        """Store value under key only if key is absent, atomically; whether it did (see
        Cache.add)."""
        added: bool = await self._change(self._add_change(key, value, ttl, tags))
        return added

    async def incr(self, key: Key, delta: int = 1) -> int:
        """Add delta to the integer under key, atomically, keeping its TTL; the new value.

        ValueError when key is absent, TypeError when its value is not an int.
        """
        change = self._incr_change(key, delta)
        return self._incremented(key, await self._change(change), change)

    async def decr(self, key: Key, delta: int = 1) -> int:
        """Subtract delta from the integer under key (see incr)."""
        return await self.incr(key, -_delta(delta))

    async def touch(self, key: Key, ttl: float | None = None) -> bool:
        """Give key a new ttl (None: the cache's default_ttl, else no expiry); whether it exists."""
        touched: bool = await self._change(self._touch_change(key, ttl))
        return touched

    async def ttl(self, key: Key) -> float | _Missing | None:
        """Seconds key has left; None when it never expires; MISS when it is absent."""
        full, counters = self.keys.full(key), self._counters(key)
        if self.breaker.closed or await self._available((full,)):
            try:
                return _seconds(await self.backend.ttl_ms(full))
            except self._transient as exc:
                self._failed(exc, counters)
            except self._errors as exc:
                self._refused(exc, counters)
                return MISS
        return self._ttl_fallback(full, counters)

    async def has(self, key: Key) -> bool:
        """Whether get(key) would find a value."""
        return not isinstance(await self._lookup(key), _Missing)

    async def delete_many(self, keys: Iterable[Key]) -> int:
        """Remove keys; returns how many existed."""
        return await self.delete(*_key_list(keys))

    async def clear(self) -> None:
        """Remove every entry of this namespace and its tag bookkeeping (never FLUSHDB)."""
        # Tags first, as in the replay of an owed clear.
        await self._delete_matching((self.keys.tag_glob, self.keys.data_glob))

    async def get_or_set(
        self, key: Key, default: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> Any:
        """The cached value of key; on a miss, default (called if callable) is added and returned.

        When another caller adds first, its value is returned, as Django's get_or_set does. A
        value over max_value_size is returned uncached (see Cache.get_or_set).
        """
        found = await self._lookup(key)
        if not isinstance(found, _Missing):
            return found[0]
        value = default() if callable(default) else default
        if inspect.isawaitable(value):
            value = await value
        try:
            if await self.add(key, value, ttl, tags):
                return value
        except ValueTooLarge:
            return value
        found = await self._lookup(key)
        return value if isinstance(found, _Missing) else found[0]

    async def ping(self) -> float:
        """Round-trip time to the backend in seconds; raises BackendUnavailable."""
        start = time.perf_counter()
        try:
            await self.backend.ping()
        except self._transient as exc:
            raise self._unavailable(exc) from None
        return time.perf_counter() - start

    async def published_stats(self) -> CacheStats:
        """The figures every process has published for this namespace, merged."""
        try:
            return CacheStats.from_fields(await self.backend.read_counters(self.keys.stats_key))
        except self._transient as exc:
            raise self._unavailable(exc) from None

    async def publish_stats(self) -> None:
        """Publish pending figures now (close does this too); they are on the server on return."""
        await self._publish(wait=True)

    async def close(self) -> None:
        """Publish pending stats and release connections."""
        self._closed = True
        task, self._publisher = self._publisher, None
        if task is not None and not task.done():
            loop = task.get_loop()
            if loop is asyncio.get_running_loop():
                task.cancel()
                # wait(), not `await task`: the task's cancellation is not raised here, and a
                # cancellation of close() itself still is.
                await asyncio.wait({task})
            elif not loop.is_closed():  # started on another thread's loop: cancelled there
                with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                    loop.call_soon_threadsafe(task.cancel)
        await self._publish(wait=True)
        await self.backend.close()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def cached(
        self,
        ttl: float | None = None,
        prefix: str = "",
        *,
        tags: Iterable[str] = (),
        tags_from: TagsFrom = None,
        key: KeyTemplate = None,
        stale: float | None = None,
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """Decorate a coroutine function so its results are cached here."""
        return cached(ttl, prefix, tags=tags, tags_from=tags_from, key=key, stale=stale, cache=self)
