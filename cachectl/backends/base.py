"""The backend contract: byte keys, byte values, millisecond TTLs, tag bookkeeping.

Every multi-key method is one round trip per server (per primary on a cluster). A backend
raises one of its transient_errors when the server is unreachable or slow; the cache's breaker
decides what happens then, in one place. Backends are found by URL scheme (registry.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, Self

import redis.exceptions

if TYPE_CHECKING:
    from cachectl.config import CacheConfig

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


class Backend(Protocol):
    """A synchronous byte store.

    get_many_prefixed reads prefix + each key (str keys UTF-8 encoded), so that a backend may
    build a multi-key read in one pass over the application's keys. add stores only when the
    key is absent, atomically, and says whether it did. incr adds to an integer stored as
    cachectl.codec describes, keeping the TTL, atomically; None when the key is absent,
    TypeError when its value is no such integer, OverflowError past codec.MAX_COUNTER. touch
    sets a new TTL (None: none), and the key's tag memberships follow it (no tag forgets a
    key while it lives), and says whether the key exists. ttl_ms is the remaining life
    in milliseconds, None without expiry, -2 when the key is absent.

    incr_counters adds a stats delta to a published hash atomically, at most max_prefixes
    prefixes in it, and makes it expire ttl seconds later (cachectl.stats: the layout);
    read_counters returns the hash as stored, for CacheStats.from_fields to judge.
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
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes] = (),
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
        self, key: bytes, counters: Mapping[bytes, int], ttl: int = ..., max_prefixes: int = ...
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
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes] = (),
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
        self, key: bytes, counters: Mapping[bytes, int], ttl: int = ..., max_prefixes: int = ...
    ) -> None: ...
    async def read_counters(self, key: bytes) -> dict[bytes, bytes]: ...
    async def ping(self) -> None: ...
    async def probe(self) -> None: ...
    async def close(self) -> None: ...
