"""The embedded in-process store: the default backend and the breaker's fallback.

Bounded by entry count and bytes (least recently used entries go first), TTL-respecting,
with exact tag bookkeeping: a key leaves its tags when it is deleted, evicted or expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from cachectl.backends.base import BatchCallback, Items
from cachectl.codec import add_to_integer
from cachectl.keys import compile_glob, prefixed
from cachectl.stats import MAX_PREFIXES, STATS_TTL, Delta, add_fields

if TYPE_CHECKING:
    from cachectl.config import CacheConfig

_NEVER = float("inf")


class MemoryStore:
    """A thread-safe, bounded, TTL-aware byte store with tags."""

    #: In-process: never unreachable, and nothing it is asked is refused.
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._tags: dict[bytes, set[bytes]] = {}
        self._key_tags: dict[bytes, tuple[bytes, ...]] = {}
        self._counters: dict[bytes, tuple[dict[bytes, int], float]] = {}  # hash, deadline
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """A store bounded as config's memory_max_entries and memory_max_bytes say."""
        return cls(config.memory_max_entries, config.memory_max_bytes)

    def after_fork(self) -> None:
        """In a forked child: a new lock; if a thread of the parent held the old one, it may
        have been halfway through a change, so the entries are dropped too."""
        held = self._lock.locked()
        self._lock = threading.Lock()
        if held:
            self.clear()
            self._counters = {}

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Bytes held by keys and values."""
        return self._bytes

    def get(self, key: bytes) -> bytes | None:
        """The value of key, or None when absent or expired."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[1] <= time.monotonic():
                self._remove(key)
                return None
            self._data.move_to_end(key)
            return item[0]

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Values of keys, None where absent."""
        return [self.get(key) for key in keys]

    def get_many_prefixed(self, prefix: bytes, keys: Sequence[str | bytes]) -> list[bytes | None]:
        """Values of prefix + each key."""
        return self.get_many(prefixed(prefix, keys))

    def ttl_ms(self, key: bytes) -> int | None:
        """Remaining life of key in ms; None without a TTL; -2 when absent."""
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] <= time.monotonic():
                return -2
            return None if item[1] == _NEVER else max(0, int((item[1] - time.monotonic()) * 1000))

    def set_many(self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()) -> None:
        """Store items, all with the same TTL and tags."""
        deadline = _NEVER if ttl_ms is None else time.monotonic() + ttl_ms / 1000
        tags = tuple(tag_keys)
        with self._lock:
            for key, value in items:
                self._put(key, value, ttl_ms, tags, deadline)
            self._evict()

    def _put(
        self,
        key: bytes,
        value: bytes,
        ttl_ms: int | None,
        tags: tuple[bytes, ...],
        deadline: float | None = None,
    ) -> None:
        # Called with the lock held.
        if deadline is None:
            deadline = _NEVER if ttl_ms is None else time.monotonic() + ttl_ms / 1000
        self._remove(key)
        size = len(key) + len(value)
        if size > self.max_bytes:
            return
        self._data[key] = (value, deadline)
        self._bytes += size
        if tags:
            self._key_tags[key] = tags
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)

    def delete(self, keys: Sequence[bytes]) -> int:
        """Remove keys; returns how many existed."""
        now = time.monotonic()
        removed = 0
        with self._lock:
            for key in keys:
                item = self._data.get(key)
                if item is not None:
                    removed += item[1] > now
                    self._remove(key)
        return removed

    def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool:
        """Store value only if key is absent (or expired); whether it did."""
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[1] > time.monotonic():
                return False
            self._put(key, value, ttl_ms, tuple(tag_keys))
            self._evict()
            return True

    def incr(self, key: bytes, delta: int) -> int | None:
        """Add delta to a stored integer, keeping its TTL; None when key is absent."""
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] <= time.monotonic():
                return None
            data, value = add_to_integer(item[0], delta)
            self._bytes += len(data) - len(item[0])
            self._data[key] = (data, item[1])
            self._data.move_to_end(key)
            return value

    def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        """Give key a new TTL (None: no expiry); whether it exists."""
        with self._lock:
            item = self._data.get(key)
            if item is None or item[1] <= time.monotonic():
                return False
            deadline = _NEVER if ttl_ms is None else time.monotonic() + ttl_ms / 1000
            self._data[key] = (item[0], deadline)
            return True

    def delete_matching(self, globs: Sequence[bytes], on_batch: BatchCallback | None = None) -> int:
        """Remove every key matching any of the Redis globs."""
        matchers = [compile_glob(g).match for g in globs]
        with self._lock:
            doomed = [k for k in self._data if any(m(k) for m in matchers)]
        removed = self.delete(doomed)
        if on_batch is not None and removed:
            on_batch(removed)
        return removed

    def invalidate_tags(self, tag_keys: Sequence[bytes]) -> int:
        """Remove every key written with any of the tags."""
        with self._lock:
            members: set[bytes] = set()
            for tag in tag_keys:
                members |= self._tags.pop(tag, set())
        return self.delete(list(members))

    def tag_members(self, tag_key: bytes) -> list[bytes]:
        """Keys currently recorded under a tag."""
        with self._lock:
            return sorted(self._tags.get(tag_key, ()))

    #: The operations layer's name for touch (EXPIRE / PERSIST on Redis).
    expire = touch

    def tag_keys(self) -> list[bytes]:
        """Every tag that has members."""
        with self._lock:
            return sorted(self._tags)

    def scan(self, glob: bytes) -> list[bytes]:
        """Live keys matching a Redis glob."""
        match = compile_glob(glob).match
        now = time.monotonic()
        with self._lock:
            return [k for k, (_, deadline) in self._data.items() if deadline > now and match(k)]

    def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = STATS_TTL, max_prefixes: int = MAX_PREFIXES
    ) -> None:
        """Add a stats delta to the hash kept under key, bounded and expiring as on Redis."""
        now = time.monotonic()
        with self._lock:
            found = self._counters.get(key)
            target = found[0] if found is not None and found[1] > now else {}
            add_fields(target, counters, max_prefixes)
            self._counters[key] = (target, now + ttl)

    def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        """The hash kept under key, as Redis would return it."""
        with self._lock:
            found = self._counters.get(key)
            if found is None or found[1] <= time.monotonic():
                self._counters.pop(key, None)
                return {}
            return {name: str(value).encode() for name, value in found[0].items()}

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._data.clear()
            self._tags.clear()
            self._key_tags.clear()
            self._bytes = 0

    def ping(self) -> None:
        """Always reachable."""

    def probe(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Nothing to release."""

    def _remove(self, key: bytes) -> None:
        item = self._data.pop(key, None)
        if item is None:
            return
        self._bytes -= len(key) + len(item[0])
        for tag in self._key_tags.pop(key, ()):
            members = self._tags.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._tags[tag]

    def _evict(self) -> None:
        while self._data and (len(self._data) > self.max_entries or self._bytes > self.max_bytes):
            self._remove(next(iter(self._data)))


