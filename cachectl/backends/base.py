"""The backend contract: byte keys, byte values, millisecond TTLs, tag bookkeeping.

Every multi-key method is one round trip per server (per primary on a cluster). A backend
raises one of its transient_errors when the server is unreachable or slow; the cache's breaker
decides what happens then, in one place. Backends are found by URL scheme (registry.py).

What a backend may know of what it stores
-----------------------------------------
Values are opaque bytes, and keys opaque but for the layout below, with three exceptions, each
the minimum a server-side step needs to be atomic and one round trip (a counter that two
processes increment at once, an invalidation that must not leave bookkeeping behind, a
stats hash that many processes add to and that stays bounded). Moving that knowledge up into
the cache would cost each of them a WATCH/MULTI transaction and its retries under contention
(the scriptless fallback measures the difference where a server refuses scripts). So a
backend may rely on exactly this, and on nothing else of the format:

1. incr: a counter is stored in cachectl.codec's plain-integer form (header C1 01 00, then one
   msgpack integer and nothing after it, within codec.MAX_COUNTER); incr rewrites it in that
   form (codec.add_to_integer does it in Python). Anything else is a TypeError, never changed.
2. Key layout (cachectl.keys): a data key is '<namespace>:<key>'; a key whose namespace
   holds '#' is bookkeeping. Tag keys (KeySpace.tag) are given to set_many, add and
   invalidate_tags, and what they hold is the backend's own. A backend that keeps tag
   bookkeeping in the keyspace (Redis) keeps each data key's tags record at
   '<namespace>#tag::<key>' (keys.tags_record: a msgpack array of tag keys of the key's own
   namespace), so that touch can move the key's tag memberships, and delete and
   delete_matching unlink the records of the data keys they unlink (none outlives its entry).
3. Stats (cachectl.stats, the published layout): incr_counters adds a Delta to the hash at
   key, keeping at most max_prefixes 'prefix:<p>' places and '#prefixes' as stats.add_fields
   does; read_counters returns the hash as stored, for CacheStats.from_fields to judge.

A backend never decodes a value, never compresses, never reads a fresh-until stamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, Self

import redis.exceptions

if TYPE_CHECKING:
    from cachectl.cache.near import Near
    from cachectl.config import CacheConfig
    from cachectl.stats import Delta

#: Errors that mean "the server is unreachable or slow", as opposed to a bad command: those of
#: the Redis backends (each backend says its own: transient_errors).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.SlotNotCoveredError,  # a cluster whose slots are moving, or a node down
    OSError,
)

#: Every error the Redis backends raise: the transient ones, and commands Redis refused (OOM,
#: WRONGTYPE); each backend says its own (errors).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    # redis-py's cluster client raises these, which are not RedisErrors.
    redis.exceptions.RedisClusterException,
    OSError,
)

#: Keys are unlinked this many at a time; SCAN is asked for this many per call.
BATCH = 1000

#: Called after each deleted batch with the number of keys it removed.
BatchCallback = Callable[[int], None]

#: What a write stores: (full key, value) pairs.
Items = Sequence[tuple[bytes, bytes]]


class Backend(Protocol):
    """A synchronous byte store (see the module docstring for what it may know of the bytes).

    get_many_prefixed reads prefix + each key (str keys UTF-8 encoded), so that a backend may
    build a multi-key read in one pass over the application's keys. set_many stores items with
    one TTL (None: none) and records each key under tag_keys. add stores only when the key is
    absent, atomically, and says whether it did. incr adds to a counter (rule 1), keeping the
    TTL, atomically; None when the key is absent, TypeError when its value is no such integer,
    OverflowError past codec.MAX_COUNTER. touch sets a new TTL (None: none), and the key's tag
    memberships follow it (no tag forgets a key while it lives), and says whether the key
    exists. ttl_ms is the remaining life in milliseconds, None without expiry, -2 when the key
    is absent. delete and delete_matching (Redis globs) say how many keys they removed;
    invalidate_tags removes every key recorded under the tags.

    incr_counters adds a stats delta to a published hash atomically (rule 3), and makes it
    expire ttl seconds later; read_counters returns the hash as stored.
    """

    #: Errors meaning the server is unreachable or slow: the breaker counts them.
    transient_errors: ClassVar[tuple[type[BaseException], ...]]
    #: Every error a command may raise (the transient ones included).
    errors: ClassVar[tuple[type[BaseException], ...]]

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self: ...

    def get(self, key: bytes) -> bytes | None: ...
    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]: ...
    def get_many_prefixed(
        self, prefix: bytes, keys: Sequence[str | bytes]
    ) -> list[bytes | None]: ...
    def set_many(
        self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> None: ...
    def delete(self, keys: Sequence[bytes]) -> int: ...
    def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool: ...
    def incr(self, key: bytes, delta: int) -> int | None: ...
    def touch(self, key: bytes, ttl_ms: int | None) -> bool: ...
    def ttl_ms(self, key: bytes) -> int | None: ...
    def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None
    ) -> int: ...
    def invalidate_tags(self, tag_keys: Sequence[bytes]) -> int: ...
    def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = ..., max_prefixes: int = ...
    ) -> None: ...
    def read_counters(self, key: bytes) -> dict[bytes, bytes]: ...
    def ping(self) -> None: ...
    def probe(self) -> None: ...
    def close(self) -> None: ...


class AsyncBackend(Protocol):
    """The same contract, awaited."""

    #: Errors meaning the server is unreachable or slow: the breaker counts them.
    transient_errors: ClassVar[tuple[type[BaseException], ...]]
    #: Every error a command may raise (the transient ones included).
    errors: ClassVar[tuple[type[BaseException], ...]]

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self: ...

    async def get(self, key: bytes) -> bytes | None: ...
    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]: ...
    async def get_many_prefixed(
        self, prefix: bytes, keys: Sequence[str | bytes]
    ) -> list[bytes | None]: ...
    async def set_many(
        self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> None: ...
    async def delete(self, keys: Sequence[bytes]) -> int: ...
    async def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool: ...
    async def incr(self, key: bytes, delta: int) -> int | None: ...
    async def touch(self, key: bytes, ttl_ms: int | None) -> bool: ...
    async def ttl_ms(self, key: bytes) -> int | None: ...
    async def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None
    ) -> int: ...
    async def invalidate_tags(self, tag_keys: Sequence[bytes]) -> int: ...
    async def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = ..., max_prefixes: int = ...
    ) -> None: ...
    async def read_counters(self, key: bytes) -> dict[bytes, bytes]: ...
    async def ping(self) -> None: ...
    async def probe(self) -> None: ...
    async def close(self) -> None: ...


class TrackedBackend(Backend, Protocol):
    """A backend a near cache can stand on (cachectl.cache.near): it reads a value and its
    remaining life in milliseconds (-1: none, -2: absent) in one round trip, makes what tells
    the near cache of every write to the namespace's keys (track), and keeps each process's
    near-cache snapshot in a bounded sorted set (publish_near, read_near: see cachectl.stats)."""

    def get_entry(self, key: bytes) -> tuple[bytes | None, int]: ...
    def get_entries(self, keys: Sequence[bytes]) -> list[tuple[bytes | None, int]]: ...
    def track(self, near: Near) -> object: ...
    def publish_near(
        self, key: bytes, member: bytes, previous: bytes, until_ms: int, now_ms: int
    ) -> None: ...
    def read_near(self, key: bytes, now_ms: int) -> list[bytes] | None: ...


class AsyncTrackedBackend(AsyncBackend, Protocol):
    """The same, awaited."""

    async def get_entry(self, key: bytes) -> tuple[bytes | None, int]: ...
    async def get_entries(self, keys: Sequence[bytes]) -> list[tuple[bytes | None, int]]: ...
    def track(self, near: Near) -> object: ...
    async def publish_near(
        self, key: bytes, member: bytes, previous: bytes, until_ms: int, now_ms: int
    ) -> None: ...
    async def read_near(self, key: bytes, now_ms: int) -> list[bytes] | None: ...
