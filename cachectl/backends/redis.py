"""Redis and Redis Cluster backends (redis-py with hiredis), sync and async.

Both speak the contract of backends.base; multi-key calls are pipelined so that each is one
round trip per server, and on a cluster commands are grouped by hash slot, never CROSSSLOT.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any, ClassVar, Self, cast

import msgpack
import redis
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachectl import forksafe
from cachectl.backends import scriptless
from cachectl.backends.base import BACKEND_ERRORS, BATCH, TRANSIENT_ERRORS, BatchCallback
from cachectl.backends.loops import PerLoop
from cachectl.codec import MAX_COUNTER, add_to_integer
from cachectl.config import CacheConfig
from cachectl.keys import prefixed, tags_record
from cachectl.stats import (
    MAX_PREFIX_BYTES,
    MAX_PREFIXES,
    NOT_A_HASH,
    OTHER,
    STATS_TTL,
    split_field,
)

# Records a write under a tag. A member's score is its expiry in server milliseconds (for an
# entry without a TTL: NO_TTL_BASE plus the write time, far in the future), plus the write's
# microseconds as a fraction, so each write scores apart and invalidation can tell an entry
# written again meanwhile from the one it unlinked. Expired members are reaped on every write,
# and the set expires with its longest-lived member, so bookkeeping never outlives the entries.
# Where scripts are refused, cachectl.backends.scriptless does the same from the client.
NO_TTL_BASE = scriptless.NO_TTL_BASE  # ms: the year 2096; scores at or above it have no expiry
TAG_SCRIPT = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stamp = (tonumber(t[2]) % 1000) / 1000
local ttl = tonumber(ARGV[1])
local score
if ttl >= 0 then score = now + ttl + stamp else score = {NO_TTL_BASE} + now + stamp end
score = string.format('%.3f', score)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], score, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] == nil then return 0 end
local last = tonumber(top[2])
if last >= {NO_TTL_BASE} then redis.call('PERSIST', KEYS[1])
else redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.floor(last))) end
return 1
"""


NOT_INTEGER = "CACHECTL_NOT_INTEGER"
OUT_OF_RANGE = "CACHECTL_OUT_OF_RANGE"


# Removes tag members whose score is still the one read before their keys were unlinked, so an
# entry written again meanwhile (a new score: see TAG_SCRIPT) keeps its membership.
FORGET_SCRIPT = """
local removed = 0
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if current and (current == ARGV[i + 1] or tonumber(current) == tonumber(ARGV[i + 1])) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""


# Unlinks, on the server, the keys one SCAN step finds: no key crosses the network, and a call
# holds the server for one SCAN COUNT's worth of work (a few milliseconds for 4,000 on a
# million keys). Measured there, this is as fast as a single script looping over the whole
# keyspace, which would block every other client for the whole run.
# The tags records of the data keys it unlinks go with them (see _records_of), not counted.
SCAN_UNLINK_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys, removed, records = reply[2], 0, {}
for i = 1, #keys, 1000 do
  removed = removed + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys)))
end
for _, key in ipairs(keys) do
  local at = string.find(key, ':', 1, true)
  local head = at and string.sub(key, 1, at - 1)
  if head and not string.find(head, '#', 1, true) then
    records[#records + 1] = head .. '#tag::' .. string.sub(key, at + 1)
  end
end
for i = 1, #records, 1000 do
  redis.call('UNLINK', unpack(records, i, math.min(i + 999, #records)))
end
return {reply[1], removed}
"""


# Adds one process's stats delta to the namespace's hash (see cachectl.stats): a prefix takes
# one of ARGV[2] places on first publish, and past them its figures go to ARGV[3], so the hash
# stays bounded whatever the number of processes; a field that is not an integer (written by
# someone else) is replaced rather than failing the whole publish; the hash then lives ARGV[1]
# seconds more. A prefix longer than MAX_PREFIX_BYTES (an older writer) goes to ARGV[3] too.
# ARGV from 4 on: kind, prefix, rest, delta for each field.
PUBLISH_SCRIPT = f"""
local key, cap, other = KEYS[1], tonumber(ARGV[2]), ARGV[3]
local raw = redis.call('HGET', key, '#prefixes')
local places = 0
if raw then
  places = tonumber(raw)
  if places == nil or places < 0 or places ~= math.floor(places) then places = cap end
end
local taken = places
local seen = {{}}
for i = 4, #ARGV, 4 do
  local prefix = ARGV[i + 1]
  local label = seen[prefix]
  if label == nil then
    label = prefix
    if #prefix > {MAX_PREFIX_BYTES} then
      label = other
    elseif prefix ~= other and redis.call('HEXISTS', key, 'prefix:' .. prefix) == 0 then
      if places < cap then
        redis.call('HSET', key, 'prefix:' .. prefix, 1)
        places = places + 1
      else
        label = other
      end
    end
    seen[prefix] = label
  end
  local field = ARGV[i] .. ':' .. label .. ARGV[i + 2]
  if type(redis.pcall('HINCRBY', key, field, ARGV[i + 3])) == 'table' then
    redis.call('HSET', key, field, ARGV[i + 3])
  end
end
if places ~= taken or not raw then redis.call('HSET', key, '#prefixes', places) end
redis.call('EXPIRE', key, ARGV[1])
return places
"""


def _publish_args(
    key: bytes, counters: Mapping[bytes, int], ttl: int, max_prefixes: int
) -> list[Any]:
    args: list[Any] = ["EVAL", PUBLISH_SCRIPT, 1, key, ttl, max_prefixes, OTHER]
    for name, delta in counters.items():
        args += [*split_field(name), delta]
    return args


