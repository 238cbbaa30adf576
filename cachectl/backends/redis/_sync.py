# Generated from cachectl/backends/redis/_async.py by scripts/unasync.py: do not edit.
# Edit the source, then run `python scripts/unasync.py`; CI checks that the two agree.
"""The Redis backend's commands, written once: the source of both faces.

scripts/unasync.py generates the synchronous backend (_sync.py) from this file, so that a
change here reaches both faces. Multi-key calls are pipelined, each one round trip per server;
on a cluster, commands are grouped by hash slot, never CROSSSLOT. What each face does its own
way (its clients, the sync face's raw-RESP reads) is in backends.redis.connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import redis.exceptions

from cachectl.backends.base import BACKEND_ERRORS, BATCH, TRANSIENT_ERRORS, BatchCallback, Items
from cachectl.backends.redis import scriptless
from cachectl.backends.redis.connections import RedisConnections
from cachectl.backends.redis.pipelines import (
    WatchStep,
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


class RedisBackend(RedisConnections):
    """A synchronous Redis backend (see RedisConnections for how it holds its clients)."""

    transient_errors: ClassVar[tuple[type[BaseException], ...]] = TRANSIENT_ERRORS
    errors: ClassVar[tuple[type[BaseException], ...]] = BACKEND_ERRORS

    @classmethod
    def from_config(cls, config: CacheConfig) -> Self:
        """A backend for config's redis://, rediss://, unix:// or redis+cluster:// URL."""
        return cls(config)

    def track(self, near: Near) -> Tracker:
        """What keeps a near cache coherent with this server (backends.redis.tracking)."""
        return Tracker(self.config, near)

    def _script(self, args: list[Any]) -> Any:
        """A script's reply, or REFUSED where scripts are refused (an ACL, a managed service):
        learnt from the first refusal, after which the callers do the work from the client
        (scriptless) without sending scripts first."""
        if self._scripts_refused:
            return REFUSED
        try:
            return self.client.execute_command(*args)
        except redis.exceptions.NoPermissionError:
            self._scripts_refused = True
            return REFUSED

    def set_many(self, items: Items, ttl_ms: int | None, tag_keys: Sequence[bytes] = ()) -> None:
        if len(items) == 1 and not tag_keys:
            key, value = items[0]
            self.client.set(key, value, px=ttl_ms)
            return
        if tag_keys:
            self._write_tagged(items, ttl_ms, tag_keys)
            return
        queue_writes(self.client.pipeline(transaction=False), items, ttl_ms, ()).execute()

    def _write_tagged(
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
                queue_writes(
                    self.client.pipeline(transaction=False), items, ttl_ms, tag_keys, members
                ).execute()
                return
            except redis.exceptions.NoPermissionError:
                # The writes before the refused EVALs are made again below: the same values.
                self._scripts_refused = True
        self._tag_here(items, ttl_ms, tag_keys, members)

    def _tag_here(
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
            pipe.execute()
            now = client.time()
        else:
            replies = pipe.time().execute()
            now = replies[-1]
        tagged = tagged_keys(items, members)
        stale: list[bytes] = []
        for group in scriptless.tag_groups(tag_keys, self.cluster):
            multi = client.pipeline(transaction=True)
            replies = scriptless.queue_tags(multi, group, ttl_ms, tagged, now).execute()
            stale += scriptless.stale_expiries(group, replies)
        for tag_key in stale:
            self._fix_expiry(tag_key)

    def _fix_expiry(self, tag_key: bytes) -> None:
        def step(pipe: Any) -> bool:
            top = pipe.zrange(tag_key, -1, -1, withscores=True)
            return scriptless.expiry_step(pipe, tag_key, top, pipe.pexpiretime(tag_key))

        self._watched(tag_key, step)

    def _watched(self, key: bytes, step: WatchStep) -> bool:
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
            if records := records_of(keys):
                self.client.unlink(*records)
            return removed
        return self._unlink(keys)

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
        try:
            reply = self._script(incr_args(key, delta))
        except redis.exceptions.ResponseError as exc:
            raise counter_error(exc) from None
        if reply is not REFUSED:
            return None if reply is None else int(reply)

        def step(pipe: Any) -> int | None:
            return scriptless.incr_step(pipe, key, delta, pipe.get(key))

        value: int | None = self.client.transaction(step, key, value_from_callable=True)
        return value

    def touch(self, key: bytes, ttl_ms: int | None) -> bool:
        replies = queue_touch(self.client.pipeline(transaction=False), key, ttl_ms).execute()
        exists, tag_keys = touched(key, ttl_ms, replies)
        if tag_keys:
            # The key's place in its tag sets moves to its new expiry, so that no tag set
            # expires, or reaps it, while it lives.
            self._write_tagged((), ttl_ms, tag_keys, [key])
        return exists

    def ttl_ms(self, key: bytes) -> int | None:
        return ttl_reply(self.client.pttl(key))

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
            if self.cluster:
                batches = self._scan_delete(glob, count)
            else:
                batches = self._scan_unlink(glob, count)
            for n in batches:
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    def _scan_delete(self, glob: bytes, count: int) -> Iterator[int]:
        for keys in self.scan(glob, count):
            yield self.delete(keys)

    def _scan_unlink(self, glob: bytes, count: int) -> Iterator[int]:
        match, extra = unlink_step(glob)
        return self._server_steps(
            SCAN_UNLINK_SCRIPT, match, count, lambda: self._scan_unlink_here(glob, count), extra
        )

    def count_matching(self, glob: bytes, count: int = BATCH) -> int:
        """How many keys match glob now, counted on the server where scripts may run."""

        def here() -> Iterator[int]:
            for keys in self.scan(glob, count):
                yield len(keys)

        steps = here() if self.cluster else self._server_steps(SCAN_COUNT_SCRIPT, glob, count, here)
        total = 0
        for n in steps:
            total += n
        return total

    def _server_steps(
        self,
        script: str,
        glob: bytes,
        count: int,
        here: Callable[[], Iterator[int]],
        extra: Sequence[bytes] = (),
    ) -> Iterator[int]:
        """The figures of a SCAN step script run until the scan is over; where scripts are
        refused (an ACL, a managed service), those of `here`, which does the work from the
        client."""
        args = (glob, count, extra)
        try:
            reply = self.client.execute_command(*step_args(script, b"0", *args))
        except redis.exceptions.ResponseError:
            return here()
        return self._next_steps(script, args, reply)

    def _next_steps(
        self, script: str, args: tuple[bytes, int, Sequence[bytes]], reply: Any
    ) -> Iterator[int]:
        while True:
            cursor, n = reply
            yield int(n)
            if cursor == b"0":
                return
            reply = self.client.execute_command(*step_args(script, cursor, *args))

    def _scan_unlink_here(self, glob: bytes, count: int) -> Iterator[int]:
        # Each round trip unlinks the previous batch and fetches the next one.
        cursor, keys = self.client.scan(0, match=glob, count=count)
        while keys or cursor != 0:
            pipe = queue_unlink_scan(
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
            while passes:
                pairs = self.client.zrange(tag_key, 0, count - 1, withscores=True)
                if not pairs:
                    break
                passes -= 1
                n = self.delete(members_of(pairs))
                self._forget(tag_key, pairs)
                removed += n
                if on_batch is not None:
                    on_batch(n)
        return removed

    def _forget(self, tag_key: bytes, pairs: list[tuple[bytes, float]]) -> None:
        """FORGET_SCRIPT, or its work under WATCH where scripts are refused (given up when the
        tag keeps changing: a member left behind is only deleted again by a later invalidation)."""
        if self._script(forget_args(tag_key, pairs)) is not REFUSED:
            return
        members = members_of(pairs)

        def step(pipe: Any) -> bool:
            scores = pipe.zmscore(tag_key, members)
            return scriptless.forget_step(pipe, tag_key, pairs, scores)

        self._watched(tag_key, step)

    def incr_counters(
        self, key: bytes, counters: Delta, ttl: int = STATS_TTL, max_prefixes: int = MAX_PREFIXES
    ) -> None:
        if self._script(publish_args(key, counters, ttl, max_prefixes)) is not REFUSED:
            return
        fields = scriptless.publish_fields(counters)

        def step(pipe: Any) -> bool:
            values = pipe.hmget(key, fields)
            return scriptless.publish_step(pipe, key, fields, values, counters, ttl, max_prefixes)

        if not self._watched(key, step):  # the caller keeps the delta for the next publish
            raise redis.exceptions.WatchError("the stats hash kept changing")

    def read_counters(self, key: bytes) -> dict[bytes, bytes]:
        try:
            raw: dict[bytes, bytes] = self.client.hgetall(key)
        except redis.exceptions.ResponseError as exc:
            return not_a_hash(exc)
        return raw

    def publish_near(
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
        pipe.execute()

    def read_near(self, key: bytes, now_ms: int) -> list[bytes] | None:
        """The near-cache snapshots of the set at key that still count (None: not a set)."""
        try:
            # ZRANGE BYSCORE rather than ZRANGEBYSCORE: one command for an ACL to allow.
            members: list[bytes] = self.client.zrange(
                key, now_ms, "+inf", byscore=True, offset=0, num=MAX_NEAR_PROCESSES
            )
        except redis.exceptions.ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                return None
            raise
        return members

    def ping(self) -> None:
        self.client.ping()
