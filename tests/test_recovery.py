"""Recovery under load: once Redis answers, the breaker drains what it owes and closes.

Real redis-servers of the tests' own, paused (SIGSTOP), stopped or restarted. While the owed
deletions replay (held open here by a gate in `_replay`), writes go to Redis and reads never
return a value that an owed deletion should have removed. No timing assertions: a generous
bounded wait for the breaker to close, then the values.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from cachectl import MISS, AsyncCache, BreakerState, Cache
from cachectl.breaker import Pending
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

#: Short timeouts, but not so short that a busy machine trips them; the first failure opens.
QUICK = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}
BOUND = 10.0  # seconds: a hang guard, not a measurement
WRITERS = 4


def until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


async def async_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


def poll_closed(cache: Cache) -> bool:
    """Read until the breaker closes (the reads drive the probe), within the bound."""

    def closed() -> bool:
        cache.get("probe:poll")
        return cache.breaker_state is BreakerState.CLOSED

    return until(closed)


async def apoll_closed(cache: AsyncCache) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        await cache.get("probe:poll")
        if cache.breaker_state is BreakerState.CLOSED:
            return True
        await asyncio.sleep(0.02)
    return False


def fault(server: RedisServer, how: str) -> Callable[[], None]:
    """Start a fault now; return what ends it."""
    if how == "pause":
        server.pause()
        return server.resume
    server.stop()
    return server.restart


# -- convergence under steady writes ----------------------------------------------------------


@pytest.mark.parametrize("how", ["pause", "restart"])
def test_breaker_closes_while_writers_keep_writing(resumed: RedisServer, how: str) -> None:
    # Before the fix, every write served by the fallback owed a deletion, and the probe gave up
    # after a few replay rounds: under steady writes the breaker never closed.
    with Cache(resumed.url, namespace="conv", **QUICK) as c:
        stop = threading.Event()
        last: dict[str, int] = {}
        errors: list[BaseException] = []

        def writer(i: int) -> None:
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    key = f"w{i}:{n % 25}"
                    c.set(key, n)
                    last[key] = n
                    c.get(f"w{i}:{(n * 7) % 25}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
        for t in threads:
            t.start()
        try:
            end_fault = fault(resumed, how)
            assert until(lambda: c.breaker_state is not BreakerState.CLOSED)
            # Enough writes served by the fallback to owe a deletion for every key.
            assert until(lambda: c.stats().total.fallback > 2_000)
            end_fault()
            closed = until(lambda: c.breaker_state is BreakerState.CLOSED)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert errors == []
        assert closed, "the breaker closes while writers keep writing"
        c.set("after", "recovered")
        with resumed.client() as raw:
            assert raw.exists(b"conv:after")
        # Each key reads as its last write, or as a miss (a write racing its key's replayed
        # deletion may be lost): never an older value.
        for key, n in last.items():
            assert c.get(key, MISS) in (MISS, n)


@pytest.mark.parametrize("how", ["pause", "restart"])
async def test_async_breaker_closes_while_writers_keep_writing(
    resumed: RedisServer, how: str
) -> None:
    async with AsyncCache(resumed.url, namespace="aconv", **QUICK) as c:
        stop = asyncio.Event()
        last: dict[str, int] = {}

        async def writer(i: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                key = f"w{i}:{n % 25}"
                await c.set(key, n)
                last[key] = n
                await c.get(f"w{i}:{(n * 7) % 25}")
                await asyncio.sleep(0)  # calls served by the fallback never suspend

        tasks = [asyncio.create_task(writer(i)) for i in range(WRITERS * 5)]
        try:
            if how == "pause":
                resumed.pause()
            else:
                await asyncio.to_thread(resumed.stop)
            assert await async_until(lambda: c.breaker_state is not BreakerState.CLOSED)
            assert await async_until(lambda: c.stats().total.fallback > 2_000)
            if how == "pause":
                resumed.resume()
            else:
                await asyncio.to_thread(resumed.restart)
            closed = await async_until(lambda: c.breaker_state is BreakerState.CLOSED)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert closed, "the breaker closes while writers keep writing"
        await c.set("after", "recovered")
        with resumed.client() as raw:
            assert raw.exists(b"aconv:after")
        for key, n in last.items():
            assert await c.get(key, MISS) in (MISS, n)


# -- reads while owed deletions replay ---------------------------------------------------------

#: How the outage changes K and K:sub (both "v1", tagged "t"; "other" is not tagged).
OWED = ["delete", "prefix", "pattern", "tag", "overflow"]


def _owe(c: Cache, op: str) -> None:
    if op == "delete":
        c.delete("K", "K:sub")
    elif op == "prefix":
        c.invalidate_prefix("K")
    elif op == "pattern":
        c.invalidate_pattern("K*")
    elif op == "tag":
        c.invalidate_tag("t")
    else:  # past pending_max: the whole namespace is owed
        c.delete("K", "K:sub", "x", "y")


async def _aowe(c: AsyncCache, op: str) -> None:
    if op == "delete":
        await c.delete("K", "K:sub")
    elif op == "prefix":
        await c.invalidate_prefix("K")
    elif op == "pattern":
        await c.invalidate_pattern("K*")
    elif op == "tag":
        await c.invalidate_tag("t")
    else:
        await c.delete("K", "K:sub", "x", "y")


def _other_while_draining(op: str) -> Any:
    # Which keys carry a tag only Redis knows, so an owed tag (or the whole namespace) keeps
    # every read off Redis until its replay is over; a key or glob covers what it names.
    return MISS if op in ("tag", "overflow") else "kept"


class Gate:
    """Holds Cache._replay until opened, so that the test can act while the breaker drains."""

    def __init__(self, c: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        original = c._replay

        def held(taken: Pending) -> None:
            self.entered.set()
            assert self.open.wait(BOUND)
            original(taken)

        monkeypatch.setattr(c, "_replay", held)
        stop = threading.Event()
        self.stop = stop

        def probe() -> None:
            # Calls drive the probe; the one that claims it stays in the held replay.
            while not stop.is_set() and not self.entered.is_set():
                c.get("probe:gate")
                time.sleep(0.02)

        self.prober = threading.Thread(target=probe)
        self.prober.start()

    def release(self) -> None:
        self.open.set()
        self.stop.set()
        self.prober.join()


@pytest.mark.parametrize("op", OWED)
def test_reads_while_owed_deletions_replay_never_see_old_values(
    resumed: RedisServer, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    with Cache(resumed.url, namespace="drain", pending_max=3, **QUICK) as c:
        c.set("K", "v1", tags=("t",))
        c.set("K:sub", "v1", tags=("t",))
        c.set("other", "kept")
        resumed.pause()
        c.get("K")  # times out: open
        assert c.breaker_state is BreakerState.OPEN
        _owe(c, op)
        resumed.resume()
        gate = Gate(c, monkeypatch)
        try:
            assert gate.entered.wait(BOUND), "a call probes Redis and starts the replay"
            assert c.breaker_state is BreakerState.HALF_OPEN
            assert c.get("K", MISS) is MISS
            assert c.get("K:sub", MISS) is MISS
            # A multi-key read that names an owed key is served by the fallback as a whole.
            assert c.get_many(["K", "K:sub", "other"]) == {}
            assert c.get("other", MISS) == _other_while_draining(op)
            # A write goes to Redis, and reads of its owed key see it at once.
            c.set("K", "v3")
            assert c.get("K") == "v3"
            with resumed.client() as raw:
                assert raw.get(b"drain:K") == c.codec.encode("v3")
        finally:
            gate.release()
        assert poll_closed(c)
        # The replayed deletion came after the write: lost, a miss; never "v1".
        assert c.get("K", MISS) in (MISS, "v3")
        assert c.get("K:sub", MISS) is MISS
        assert c.get("other", MISS) == (MISS if op == "overflow" else "kept")
    with resumed.client() as raw:
        assert raw.get(b"drain:K:sub") is None


class AsyncGate:
    def __init__(self, c: AsyncCache, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()
        original = c._replay

        async def held(taken: Pending) -> None:
            self.entered.set()
            await asyncio.wait_for(self.open.wait(), BOUND)
            await original(taken)

        monkeypatch.setattr(c, "_replay", held)

        async def probe() -> None:
            while not self.entered.is_set():
                await c.get("probe:gate")
                await asyncio.sleep(0.02)

        self.prober = asyncio.create_task(probe())

    async def wait_entered(self) -> bool:
        try:
            await asyncio.wait_for(self.entered.wait(), BOUND)
        except TimeoutError:
            return False
        return True

    async def release(self) -> None:
        self.open.set()
        await self.prober


@pytest.mark.parametrize("op", OWED)
async def test_async_reads_while_owed_deletions_replay_never_see_old_values(
    resumed: RedisServer, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    async with AsyncCache(resumed.url, namespace="adrain", pending_max=3, **QUICK) as c:
        await c.set("K", "v1", tags=("t",))
        await c.set("K:sub", "v1", tags=("t",))
        await c.set("other", "kept")
        resumed.pause()
        await c.get("K")
        assert c.breaker_state is BreakerState.OPEN
        await _aowe(c, op)
        resumed.resume()
        gate = AsyncGate(c, monkeypatch)
        try:
            assert await gate.wait_entered()
            assert c.breaker_state is BreakerState.HALF_OPEN
            assert await c.get("K", MISS) is MISS
            assert await c.get("K:sub", MISS) is MISS
            assert await c.get("other", MISS) == _other_while_draining(op)
            await c.set("K", "v3")
            assert await c.get("K") == "v3"
        finally:
            await gate.release()
        assert await apoll_closed(c)
        assert await c.get("K", MISS) in (MISS, "v3")
        assert await c.get("K:sub", MISS) is MISS
        assert await c.get("other", MISS) == (MISS if op == "overflow" else "kept")


# -- Redis failing again while draining --------------------------------------------------------


@pytest.mark.parametrize("failing", ["replay", "read"])
def test_redis_failing_again_while_draining_keeps_the_debt(
    resumed: RedisServer, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    with Cache(resumed.url, namespace="again", **QUICK) as c:
        c.set("K", "v1")
        c.set("other", "kept")
        resumed.pause()
        c.delete("K")  # times out: owed, and the breaker opens
        assert c.breaker_state is BreakerState.OPEN
        resumed.resume()
        gate = Gate(c, monkeypatch)
        try:
            assert gate.entered.wait(BOUND)
            resumed.pause()
            if failing == "read":
                # A key no debt covers goes to Redis, which hangs again: the breaker opens
                # (reported half-open until the held replay is over).
                assert c.get("other", MISS) is MISS
                assert not c.breaker.draining
        finally:
            gate.release()  # the held replay meets the paused server and fails
        assert c.breaker_state is BreakerState.OPEN
        assert c.get("K", MISS) is MISS
        c.set("K:new", "during")
        assert c.get("K:new") == "during"  # the fallback kept serving
        resumed.resume()
        assert poll_closed(c)
        assert c.get("K", MISS) is MISS  # the deletion was owed again, and replayed
        assert c.get("other") == "kept"
        assert c.get("K:new", MISS) is MISS  # served by the fallback only: its deletion is owed
    with resumed.client() as raw:
        assert raw.get(b"again:K") is None


@pytest.mark.parametrize("failing", ["replay", "read"])
async def test_async_redis_failing_again_while_draining_keeps_the_debt(
    resumed: RedisServer, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    async with AsyncCache(resumed.url, namespace="aagain", **QUICK) as c:
        await c.set("K", "v1")
        await c.set("other", "kept")
        resumed.pause()
        await c.delete("K")
        assert c.breaker_state is BreakerState.OPEN
        resumed.resume()
        gate = AsyncGate(c, monkeypatch)
        try:
            assert await gate.wait_entered()
            resumed.pause()
            if failing == "read":
                assert await c.get("other", MISS) is MISS
                assert not c.breaker.draining
        finally:
            await gate.release()
        assert c.breaker_state is BreakerState.OPEN
        assert await c.get("K", MISS) is MISS
        resumed.resume()
        assert await apoll_closed(c)
        assert await c.get("K", MISS) is MISS
        assert await c.get("other") == "kept"
    with resumed.client() as raw:
        assert raw.get(b"aagain:K") is None


# -- the owed deletions, without I/O ----------------------------------------------------------


def test_pending_owes_what_is_owed_or_being_replayed() -> None:
    pending = Pending(limit=10)
    assert not pending.owes(b"ns:a")
    pending.add([b"ns:a"], globs=(b"ns:p:*",))
    assert pending.owes(b"ns:a")
    assert pending.owes(b"ns:p:1")
    assert not pending.owes(b"ns:b")
    taken = pending.take()
    assert not pending
    assert not pending.settled
    assert pending.owes(b"ns:a"), "a batch being replayed still covers its keys"
    pending.restore(taken)
    assert pending.owes(b"ns:a")
    taken = pending.take()
    pending.paid(taken)
    assert pending.settled
    assert not pending.owes(b"ns:a")
    pending.add(tags=[b"ns#tag:{t}"])
    assert pending.owes(b"ns:anything"), "an owed tag covers every key"


def test_pending_overflow_covers_every_key() -> None:
    pending = Pending(limit=1)
    pending.add([b"ns:a", b"ns:b"])
    assert pending.everything
    assert pending.owes(b"ns:z")


def test_a_write_redis_refuses_is_replayed_without_opening(own_redis: RedisServer) -> None:
    # A failed write owes a deletion (Redis may hold an older value), but Redis answers: the
    # debt is replayed at once rather than after a recovery interval on the fallback.
    options = {**QUICK, "failure_threshold": 3}
    with Cache(own_redis.url, namespace="oom", **options) as c:
        c.set("k", "v1")
        c.set("other", "kept")
        with own_redis.client() as raw:
            raw.config_set("maxmemory-policy", "noeviction")
            raw.config_set("maxmemory", "1")  # every write is refused with OOM from now on
            c.set("k", "v2")
            assert raw.get(b"oom:k") == c.codec.encode("v1")
            assert c.get("other") == "kept"
            assert c.breaker_state is BreakerState.CLOSED
            assert c.get("k", MISS) is MISS  # the owed deletion reached Redis: never "v1"
            assert raw.get(b"oom:k") is None