# Counts, on the server, the keys one SCAN step finds (for a count before a flush).
SCAN_COUNT_SCRIPT = """
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
return {reply[1], #reply[2]}
"""


# Adds ARGV[1] to an integer stored plainly (see cachectl.codec: header C1 01 00, then one
# msgpack integer), keeping the key's TTL: the read and the write are one step on the server, so
# increments from many processes never lose one another. A missing key answers nil.
INCR_SCRIPT = f"""
local data = redis.call('GET', KEYS[1])
if not data then return false end
local first = string.byte(data, 4)
if #data < 4 or string.sub(data, 1, 3) ~= '\\193\\1\\0' then
  return redis.error_reply('{NOT_INTEGER}')
end
local sizes = {{[0xcc]=2, [0xcd]=3, [0xce]=5, [0xcf]=9, [0xd0]=2, [0xd1]=3, [0xd2]=5, [0xd3]=9}}
local size = sizes[first]
if first <= 0x7f or first >= 0xe0 then size = 1 end
if size == nil or #data ~= 3 + size then return redis.error_reply('{NOT_INTEGER}') end
local value = cmsgpack.unpack(string.sub(data, 4)) + tonumber(ARGV[1])
if math.abs(value) > {MAX_COUNTER} then return redis.error_reply('{OUT_OF_RANGE}') end
redis.call('SET', KEYS[1], '\\193\\1\\0' .. cmsgpack.pack(value), 'KEEPTTL')
return value
"""


def _watched_incr(data: bytes | None, pipe: Any, key: bytes, delta: int) -> int | None:
    """An increment where scripts are refused (an ACL, a managed service): with key WATCHed and
    read, queue the new value in MULTI; redis-py runs this again if another client wrote key
    before EXEC, so no increment is lost. Both faces' transactions call it."""
    if data is None:
        return None
    stored, value = add_to_integer(data, delta)
    pipe.multi()
    pipe.set(key, stored, keepttl=True)
    return value


def _counter_error(exc: redis.exceptions.ResponseError) -> Exception:
    """The Python error for an INCR_SCRIPT refusal; other replies stay what they are."""
    text = str(exc)
    if NOT_INTEGER in text:
        return TypeError("the stored value is not an integer the library wrote")
    if OUT_OF_RANGE in text:
        return OverflowError(f"a counter stays within +/-{MAX_COUNTER}")
    return exc


def _step_args(script: str, cursor: bytes, glob: bytes, count: int) -> list[Any]:
    """One call of a SCAN step script (SCAN_UNLINK_SCRIPT, SCAN_COUNT_SCRIPT)."""
    return ["EVAL", script, 0, cursor, glob, count]


def _forget_args(tag_key: bytes, pairs: list[tuple[bytes, float]]) -> list[Any]:
    args: list[Any] = ["EVAL", FORGET_SCRIPT, 1, tag_key]
    for member, score in pairs:
        args += [member, repr(score)]
    return args


def _not_a_hash(exc: redis.exceptions.ResponseError) -> dict[bytes, bytes]:
    """The stats key holds something else: one unusable field, which readers count."""
    if not str(exc).startswith("WRONGTYPE"):
        raise exc
    return {NOT_A_HASH: b""}


class BoundedPool(redis.ConnectionPool):
    """A bounded pool whose callers wait up to wait_timeout for a free connection.

    redis-py's BlockingConnectionPool spends about 3 µs of a 60 µs local GET on a Queue, a
    select() on the socket it hands out and metrics bookkeeping; here a free slot is a counter
    under the pool's lock, and only a caller that finds none waits. A connection comes back
    only after its reply was read in full (redis-py disconnects on any error), so it is clean.
    """

    def __init__(self, *args: Any, wait_timeout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wait_timeout = wait_timeout
        self._fresh_locks()
        forksafe.register(self)

    def _fresh_locks(self) -> None:
        self._lock = threading.RLock()
        self._freed = threading.Condition(self._lock)
        self._free = self.max_connections
        self._waiting = 0

    def after_fork(self) -> None:
        """In a forked child: new locks, and none of the parent's connections."""
        self._fresh_locks()
        self.reset()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._free <= 0 and not self._wait_for_slot():
                raise redis.exceptions.ConnectionError("No connection available.")
            self._free -= 1
            try:
                connection = (
                    self._available_connections.pop()
                    if self._available_connections
                    else self.make_connection()
                )
            except BaseException:
                self._give_back_slot()
                raise
            self._in_use_connections.add(connection)
        try:
            connection.connect()  # a no-op when connected
        except BaseException:
            connection.disconnect()  # a handshake cut short may leave a reply unread
            self.release(connection)
            raise
        return connection

    def _wait_for_slot(self) -> bool:
        # Called with the lock held; Condition.wait releases it meanwhile.
        deadline = time.monotonic() + self._wait_timeout
        self._waiting += 1
        try:
            while self._free <= 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._freed.wait(remaining)
            return True
        finally:
            self._waiting -= 1

    def _give_back_slot(self) -> None:
        self._free += 1
        if self._waiting:
            self._freed.notify()

    def release(self, connection: Any) -> None:
        with self._lock:
            try:
                self._in_use_connections.remove(connection)
            except KeyError:
                return  # handed out before a fork or a reset: not ours to take back
            self._give_back_slot()
            if connection.should_reconnect():
                connection.disconnect()
            self._available_connections.append(connection)


def _get_command(key: bytes) -> bytes:
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)


