"""The Redis backend's commands, written once: the source of both faces.

scripts/unasync.py generates the synchronous backend (_sync.py) from this file, so that a
change here reaches both faces. Multi-key calls are pipelined, each one round trip per server;
on a cluster, commands are grouped by hash slot, never CROSSSLOT. What each face does its own
way (its clients, the sync face's raw-RESP reads) is in backends.redis.connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import redis.exceptions

from cachectl.backends.base import BACKEND_ERRORS, BATCH, TRANSIENT_ERRORS, BatchCallback, Items
from cachectl.backends.redis import scriptless
from cachectl.backends.redis.connections import AsyncRedisConnections
from cachectl.backends.redis.pipelines import (
    AsyncWatchStep,
    members_of,
    not_a_hash,
    queue_sets_here,
    queue_touch,
    queue_unlink_scan,
    queue_writes,
    records_of,
    tagged_keys,
    touched,
    ttl_reply,
)
from cachectl.backends.redis.scripts import (
    SCAN_COUNT_SCRIPT,
    SCAN_UNLINK_SCRIPT,
    counter_error,
    forget_args,
    incr_args,
    publish_args,
    step_args,
    unlink_step,
)
from cachectl.backends.redis.tracking import Tracker
from cachectl.config import CacheConfig
from cachectl.stats import MAX_NEAR_PROCESSES, MAX_PREFIXES, STATS_TTL, Delta

if TYPE_CHECKING:
    from cachectl.cache.near import Near

#: What _script answers where scripts are refused.
REFUSED: Any = object()


class AsyncRedisBackend(AsyncRedisConnections):
    """An asyncio Redis backend (see AsyncRedisConnections for how it holds its clients)."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = TRANSIENT_ERRORS
    errors: ClassVar[tuple[type[BaseException], ...]] = BACKEND_ERRORS

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """A backend for config's redis://, rediss://, unix:// or redis+cluster:// URL."""
        return cls(config)

    def track(self, near: Near) -> Tracker:
        """What keeps a near cache coherent with this server (backends.redis.tracking)."""
        return Tracker(self.config, near)

    async def _script(self, args: list[Any]) -> Any:
        """A script's reply, or REFUSED where scripts are refused (an ACL, a managed service):
        learnt from the first refusal, after which the callers do the work from the client
        (scriptless) without sending scripts first."""
        if self._scripts_refused:
            return REFUSED
        try:
            return await self.client.execute_command(*args)
        except redis.exceptions.NoPermissionError:
            self._scripts_refused = True
            return REFUSED

    async def set_many(
        self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> None:
        if len(items) == 1 and not tag_keys:
            key, value = items[0]
            await self.client.set(key, value, px=ttl_ms)
            return
        if tag_keys:
            await self._write_tagged(items, ttl_ms, tag_keys)
            return
        await queue_writes(self.client.pipeline(transaction=False), items, ttl_ms, ()).execute()

    async def _write_tagged(
        self,
        items: Items,
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None = None,
    ) -> None:
        """Items (or members already written) and their tag bookkeeping: TAG_SCRIPT, or its work
        from the client where scripts are refused."""
        if not self._scripts_refused:
            try:
                await queue_writes(
                    self.client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
                ).execute()
                return
            except redis.exceptions.NoPermissionError:
                # The writes before the refused EVALs are made again below: the same values.
                self._scripts_refused = True
        await self._tag_here(items, ttl_ms, tag_keys, members)

    async def _tag_here(
        self,
        items: Items,
        ttl_ms: int | None,
        tag_keys: Sequence[bytes],
        members: Sequence[bytes] | None,
    ) -> None:
        """TAG_SCRIPT's work from the client: the steps and why they are safe are scriptless's."""
        client = self.client
        pipe = queue_sets_here(client.pipeline(transaction=False), items, ttl_ms, tag_keys, members)
        if self.cluster:  # a cluster pipeline has no node to send TIME to
            await pipe.execute()
            now = await client.time()
        else:
            replies = await pipe.time().execute()
            now = replies[-1]
        tagged = tagged_keys(items, members)
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

    async def _watched(self, key: bytes, step: AsyncWatchStep) -> bool:
        """Run step (reads, then a MULTI if it says so) with key WATCHed, starting over when
        another client wrote key meanwhile; False when it kept changing (scriptless.WATCH_TRIES)."""
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
        if self.cluster:  # a multi-key UNLINK is split by slot, and one pipeline cannot hold it
            removed = int(await self.client.unlink(*keys))
            if records := records_of(keys):
                await self.client.unlink(*records)
            return removed
        return await self._unlink(keys)

    async def add(
        self, key: bytes, value: bytes, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()
    ) -> bool:
        # The tags are recorded after the write succeeds, as set_many records them after SET.
        if not await self.client.set(key, value, px=ttl_ms, nx=True):
            return False
        if tag_keys:
            await self._write_tagged((), ttl_ms, tag_keys, [key])
        return True

    async def incr(self, key: bytes, delta: int) -> int | None:
        try:
            reply = await self._script(incr_args(key, delta))
        except redis.exceptions.ResponseError as exc:
            raise counter_error(exc) from None
        if reply is not REFUSED:
            return None if reply is None else int(reply)

        async def step(pipe: Any) -> int | None:
            return scriptless.incr_step(pipe, key, delta, await pipe.get(key))

        value: int | None = await self.client.transaction(step, key, value_from_callable=True)
        return value

    async def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        replies = await queue_touch(self.client.pipeline(transaction=False), key, ttl_ms).execute()
        exists, tag_keys = touched(key, ttl_ms, replies)
        if tag_keys:
            # The key's place in its tag sets moves to its new expiry, so that no tag set
            # expires, or reaps it, while it lives.
            await self._write_tagged((), ttl_ms, tag_keys, [key])
        return exists

    async def ttl_ms(self, key: bytes) -> int | None:
        return ttl_reply(await self.client.pttl(key))

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
                # redis-py answers a cluster SCAN with ({node name: cursor}, keys).
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
            if self.cluster:
                batches = self._scan_delete(glob, count)
            else:
                batches = await self._scan_unlink(glob, count)
            async for n in batches:
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    async def _scan_delete(self, glob: bytes, count: int) -> AsyncIterator[int]:
        async for keys in self.scan(glob, count):
            yield await self.delete(keys)

    async def _scan_unlink(self, glob: bytes, count: int) -> AsyncIterator[int]:
        match, extra = unlink_step(glob)
        return await self._server_steps(
            SCAN_UNLINK_SCRIPT, match, count, lambda: self._scan_unlink_here(glob, count), extra
        )

    async def count_matching(self, glob: bytes, count: int = BATCH) -> int:
        """How many keys match glob now, counted on the server where scripts may run."""

        async def here() -> AsyncIterator[int]:
            async for keys in self.scan(glob, count):
                yield len(keys)

        steps = (
            here()
            if self.cluster
            else await self._server_steps(SCAN_COUNT_SCRIPT, glob, count, here)
        )
        total = 0
        async for n in steps:
            total += n
        return total

    async def _server_steps(
        self,
        script: str,
        glob: bytes,
        count: int,
        here: Callable[[], AsyncIterator[int]],
        extra: Sequence[bytes] = (),
    ) -> AsyncIterator[int]:
        """The figures of a SCAN step script run until the scan is over; where scripts are
        refused (an ACL, a managed service), those of `here`, which does the work from the
        client."""
        args = (glob, count, extra)
        try:
            reply = await self.client.execute_command(*step_args(script, b"0", *args))
        except redis.exceptions.ResponseError:
            return here()
        return self._next_steps(script, args, reply)

    async def _next_steps(
        self, script: str, args: tuple[bytes, int, Sequence[bytes]], reply: Any
    ) -> AsyncIterator[int]:
        while True:
            cursor, n = reply
            yield int(n)
            if cursor == b"0":
                return
            reply = await self.client.execute_command(*step_args(script, cursor, *args))

    async def _scan_unlink_here(self, glob: bytes, count: int) -> AsyncIterator[int]:
        # Each round trip unlinks the previous batch and fetches the next one.
        cursor, keys = await self.client.scan(0, match=glob, count=count)
        while keys or cursor != 0:
            pipe = queue_unlink_scan(
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
        # Read, unlink, then forget: a batch is dropped from the tag only after its keys are gone,
        # so an invalidation cut short (a timeout) is replayed in full. Bounded passes: writers
        # adding to the tag meanwhile cannot keep this loop running.
        removed = 0
        for tag_key in tag_keys:
            passes = int(await self.client.zcard(tag_key)) // count + 2
            while passes:
                pairs = await self.client.zrange(tag_key, 0, count - 1, withscores=True)
                if not pairs:
                    break
                passes -= 1
                n = await self.delete(members_of(pairs))
                await self._forget(tag_key, pairs)
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    async def _forget(self, tag_key: bytes, pairs: list[tuple[bytes, float]]) -> None:
        """FORGET_SCRIPT, or its work under WATCH where scripts are refused (given up when the
        tag keeps changing: a member left behind is only deleted again by a later invalidation)."""
        if await self._script(forget_args(tag_key, pairs)) is not REFUSED:
            return
        members = members_of(pairs)

        async def step(pipe: Any) -> bool:
            scores = await pipe.zmscore(tag_key, members)
            return scriptless.forget_step(pipe, tag_key, pairs, scores)

        await self._watched(tag_key, step)

    async def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = STATS_TTL, max_prefixes: int = MAX_PREFIXES
    ) -> None:
        if await self._script(publish_args(key, counters, ttl, max_prefixes)) is not REFUSED:
            return
        fields = scriptless.publish_fields(counters)

        async def step(pipe: Any) -> bool:
            values = await pipe.hmget(key, fields)
            return scriptless.publish_step(pipe, key, fields, values, counters, ttl, max_prefixes)

        if not await self._watched(key, step):  # the caller keeps the delta for the next publish
            raise redis.exceptions.WatchError("the stats hash kept changing")

    async def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        try:
            raw: dict[bytes, bytes] = await self.client.hgetall(key)
        except redis.exceptions.ResponseError as exc:
            return not_a_hash(exc)
        return raw

    async def publish_near(
        self, key: bytes, member: bytes, previous: bytes, until_ms: int, now_ms: int
    ) -> None:
        """Replace this process's near-cache snapshot (stats.NearSummary) in the set at key;
        an empty member removes it. The set stays bounded and expires when no one publishes."""
        pipe = self.client.pipeline(transaction=False)
        if previous and previous != member:
            pipe.zrem(key, previous)
        if member:
            pipe.zadd(key, {member: until_ms})
        pipe.zremrangebyscore(key, "-inf", f"({now_ms}")
        pipe.zremrangebyrank(key, 0, -MAX_NEAR_PROCESSES - 1)
        pipe.pexpire(key, until_ms - now_ms)
        await pipe.execute()

    async def read_near(self, key: bytes, now_ms: int) -> list[bytes] | None:
        """The near-cache snapshots of the set at key that still count (None: not a set)."""
        try:
            # ZRANGE BYSCORE rather than ZRANGEBYSCORE: one command for an ACL to allow.
            members: list[bytes] = await self.client.zrange(
                key, now_ms, "+inf", byscore=True, offset=0, num=MAX_NEAR_PROCESSES
            )
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                return None
            raise
        return members

    async def ping(self) -> None:
        await self.client.ping()
