"""The embedded store seen by the operations: the few Redis commands they use, over a MemoryStore.

The operations speak redis-py (SCAN, TYPE, PTTL, MEMORY USAGE, pipelines, ZSCAN of a tag...);
MemoryClient answers those commands from the application's own MemoryStore, so listing,
inspecting, flushing and stats mean the same on memory:// as on Redis. Only strings exist in
the store; a tag reads as a sorted set whose members score their expiry in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis.exceptions

from cachectl.backends.base import BATCH, BatchCallback
from cachectl.backends.memory import MemoryStore
from cachectl.keys import compile_glob

#: Bytes a stored entry costs beyond its key and value (a rough figure, like MEMORY USAGE's).
OVERHEAD = 64
#: A score for "never expires", above any millisecond clock.
FOREVER = float(1 << 62)


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Pool:
    """What the operations read of a redis-py connection pool."""

    def __init__(self) -> None:
        self.connection_kwargs: dict[str, Any] = {}

    def disconnect(self, inuse_connections: bool = True) -> None:
        """Nothing to release."""


class _Pipeline:
    """Queues calls to a MemoryClient and runs them on execute(), as a redis-py pipeline."""

    def __init__(self, client: MemoryClient) -> None:
        self._client = client
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., _Pipeline]:
        method = getattr(self._client, name)

        def queue(*args: Any, **kwargs: Any) -> _Pipeline:
            self._calls.append((method, args, kwargs))
            return self

        return queue

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Every queued reply in order; an error is raised, or returned in its place."""
        calls, self._calls = self._calls, []
        out: list[Any] = []
        for method, args, kwargs in calls:
            try:
                out.append(method(*args, **kwargs))
            except redis.exceptions.ResponseError as exc:
                if raise_on_error:
                    raise
                out.append(exc)
        return out


class MemoryClient:
    """The redis-py commands the operations use, answered by a MemoryStore."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.connection_pool = _Pool()

    def pipeline(self, transaction: bool = False) -> _Pipeline:
        """A pipeline (run in order, no transaction)."""
        return _Pipeline(self)

    # -- the keyspace ---------------------------------------------------------------------

    def _all(self, glob: bytes) -> list[bytes]:
        """Live entries and tags matching glob, in name order (a stable order for cursors)."""
        match = compile_glob(glob).match
        found = set(self.store.scan(glob))
        found.update(tag for tag in self.store.tag_keys() if match(tag))
        return sorted(found)

    def scan(
        self, cursor: int | bytes = 0, match: bytes = b"*", count: int = 10, **_: Any
    ) -> tuple[int, list[bytes]]:
        """The next count matching keys after the offset cursor; cursor 0 when done."""
        start = int(cursor)
        keys = self._all(match)
        end = start + max(1, int(count))
        return (end if end < len(keys) else 0), keys[start:end]

    def _is_tag(self, key: bytes) -> bool:
        return key in set(self.store.tag_keys())

    def exists(self, *keys: bytes) -> int:
        """How many of keys exist."""
        return sum(1 for key in keys if self.type(key) != b"none")

    def type(self, key: bytes) -> bytes:
        """string for an entry, zset for a tag, hash for a stats hash, else none."""
        if self.store.ttl_ms(key) != -2:
            return b"string"
        if self._is_tag(key):
            return b"zset"
        if self.store.read_counters(key):
            return b"hash"
        return b"none"

    def pttl(self, key: bytes) -> int:
        """Milliseconds left; -1 without expiry; -2 when absent."""
        kind = self.type(key)
        if kind == b"none":
            return -2
        if kind != b"string":
            return -1
        ttl = self.store.ttl_ms(key)
        return -1 if ttl is None else ttl

    def memory_usage(self, key: bytes) -> int | None:
        """An estimate of the bytes key holds; None when absent."""
        value = self.store.get(key)
        if value is None:
            return None
        return len(key) + len(value) + OVERHEAD

    def get(self, key: bytes) -> bytes | None:
        """The stored bytes of an entry."""
        return self.store.get(key)

    def getrange(self, key: bytes, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an entry."""
        value = self.store.get(key)
        return b"" if value is None else value[start : end + 1]

    def strlen(self, key: bytes) -> int:
        """The length of an entry's stored bytes; 0 when absent."""
        value = self.store.get(key)
        return 0 if value is None else len(value)

    def unlink(self, *keys: bytes) -> int:
        """Delete keys."""
        return self.store.delete(list(keys))

    def pexpire(self, key: bytes, ms: int) -> bool:
        """Set a TTL in milliseconds."""
        return self.store.expire(key, int(ms))

    def persist(self, key: bytes) -> bool:
        """Remove the TTL."""
        return self.store.expire(key, None)

    def hgetall(self, key: bytes) -> dict[bytes, bytes]:
        """A stats hash."""
        return self.store.read_counters(key)

    # -- tags, read as sorted sets scored by expiry ---------------------------------------

    def _score(self, member: bytes) -> float | None:
        ttl = self.store.ttl_ms(member)
        if ttl == -2:
            return None
        return FOREVER if ttl is None else float(_now_ms() + ttl)

    def _scored(self, tag_key: bytes) -> list[tuple[bytes, float]]:
        pairs = [(m, self._score(m)) for m in self.store.tag_members(tag_key)]
        return [(m, s) for m, s in pairs if s is not None]

    def zscan(
        self, key: bytes, cursor: int | bytes = 0, count: int = 10, **_: Any
    ) -> tuple[int, list[tuple[bytes, float]]]:
        """Members of a tag with their expiry, count at a time."""
        start = int(cursor)
        pairs = self._scored(key)
        end = start + max(1, int(count))
        return (end if end < len(pairs) else 0), pairs[start:end]

    def zcount(self, key: bytes, low: float | str, high: float | str) -> int:
        """Members of a tag scoring from low (inclusive)."""
        floor = float(low)
        return sum(1 for _, score in self._scored(key) if score >= floor)

    def zcard(self, key: bytes) -> int:
        """Members of a tag."""
        return len(self._scored(key))

    def zscore(self, key: bytes, member: bytes) -> float | None:
        """A member's expiry, or None when it is not in the tag."""
        if member not in self.store.tag_members(key):
            return None
        return self._score(member)

    # -- the server -----------------------------------------------------------------------

    def time(self) -> tuple[int, int]:
        """The clock, as (seconds, microseconds)."""
        now = time.time()
        return int(now), int((now % 1) * 1_000_000)

    def ping(self) -> bool:
        """Always reachable."""
        return True

    def info(self, section: str | None = None, **_: Any) -> dict[str, Any]:
        """The store's figures under INFO's names."""
        return {
            "redis_version": "embedded",
            "redis_mode": "memory",
            "used_memory": self.store.size_bytes,
            "used_memory_peak": self.store.size_bytes,
            "maxmemory": self.store.max_bytes,
            "maxmemory_policy": "allkeys-lru",
            "db0": {"keys": len(self.store)},
        }

    def eval(self, *_: Any) -> Any:
        """No scripts here: the operations then do the work from the client."""
        raise redis.exceptions.ResponseError("scripts are not supported by the embedded store")

    evalsha = eval

    def close(self) -> None:
        """Nothing to release."""