def _mget_command(keys: Sequence[bytes]) -> bytes:
    head = b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)
    return head + b"".join([b"$%d\r\n%s\r\n" % (len(key), key) for key in keys])


def _unlink_command(keys: Sequence[bytes]) -> bytes:
    head = b"*%d\r\n$6\r\nUNLINK\r\n" % (len(keys) + 1)
    return head + b"".join([b"$%d\r\n%s\r\n" % (len(key), key) for key in keys])


def _mget_prefixed_command(prefix: bytes, keys: Sequence[str | bytes]) -> bytes:
    """MGET of prefix + each key; built as text when every key is ASCII text (the usual case)."""
    try:
        ascii_only = "".join(keys).isascii()  # type: ignore[arg-type]
    except TypeError:  # a bytes key
        ascii_only = False
    if not ascii_only or not prefix.isascii():
        return _mget_command(prefixed(prefix, keys))
    return _mget_text_command(prefix.decode(), cast(Sequence[str], keys))


def _mget_text_command(prefix: str, keys: Sequence[str]) -> bytes:
    # ASCII only: a length in characters is the length in bytes. Keys of one length in a row
    # (user:1001, user:1002...) are joined in one call instead of formatted one by one, at a
    # fifth of the cost; keys whose length keeps changing are formatted one by one. Keys are
    # concatenated, never formatted: a str subclass (an Enum) may format as something else.
    n = len(prefix)
    if sum(1 for _ in groupby(map(len, keys))) * 4 > len(keys):
        body = "".join([f"${len(k) + n}\r\n{prefix}" + k + "\r\n" for k in keys])
    else:
        parts: list[str] = []
        for size, run in groupby(keys, len):
            head = f"${size + n}\r\n{prefix}"
            parts += (head, f"\r\n{head}".join(run), "\r\n")
        body = "".join(parts)
    return f"*{len(keys) + 1}\r\n$4\r\nMGET\r\n{body}".encode()


class BoundedAsyncPool(aioredis.ConnectionPool):
    """A bounded pool that waits up to wait_timeout for a free connection.

    redis.asyncio's BlockingConnectionPool takes a Condition and a timeout scope on every call
    (about 9 µs, 18 % of a local GET); here a free slot is a counter, and only a caller that
    finds none waits, on a future of its own, in arrival order.
    """

    def __init__(self, *args: Any, wait_timeout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._free = self.max_connections
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._wait_timeout = wait_timeout

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        # The base class's steps, minus its per-call bookkeeping: take a connection under the
        # pool lock, then make sure it is connected; a failure gives the slot back.
        try:
            async with self._lock:
                connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        except BaseException:
            self._free_slot()
            raise
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._wait_timeout):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # handed over just as the wait ran out: pass it on
            raise redis.exceptions.ConnectionError("No connection available.") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()
            raise

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the longest waiter
                return
        self._free += 1

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            self._free_slot()


def client_options(config: CacheConfig, *, for_asyncio: bool = False) -> dict[str, Any]:
    """Connection options of the sync client, or of the asyncio one (its own Retry class:
    redis-py 8.2 warns when an asyncio client is given the sync one)."""
    options: dict[str, Any] = {
        "socket_timeout": config.socket_timeout,
        "socket_connect_timeout": config.connect_timeout,
        # The breaker decides what a failure means; redis-py retrying would multiply timeouts.
        "retry": (AsyncRetry if for_asyncio else Retry)(NoBackoff(), 0),
        "client_name": "cachectl",
    }
    if config.password is not None:
        options["password"] = config.password
    return options


def sync_client(config: CacheConfig) -> redis.Redis | redis.RedisCluster:
    """A redis-py client for config: a bounded blocking pool, or a cluster client."""
    options = client_options(config)
    if config.cluster:
        return redis.RedisCluster.from_url(
            config.redis_url, max_connections=config.max_connections, **options
        )
    pool = BoundedPool.from_url(
        config.redis_url,
        max_connections=config.max_connections,
        wait_timeout=config.pool_timeout,
        **options,
    )
    return redis.Redis.from_pool(pool)