class AsyncMemoryBackend:
    """A MemoryStore behind the async contract (no I/O, so nothing is awaited inside)."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """Over a new MemoryStore (see MemoryStore.from_config)."""
        return cls(MemoryStore.from_config(config))

    async def get(self, key: bytes) -> bytes | None:
        return self.store.get(key)

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return self.store.get_many(keys)

    async def get_many_prefixed(
        self, prefix: bytes, keys: Sequence[str | bytes]
    ) -> list[bytes | None]:
        return self.store.get_many_prefixed(prefix, keys)

    async def set_many(
        self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> None:
        self.store.set_many(items, ttl_ms, tag_keys)

    async def delete(self, keys: Sequence[bytes]) -> int:
        return self.store.delete(keys)

    async def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool:
        return self.store.add(key, value, ttl_ms, tag_keys)

    async def incr(self, key: bytes, delta: int) -> int | None:
        return self.store.incr(key, delta)

    async def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        return self.store.touch(key, ttl_ms)

    async def ttl_ms(self, key: bytes) -> int | None:
        return self.store.ttl_ms(key)

    async def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None
    ) -> int:
        return self.store.delete_matching(globs, on_batch)

    async def invalidate_tags(self, tag_keys: Sequence[bytes]) -> int:
        return self.store.invalidate_tags(tag_keys)

    async def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = STATS_TTL, max_prefixes: int = MAX_PREFIXES
    ) -> None:
        self.store.incr_counters(key, counters, ttl, max_prefixes)

    async def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        return self.store.read_counters(key)

    async def ping(self) -> None:
        return None

    async def probe(self) -> None:
        return None

    async def close(self) -> None:
        return None
