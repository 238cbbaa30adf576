"""The state both faces of the cache hold, and their bookkeeping of reads: no I/O here."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from time import perf_counter_ns
from typing import Any

from cachectl import forksafe
from cachectl.api import MISS, Entry, Missing, valid_seconds
from cachectl.backends.base import AsyncBackend, Backend
from cachectl.backends.memory import MemoryStore
from cachectl.breaker import Breaker, BreakerState, Pending
from cachectl.cache.helpers import MAX_TTL, prefix_of, shared_prefix
from cachectl.cache.near import Near, changed
from cachectl.codec import HAS_STAMP, Codec, fresh_until
from cachectl.config import DEFAULT_NAMESPACE, build_config
from cachectl.errors import BackendUnavailable, ConfigError, DecodeError
from cachectl.keys import Key, KeySpace
from cachectl.stats import (
    NEAR_TTL,
    CacheStats,
    Counters,
    NearStats,
    StatsRecorder,
    near_key,
    near_member,
)
from cachectl.tls import failure

log = logging.getLogger("cachectl")


class CacheState:
    """Settings, keys, codec, breaker, fallback and stats of one cache, and the decisions of
    reads; each face adds its backend (see _open) and the calls it makes."""

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        store: MemoryStore | None = None,
        **options: Any,
    ) -> None:
        config = self.config = build_config(url, namespace=namespace, **options)
        self.keys = KeySpace(config.namespace, config.max_key_size)
        self.codec = Codec(config.compress_threshold, config.compression, config.max_value_size)
        self.breaker = Breaker(config.failure_threshold, config.recovery_interval)
        self.pending = Pending(config.pending_max, max_bytes=config.pending_max_bytes)
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
        self._open(store)
        #: The near cache (docs/near-cache.md), None when off; a Cache and an AsyncCache of
        #: one configuration may share one (contrib.django does), so that each reads the
        #: other's writes at once.
        self.near: Near | None = None
        self._near_note = "" if config.near_cache is None else self._open_near()

    def _open_near(self) -> str:
        """Make the near cache and what keeps it coherent, or say why there is none."""
        assert self.config.near_cache is not None
        track = getattr(self._backend(), "track", None)
        if self.config.is_memory:
            return "memory:// is in the process already"
        if track is None:
            log.warning("cachectl: near cache off: %s cannot track keys", self.config.display_url)
            return f"{type(self._backend()).__name__} cannot track keys"
        near = self.near = Near(self.config.near_cache, self.codec)
        near.recorder = self.recorder if self._stats_on else None
        near.skip = len(self.keys.ns)
        self._near_key = near_key(self.config.namespace)
        self._tracked = self._backend()
        track(near)
        # Closed with the cache that made it, or when that cache is collected unclosed: the
        # tracking thread holds the near cache, not the cache.
        self._near_owner = weakref.finalize(self, near.close)
        return ""

    def _open(self, store: MemoryStore | None) -> None:
        """Make the backend (over store, an embedded store to share, for memory://) and what
        publishes stats: each face its own way."""
        raise NotImplementedError

    def _backend(self) -> Any:
        """The backend (each face says its type)."""
        return getattr(self, "backend")  # noqa: B009 (made by the face's _open)

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
        """This process's hit/miss/latency figures per prefix (and its near cache's)."""
        snapshot = self.recorder.snapshot()
        near = self.near_stats()
        return snapshot if near is None else dataclasses.replace(snapshot, near=near)

    def near_stats(self) -> NearStats | None:
        """This process's near-cache figures; None when near_cache is off."""
        if self.near is not None:
            hits = sum(counters.near for counters in list(self.recorder.prefixes.values()))
            return self.near.stats(hits)
        if self.config.near_cache is not None:
            return NearStats("off", self._near_note)
        return None

    def _near_changed(
        self, keys: Sequence[bytes], globs: Sequence[bytes], tags: Sequence[bytes]
    ) -> None:
        """This process changed these: its near cache drops what they may have made stale."""
        if self.near is not None:
            changed(self.near, keys, globs, tags)

    def _near_snapshot(self, near: Near) -> tuple[bytes, bytes, int, int]:
        """What publishing the near cache's snapshot takes: the member, the one it replaces,
        until when it counts and now (unix ms)."""
        now_ms = int(time.time() * 1000)
        ttl = max(NEAR_TTL, 3 * self.config.stats_interval)
        member = near_member(near.token, near.stats())
        return member, near.published, now_ms + int(ttl * 1000), now_ms

    def _close_near(self) -> None:
        if self.near is not None and self._near_owner.alive:
            self._near_owner()

    def _counters(self, key: Key) -> Counters:
        return self.recorder.counters(prefix_of(key))

    def _ttl_ms(self, ttl: float | None) -> int | None:
        if ttl is None:
            ttl = self.config.default_ttl
            if ttl is None:
                return None
        # Written so that nan fails too; past MAX_TTL, Redis refuses the expiry (or the
        # conversion overflows), and the write would fail where the caller learns nothing.
        # True would be one second; a str is a ConfigError too, not a bare TypeError.
        if not valid_seconds(ttl):
            raise ConfigError(
                f"ttl must be positive seconds up to {MAX_TTL:.0e}, or None, not {ttl!r}"
            )
        return max(1, int(ttl * 1000))

    def _tag_keys(self, tags: Iterable[str]) -> list[bytes]:
        if isinstance(tags, str):
            raise ConfigError("tags is a sequence of strings; wrap a single tag in a tuple")
        return [self.keys.tag(tag) for tag in dict.fromkeys(tags)]

    def _decode(self, full: bytes, data: bytes, counters: Counters) -> Entry | Missing:
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
            prefix = shared_prefix(keys)
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
            f"cannot reach {self.config.display_url}: {failure(exc, self.config)}"
        )