class _AsyncCluster(aioredis.RedisCluster):
    """redis.asyncio's cluster client, initialized before any command's own work.

    A command resolves its routing (which may ask the startup node) before it initializes the
    client; on a new client several tasks at once then use startup-node connections that the
    first initialization closes, and one reads 'Connection lost'. Each event loop has a new
    client, so that first burst is common; initializing first (once: initialize() returns at
    once when done) avoids it.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)


def async_client(config: CacheConfig) -> aioredis.Redis | aioredis.RedisCluster:
    """The asyncio counterpart of sync_client."""
    options = client_options(config, for_asyncio=True)
    if config.cluster:
        return _AsyncCluster.from_url(
            config.redis_url, max_connections=config.max_connections, **options
        )
    pool = BoundedAsyncPool.from_url(
        config.redis_url,
        max_connections=config.max_connections,
        wait_timeout=config.pool_timeout,
        **options,
    )
    return aioredis.Redis.from_pool(pool)


def _tag_args(tag_key: bytes, ttl_ms: int | None, members: Sequence[bytes]) -> list[Any]:
    return ["EVAL", TAG_SCRIPT, 1, tag_key, -1 if ttl_ms is None else ttl_ms, *members]


def _ttl_reply(pttl: int) -> int | None:
    """PTTL's answer in the contract's terms: None without expiry, -2 when absent."""
    pttl = int(pttl)
    return None if pttl == -1 else pttl


#: Tag keys a tags record may list for touch to move (more are not read).
MAX_RECORDED_TAGS = 1000


def _record(tag_keys: Sequence[bytes]) -> bytes:
    """The value of a tags record (keys.tags_record): the tag keys, as a msgpack array."""
    return msgpack.packb(list(tag_keys))  # type: ignore[no-any-return]


def _recorded_tags(key: bytes, data: bytes | None) -> list[bytes]:
    """The tag keys a tags record of key lists; those of key's namespace only, so that a record
    written by someone else can make touch write to no other key."""
    if not data:
        return []
    try:
        tags = msgpack.unpackb(data, max_array_len=MAX_RECORDED_TAGS, max_map_len=0)
    except Exception:
        return []
    if not isinstance(tags, list):
        return []
    own = key.partition(b":")[0] + b"#tag:{"
    return [t for t in tags if type(t) is bytes and t.startswith(own) and t.endswith(b"}")]


# Pipelines are filled here once for both faces: redis-py's sync and asyncio pipelines queue
# commands alike and differ only in awaiting execute().


def _queue_writes(
    pipe: Any,
    items: Sequence[tuple[bytes, bytes]],
    ttl_ms: int | None,
    tag_keys: Sequence[bytes],
    members: Sequence[bytes] | None = None,
) -> Any:
    """Queue a set of items and their tag bookkeeping (members: the tagged keys, if not items'):
    each tagged key's record of its tags, with its TTL, then its place in each tag set."""
    tagged = _tagged(items, members)
    scriptless.queue_sets(pipe, items, ttl_ms, tag_keys, tagged, _record(tag_keys))
    for tag_key in tag_keys:
        pipe.execute_command(*_tag_args(tag_key, ttl_ms, tagged))
    return pipe


def _tagged(items: Sequence[tuple[bytes, bytes]], members: Sequence[bytes] | None) -> list[bytes]:
    return [key for key, _ in items] if members is None else list(members)


def _queue_sets_here(
    pipe: Any,
    items: Sequence[tuple[bytes, bytes]],
    ttl_ms: int | None,
    tag_keys: Sequence[bytes],
    members: Sequence[bytes] | None,
) -> Any:
    """Step 1 of a tagged write where scripts are refused (see scriptless): the items and
    their tags records; the caller then reads TIME."""
    tagged = _tagged(items, members)
    return scriptless.queue_sets(pipe, items, ttl_ms, tag_keys, tagged, _record(tag_keys))


def _queue_touch(pipe: Any, key: bytes, ttl_ms: int | None) -> Any:
    """Queue a new TTL for key and the read of its tags record (see _touched)."""
    if ttl_ms is None:
        _queue_persist(pipe, key)
    else:
        pipe.pexpire(key, ttl_ms)
    pipe.get(tags_record(key))
    return pipe


def _touched(key: bytes, ttl_ms: int | None, replies: list[Any]) -> tuple[bool, list[bytes]]:
    """Whether key exists, and the tag sets its membership must move in (its new TTL)."""
    exists = bool(replies[1] if ttl_ms is None else replies[0])
    return exists, _recorded_tags(key, replies[-1]) if exists else []


def _queue_persist(pipe: Any, key: bytes) -> Any:
    # PERSIST answers 0 for a key without a TTL too: whether it exists is asked beside it.
    pipe.persist(key)
    pipe.exists(key)
    return pipe


def _records_of(keys: Sequence[bytes]) -> list[bytes]:
    """The tags records of data keys ('N:<key>'), to unlink with them; bookkeeping keys
    ('N#...') have none. Bookkeeping then never outlives the entries it is about."""
    records = []
    for key in keys:
        namespace, sep, _ = key.partition(b":")
        if sep and b"#" not in namespace:
            records.append(tags_record(key))
    return records


def _queue_unlink(pipe: Any, keys: Sequence[bytes]) -> Any:
    """Unlink keys (the first reply counts them), then their tags records."""
    pipe.unlink(*keys)
    if records := _records_of(keys):
        pipe.unlink(*records)
    return pipe


def _queue_unlink_scan(pipe: Any, keys: list[bytes], cursor: int, glob: bytes, count: int) -> Any:
    """Unlink a batch and fetch the next one in one round trip (where scripts are refused)."""
    if keys:
        _queue_unlink(pipe, keys)
    if cursor != 0:
        pipe.scan(cursor, match=glob, count=count)
    return pipe


def _members(pairs: list[Any]) -> list[bytes]:
    return [member for member, _score in pairs]


class RedisBackend:
    """The synchronous Redis backend; the client is made on first use."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = TRANSIENT_ERRORS
    errors: ClassVar[tuple[type[BaseException], ...]] = BACKEND_ERRORS

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """A backend for config's redis://, rediss://, unix:// or redis+cluster:// URL."""
        return cls(config)

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.cluster = config.cluster
        self._client: Any = None
        self._pool: BoundedPool | None = None
        self._making = threading.Lock()
        # Learnt from the first refusal (an ACL, a managed service): from then on the client
        # does the scripts' work itself (scriptless, _watched_incr) without sending them first.
        self._scripts_refused = False
        forksafe.register(self)

    def after_fork(self) -> None:
        """In a forked child: a lock no thread of the parent can hold (the pool renews itself)."""
        self._making = threading.Lock()

    @property
    def client(self) -> Any:
        """The redis-py client (a cluster client connects to the nodes when first asked)."""
        client = self._client
        return client if client is not None else self._make_client()[0]

    def _make_client(self) -> tuple[Any, BoundedPool | None]:
        # Under a lock: two threads making a client each would leave one to be collected, and
        # a collected client closes its pool, connections in use included.
        with self._making:
            if self._client is None:
                client: Any = sync_client(self.config)
                self._pool = None if self.cluster else client.connection_pool
                self._client = client
            return self._client, self._pool

    def _call(self, command: bytes, replies: int = 1) -> Any:
        """Send a command already in RESP and read its reply: the hot path of get/get_many
        (several commands in one buffer: a list of their replies).

        redis-py's generic path (argument packing, retry wrapper, observability hooks) costs
        about 6 µs of a 60 µs local GET, and 140 µs of the 320 µs of a 1,000-key MGET.
        """
        pool = self._pool or self._make_client()[1]
        assert pool is not None
        connection = pool.get_connection()
        try:
            connection.send_packed_command((command,), False)
            if replies == 1:
                return connection.read_response()
            return [connection.read_response() for _ in range(replies)]
        except redis.exceptions.ResponseError:
            if replies > 1:  # a later reply may be left unread
                connection.disconnect()
            raise  # an error reply (WRONGTYPE...), read in full: the connection is in step
        except BaseException:
            # Interrupted between sending and reading (a signal, a task's time limit): the
            # reply may still come, and must not be read as the answer to the next command.
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def get(self, key: bytes) -> bytes | None:
        if self.cluster:
            value: bytes | None = self.client.get(key)
            return value
        return self._call(_get_command(key))  # type: ignore[no-any-return]

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        if self.cluster:
            values: list[bytes | None] = self.client.mget_nonatomic(keys)
            return values
        return self._call(_mget_command(keys))  # type: ignore[no-any-return]

    def get_many_prefixed(self, prefix: bytes, keys: Sequence[str | bytes]) -> list[bytes | None]:
        if self.cluster or not keys:
            return self.get_many(prefixed(prefix, keys))
        return self._call(_mget_prefixed_command(prefix, keys))  # type: ignore[no-any-return]

    def set_many(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes] = (),
    ) -> None:
        if len(items) == 1 and not tag_keys:
            key, value = items[0]
            self.client.set(key, value, px=ttl_ms)
            return
        if tag_keys:
            self._write_tagged(items, ttl_ms, tag_keys)
            return
        _queue_writes(self.client.pipeline(transaction=False), items, ttl_ms, ()).execute()

    def _write_tagged(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None = None,
    ) -> None:
        """Items (or members already written) and their tag bookkeeping: TAG_SCRIPT, or its work
        from the client where scripts are refused."""
        if not self._scripts_refused:
            try:
                _queue_writes(
                    self.client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
                ).execute()
                return
            except redis.exceptions.NoPermissionError:
                # The writes before the refused EVALs are made again below: the same values.
                self._scripts_refused = True
        self._tag_here(items, ttl_ms, tag_keys, members)

    def _tag_here(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None,
    ) -> None:
        """TAG_SCRIPT's work from the client: the steps and why they are safe are scriptless's."""
        client = self.client
        pipe = _queue_sets_here(
            client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
        )
        if self.cluster:  # a cluster pipeline has no node to send TIME to
            pipe.execute()
            now = client.time()
        else:
            now = pipe.time().execute()[-1]
        tagged = _tagged(items, members)
        stale: list[bytes] = []
        for group in scriptless.tag_groups(tag_keys, self.cluster):
            multi = client.pipeline(transaction=True)
            replies = scriptless.queue_tags(multi, group, ttl_ms, tagged, now).execute()
            stale += scriptless.stale_expiries(group, replies)
        for tag_key in stale:
            self._fix_expiry(tag_key)

    def _fix_expiry(self, tag_key: bytes) -> None:
        self._watched(
            tag_key,
            lambda pipe: scriptless.expiry_step(
                pipe,
                tag_key,
                pipe.zrange(tag_key, -1, -1, withscores=True),
                pipe.pexpiretime(tag_key),
            ),
        )

    def _watched(self, key: bytes, step: Callable[[Any], bool]) -> bool:
        """Run step (reads, then a MULTI if it says so) with key WATCHed, starting over when
        another client wrote key meanwhile; False when it kept changing (scriptless.WATCH_TRIES)."""
        for _ in range(scriptless.WATCH_TRIES):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    if step(pipe):
                        pipe.execute()
                    return True
                except redis.exceptions.WatchError:
                    continue
        return False

    def delete(self, keys: Sequence[bytes]) -> int:
        if not keys:
            return 0
        if self.cluster:  # a multi-key UNLINK is split by slot, and one pipeline cannot hold it
            removed = int(self.client.unlink(*keys))
            if records := _records_of(keys):
                self.client.unlink(*records)
            return removed
        # The keys, then their records, in one buffer: a pipeline would cost ~10 µs more.
        records = _records_of(keys)
        if not records:
            return int(self._call(_unlink_command(keys)))
        return int(self._call(_unlink_command(keys) + _unlink_command(records), 2)[0])

    def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool:
        # The tags are recorded after the write succeeds, as set_many records them after SET.
        if not self.client.set(key, value, px=ttl_ms, nx=True):
            return False
        if tag_keys:
            self._write_tagged((), ttl_ms, tag_keys, [key])
        return True

    def incr(self, key: bytes, delta: int) -> int | None:
        if not self._scripts_refused:
            try:
                reply = self.client.execute_command("EVAL", INCR_SCRIPT, 1, key, delta)
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
            except redis.exceptions.ResponseError as exc:
                raise _counter_error(exc) from None
            else:
                return None if reply is None else int(reply)
        value: int | None = self.client.transaction(
            lambda pipe: _watched_incr(pipe.get(key), pipe, key, delta),
            key,
            value_from_callable=True,
        )
        return value

    def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        replies = _queue_touch(self.client.pipeline(transaction=False), key, ttl_ms).execute()
        touched, tag_keys = _touched(key, ttl_ms, replies)
        if tag_keys:
            # The key's place in its tag sets moves to its new expiry, so that no tag set
            # expires, or reaps it, while it lives.
            self._write_tagged((), ttl_ms, tag_keys, [key])
        return touched

    def ttl_ms(self, key: bytes) -> int | None:
        return _ttl_reply(self.client.pttl(key))

    def scan(self, glob: bytes, count: int = BATCH) -> Iterator[list[bytes]]:
        """Batches of keys matching glob, from every primary."""
        if not self.cluster:
            cursor = 0
            while True:
                cursor, keys = self.client.scan(cursor, match=glob, count=count)
                if keys:
                    yield keys
                if cursor == 0:
                    return
        client = self.client
        for node in client.get_primaries():
            cursor = 0
            while True:
                # redis-py answers a cluster SCAN with ({node name: cursor}, keys).
                cursors, keys = client.scan(cursor, match=glob, count=count, target_nodes=node)
                cursor = cursors[node.name]
                if keys:
                    yield keys
                if cursor == 0:
                    break

    def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        removed = 0
        for glob in globs:
            batches: Iterator[int]
            if self.cluster:
                batches = (self.delete(keys) for keys in self.scan(glob, count))
            else:
                batches = self._scan_unlink(glob, count)
            for n in batches:
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    def _scan_unlink(self, glob: bytes, count: int) -> Iterator[int]:
        return self._server_steps(
            SCAN_UNLINK_SCRIPT, glob, count, lambda: self._scan_unlink_here(glob, count)
        )

    def count_matching(self, glob: bytes, count: int = BATCH) -> int:
        """How many keys match glob now, counted on the server where scripts may run."""

        def here() -> Iterator[int]:
            return (len(keys) for keys in self.scan(glob, count))

        if self.cluster:
            return sum(here())
        return sum(self._server_steps(SCAN_COUNT_SCRIPT, glob, count, here))

    def _server_steps(
        self, script: str, glob: bytes, count: int, here: Callable[[], Iterator[int]]
    ) -> Iterator[int]:
        """Run a SCAN step script until the scan is over, yielding each step's figure; where
        scripts are refused (an ACL, a managed service), `here` does the work from the client."""
        cursor = b"0"
        while True:
            try:
                cursor, n = self.client.execute_command(*_step_args(script, cursor, glob, count))
            except redis.exceptions.ResponseError:
                if cursor != b"0":
                    raise
                yield from here()
                return
            yield int(n)
            if cursor == b"0":
                return

    def _scan_unlink_here(self, glob: bytes, count: int) -> Iterator[int]:
        # Each round trip unlinks the previous batch and fetches the next one.
        cursor, keys = self.client.scan(0, match=glob, count=count)
        while keys or cursor != 0:
            pipe = _queue_unlink_scan(
                self.client.pipeline(transaction=False), keys, cursor, glob, count
            )
            replies = pipe.execute()
            if keys:
                yield int(replies[0])
            if cursor != 0:
                cursor, keys = replies[-1]
            else:
                keys = []

    def invalidate_tags(
        self, tag_keys: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        # Read, unlink, then forget: a batch is dropped from the tag only after its keys are gone,
        # so an invalidation cut short (a timeout) is replayed in full. Bounded passes: writers
        # adding to the tag meanwhile cannot keep this loop running.
        removed = 0
        for tag_key in tag_keys:
            passes = int(self.client.zcard(tag_key)) // count + 2
            while passes and (pairs := self.client.zrange(tag_key, 0, count - 1, withscores=True)):
                passes -= 1
                n = self.delete(_members(pairs))
                self._forget(tag_key, pairs)
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    def _forget(self, tag_key: bytes, pairs: list[tuple[bytes, float]]) -> None:
        """FORGET_SCRIPT, or its work under WATCH where scripts are refused (given up when the
        tag keeps changing: a member left behind is only deleted again by a later invalidation)."""
        if not self._scripts_refused:
            try:
                self.client.execute_command(*_forget_args(tag_key, pairs))
                return
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
        members = _members(pairs)
        self._watched(
            tag_key,
            lambda pipe: scriptless.forget_step(
                pipe, tag_key, pairs, pipe.zmscore(tag_key, members)
            ),
        )

    def incr_counters(
        self,
        key: bytes,
        counters: Mapping[bytes, int],
        ttl: int = STATS_TTL,
        max_prefixes: int = MAX_PREFIXES,
    ) -> None:
        if not self._scripts_refused:
            try:
                self.client.execute_command(*_publish_args(key, counters, ttl, max_prefixes))
                return
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
        fields = scriptless.publish_fields(counters)
        published = self._watched(
            key,
            lambda pipe: scriptless.publish_step(
                pipe, key, fields, pipe.hmget(key, fields), counters, ttl, max_prefixes
            ),
        )
        if not published:  # the caller keeps the delta for the next publish
            raise redis.exceptions.WatchError("the stats hash kept changing")

    def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        try:
            raw: dict[bytes, bytes] = self.client.hgetall(key)
        except redis.exceptions.ResponseError as exc:
            return _not_a_hash(exc)
        return raw

    def ping(self) -> None:
        self.client.ping()

    def probe(self) -> None:
        """The breaker's probe: a ping, on a fresh connection when idle ones may have died with
        the server (the breaker kept them idle through the outage)."""
        if self._pool is not None:
            self._pool.disconnect(inuse_connections=False)
        self.client.ping()

    def close(self) -> None:
        client, self._client = self._client, None
        self._pool = None
        if client is None:
            return
        client.close()
        if self.cluster:
            # Node clients of RedisCluster.from_url get pools that close() leaves connected.
            for node in client.get_nodes():
                if node.redis_connection is not None:
                    node.redis_connection.connection_pool.disconnect()


async def _aclose(client: Any) -> None:
    await client.aclose()


class AsyncRedisBackend:
    """The asyncio Redis backend: a client (and its pool) per running event loop."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = TRANSIENT_ERRORS
    errors: ClassVar[tuple[type[BaseException], ...]] = BACKEND_ERRORS

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """A backend for config's redis://, rediss://, unix:// or redis+cluster:// URL."""
        return cls(config)

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.cluster = config.cluster
        self._clients: PerLoop[Any] = PerLoop(lambda: async_client(config), _aclose)
        self._scripts_refused = False  # see RedisBackend

    @property
    def client(self) -> Any:
        """The running loop's redis.asyncio client, made on first use there."""
        return self._clients.get()

    async def get(self, key: bytes) -> bytes | None:
        value: bytes | None = await self._clients.get().get(key)  # the hot path: no property
        return value

    async def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        values: list[bytes | None]
        if self.cluster:
            values = await self.client.mget_nonatomic(keys)
        else:
            values = await self.client.mget(keys)
        return values

    async def get_many_prefixed(
        self, prefix: bytes, keys: Sequence[str | bytes]
    ) -> list[bytes | None]:
        return await self.get_many(prefixed(prefix, keys))

    async def set_many(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes] = (),
    ) -> None:
        if len(items) == 1 and not tag_keys:
            key, value = items[0]
            await self.client.set(key, value, px=ttl_ms)
            return
        if tag_keys:
            await self._write_tagged(items, ttl_ms, tag_keys)
            return
        await _queue_writes(self.client.pipeline(transaction=False), items, ttl_ms, ()).execute()

    async def _write_tagged(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None = None,
    ) -> None:
        """See RedisBackend._write_tagged."""
        if not self._scripts_refused:
            try:
                await _queue_writes(
                    self.client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
                ).execute()
                return
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
        await self._tag_here(items, ttl_ms, tag_keys, members)

    async def _tag_here(
        self,
        items: Sequence[tuple[bytes, bytes]],
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None,
    ) -> None:
        """See RedisBackend._tag_here."""
        client = self.client
        pipe = _queue_sets_here(
            client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
        )
        if self.cluster:
            await pipe.execute()
            now = await client.time()
        else:
            now = (await pipe.time().execute())[-1]
        tagged = _tagged(items, members)
        stale: list[bytes] = []
        for group in scriptless.tag_groups(tag_keys, self.cluster):
            multi = client.pipeline(transaction=True)
            replies = await scriptless.queue_tags(multi, group, ttl_ms, tagged, now).execute()
            stale += scriptless.stale_expiries(group, replies)
        for tag_key in stale:
            await self._fix_expiry(tag_key)

    async def _fix_expiry(self, tag_key: bytes) -> None:
        async def step(pipe: Any) -> bool:
            top = await pipe.zrange(tag_key, -1, -1, withscores=True)
            return scriptless.expiry_step(pipe, tag_key, top, await pipe.pexpiretime(tag_key))

        await self._watched(tag_key, step)

    async def _watched(self, key: bytes, step: Callable[[Any], Awaitable[bool]]) -> bool:
        """See RedisBackend._watched."""
        for _ in range(scriptless.WATCH_TRIES):
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    if await step(pipe):
                        await pipe.execute()
                    return True
                except redis.exceptions.WatchError:
                    continue
        return False

    async def delete(self, keys: Sequence[bytes]) -> int:
        if not keys:
            return 0
        if self.cluster:  # see RedisBackend.delete
            removed = int(await self.client.unlink(*keys))
            if records := _records_of(keys):
                await self.client.unlink(*records)
            return removed
        pipe = _queue_unlink(self.client.pipeline(transaction=False), keys)
        return int((await pipe.execute())[0])

    async def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool:
        if not await self.client.set(key, value, px=ttl_ms, nx=True):
            return False
        if tag_keys:
            await self._write_tagged((), ttl_ms, tag_keys, [key])
        return True

    async def incr(self, key: bytes, delta: int) -> int | None:
        if not self._scripts_refused:
            try:
                reply = await self.client.execute_command("EVAL", INCR_SCRIPT, 1, key, delta)
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
            except redis.exceptions.ResponseError as exc:
                raise _counter_error(exc) from None
            else:
                return None if reply is None else int(reply)

        async def step(pipe: Any) -> int | None:
            return _watched_incr(await pipe.get(key), pipe, key, delta)

        value: int | None = await self.client.transaction(step, key, value_from_callable=True)
        return value

    async def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        pipe = _queue_touch(self.client.pipeline(transaction=False), key, ttl_ms)
        touched, tag_keys = _touched(key, ttl_ms, await pipe.execute())
        if tag_keys:  # see RedisBackend.touch
            await self._write_tagged((), ttl_ms, tag_keys, [key])
        return touched

    async def ttl_ms(self, key: bytes) -> int | None:
        return _ttl_reply(await self.client.pttl(key))

    async def scan(self, glob: bytes, count: int = BATCH) -> AsyncIterator[list[bytes]]:
        """Batches of keys matching glob, from every primary."""
        if not self.cluster:
            cursor = 0
            while True:
                cursor, keys = await self.client.scan(cursor, match=glob, count=count)
                if keys:
                    yield keys
                if cursor == 0:
                    return
        client = self.client
        for node in client.get_primaries():
            cursor = 0
            while True:
                cursors, keys = await client.scan(
                    cursor, match=glob, count=count, target_nodes=node
                )
                cursor = cursors[node.name]
                if keys:
                    yield keys
                if cursor == 0:
                    break

    async def delete_matching(
        self, globs: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        removed = 0
        for glob in globs:
            batches = (
                self._scan_delete(glob, count) if self.cluster else self._scan_unlink(glob, count)
            )
            async for n in batches:
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    def _scan_unlink(self, glob: bytes, count: int) -> AsyncIterator[int]:
        return self._server_steps(
            SCAN_UNLINK_SCRIPT, glob, count, lambda: self._scan_unlink_here(glob, count)
        )

    async def _scan_delete(self, glob: bytes, count: int) -> AsyncIterator[int]:
        async for keys in self.scan(glob, count):
            yield await self.delete(keys)

    async def count_matching(self, glob: bytes, count: int = BATCH) -> int:
        """See RedisBackend.count_matching."""

        async def here() -> AsyncIterator[int]:
            async for keys in self.scan(glob, count):
                yield len(keys)

        steps = here() if self.cluster else self._server_steps(SCAN_COUNT_SCRIPT, glob, count, here)
        return sum([n async for n in steps])

    async def _server_steps(
        self, script: str, glob: bytes, count: int, here: Callable[[], AsyncIterator[int]]
    ) -> AsyncIterator[int]:
        """See RedisBackend._server_steps."""
        cursor = b"0"
        while True:
            try:
                cursor, n = await self.client.execute_command(
                    *_step_args(script, cursor, glob, count)
                )
            except redis.exceptions.ResponseError:
                if cursor != b"0":
                    raise
                async for m in here():
                    yield m
                return
            yield int(n)
            if cursor == b"0":
                return

    async def _scan_unlink_here(self, glob: bytes, count: int) -> AsyncIterator[int]:
        # As RedisBackend's: each round trip unlinks the previous batch and fetches the next.
        cursor, keys = await self.client.scan(0, match=glob, count=count)
        while keys or cursor != 0:
            pipe = _queue_unlink_scan(
                self.client.pipeline(transaction=False), keys, cursor, glob, count
            )
            replies = await pipe.execute()
            if keys:
                yield int(replies[0])
            if cursor != 0:
                cursor, keys = replies[-1]
            else:
                keys = []

    async def invalidate_tags(
        self, tag_keys: Sequence[bytes], on_batch: BatchCallback | None = None, count: int = BATCH
    ) -> int:
        removed = 0
        for tag_key in tag_keys:
            passes = int(await self.client.zcard(tag_key)) // count + 2
            while passes and (
                pairs := await self.client.zrange(tag_key, 0, count - 1, withscores=True)
            ):
                passes -= 1
                n = await self.delete(_members(pairs))
                await self._forget(tag_key, pairs)
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    async def _forget(self, tag_key: bytes, pairs: list[tuple[bytes, float]]) -> None:
        """See RedisBackend._forget."""
        if not self._scripts_refused:
            try:
                await self.client.execute_command(*_forget_args(tag_key, pairs))
                return
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
        members = _members(pairs)

        async def step(pipe: Any) -> bool:
            scores = await pipe.zmscore(tag_key, members)
            return scriptless.forget_step(pipe, tag_key, pairs, scores)

        await self._watched(tag_key, step)

    async def incr_counters(
        self,
        key: bytes,
        counters: Mapping[bytes, int],
        ttl: int = STATS_TTL,
        max_prefixes: int = MAX_PREFIXES,
    ) -> None:
        if not self._scripts_refused:
            try:
                await self.client.execute_command(*_publish_args(key, counters, ttl, max_prefixes))
                return
            except redis.exceptions.NoPermissionError:
                self._scripts_refused = True
        fields = scriptless.publish_fields(counters)

        async def step(pipe: Any) -> bool:
            values = await pipe.hmget(key, fields)
            return scriptless.publish_step(pipe, key, fields, values, counters, ttl, max_prefixes)

        if not await self._watched(key, step):  # see RedisBackend.incr_counters
            raise redis.exceptions.WatchError("the stats hash kept changing")

    async def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        try:
            raw: dict[bytes, bytes] = await self.client.hgetall(key)
        except redis.exceptions.ResponseError as exc:
            return _not_a_hash(exc)
        return raw

    async def ping(self) -> None:
        await self.client.ping()

    async def probe(self) -> None:
        """See RedisBackend.probe."""
        if not self.cluster:
            await self.client.connection_pool.disconnect(inuse_connections=False)
        await self.client.ping()

    async def close(self) -> None:
        await self._clients.close()