class MemoryOpsBackend:
    """The backend methods the operations call, over a MemoryStore, batch by batch."""

    cluster = False

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.client = MemoryClient(store)

    def scan(self, glob: bytes, count: int = 1000) -> Iterator[list[bytes]]:
        """Batches of entries and tags matching glob."""
        keys = self.client._all(glob)
        for i in range(0, len(keys), max(1, count)):
            yield keys[i : i + count]

    def count_matching(self, glob: bytes, count: int = 1000) -> int:
        """How many entries and tags match glob."""
        return len(self.client._all(glob))

    def delete(self, keys: Sequence[bytes]) -> int:
        """Remove keys; returns how many existed."""
        return self.store.delete(keys) if keys else 0

    def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        """A new TTL (None: none); whether key exists."""
        return self.store.touch(key, ttl_ms)

    def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        """Remove every entry (and tag) matching a glob, count at a time."""
        batches = (batch for glob in globs for batch in list(self.scan(glob, count)))
        return _tally(map(self._unlink, batches), on_batch)

    def _unlink(self, batch: list[bytes]) -> int:
        tags = [key for key in batch if self.client._is_tag(key)]
        removed = self.store.delete(batch) + len(tags)
        if tags:
            self.store.invalidate_tags(tags)
        return removed

    def invalidate_tags(
        self, tag_keys: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        """Remove the members of tags, count at a time, then the tags."""
        return _tally(self._members_removed(tag_keys, max(1, count)), on_batch)

    def _members_removed(self, tag_keys: Sequence[bytes], count: int) -> Iterator[int]:
        for tag_key in tag_keys:
            members = self.store.tag_members(tag_key)
            for i in range(0, len(members), count):
                yield self.store.delete(members[i : i + count])
            self.store.invalidate_tags([tag_key])

    def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        """The published counters kept under key."""
        return self.store.read_counters(key)

    def ping(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """The store belongs to the application: nothing is released."""


def _tally(removed: Iterable[int], on_batch: BatchCallback | None) -> int:
    """The keys the batches removed, summed; each batch's told to on_batch as it is done."""
    total = 0
    for n in removed:
        total += n
        if on_batch is not None:
            on_batch(n)
    return total
