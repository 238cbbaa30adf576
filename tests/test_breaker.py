"""The circuit breaker: outages go to the in-memory fallback, recovery replays what Redis missed.

Servers are stopped (connection refused) or paused with SIGSTOP (a hung server: connections
open, nothing answers). No timing assertions: the state is read from `breaker_state`, the
stats' fallback counters and the server's own command statistics.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cachectl import MISS, AsyncCache, BreakerState, Cache
from cachectl.breaker import Breaker, Pending
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

#: Short timeouts, as in production, but not so short that a busy machine trips them.
QUICK = {"socket_timeout": 0.25, "connect_timeout": 0.25, "recovery_interval": 0.2}
#: The replay tests open the breaker at the first failure, to stay quick.
REPLAY = {**QUICK, "failure_threshold": 1}
DEADLINE = 5.0
#: Thirty callers queue for two connections: a reply slowed by a busy machine (a shared CI
#: runner) must not be taken for an outage before the test makes one.
CROWD = {**QUICK, "socket_timeout": 1.0}


def wait_closed(cache: Cache) -> bool:
    """Poll with reads until the breaker closes (True) or the deadline passes (False)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        cache.get("probe:poll")
        if cache.breaker_state is BreakerState.CLOSED:
            return True
        time.sleep(0.05)
    return False


async def await_closed(cache: AsyncCache) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        await cache.get("probe:poll")
        if cache.breaker_state is BreakerState.CLOSED:
            return True
        await asyncio.sleep(0.05)
    return False


def _open(cache: Cache) -> None:
    for _ in range(cache.config.failure_threshold):
        cache.get("probe:open")
    assert cache.breaker_state is BreakerState.OPEN


# -- outages ------------------------------------------------------------------------------------


def test_stopped_server_the_app_keeps_working_then_recovers(own_redis: RedisServer) -> None:
    # Default recovery settings: the breaker closes within about two seconds of the restart.
    with Cache(own_redis.url, namespace="stop", socket_timeout=0.25, connect_timeout=0.25) as c:
        c.set("before", 1)
        own_redis.stop()
        c.set("during", 2)
        assert c.get("during") == 2
        assert c.get("before", MISS) is MISS
        assert c.breaker_state is BreakerState.OPEN
        assert c.stats()["during"].fallback >= 2
        own_redis.restart()
        assert wait_closed(c), "the breaker closes after the restart"
        c.set("after", 3)
    with own_redis.client() as raw:
        assert raw.exists(b"stop:after")


def test_paused_server_opens_the_breaker_and_recovers(resumed: RedisServer) -> None:
    with Cache(resumed.url, namespace="pause", socket_timeout=0.25, connect_timeout=0.25) as c:
        c.set("k", "v")
        resumed.pause()
        for _ in range(10):
            assert c.get("k", "dflt") == "dflt"
        assert c.breaker_state is BreakerState.OPEN
        assert c.stats()["k"].fallback == 10
        resumed.resume()
        assert wait_closed(c)
        assert c.get("k") == "v"


def test_reads_while_open_do_not_touch_the_network(resumed: RedisServer) -> None:
    options = {**QUICK, "recovery_interval": 60.0}  # no probe during this test
    with Cache(resumed.url, namespace="net", **options) as c:
        c.set("k", "v")
        with resumed.client() as raw:
            raw.config_resetstat()
        resumed.pause()
        for _ in range(20):
            c.get("k")
        c.get_many(["k", "x"])
        assert c.breaker_state is BreakerState.OPEN
        assert c.stats()["k"].fallback >= 20
        resumed.resume()
        with resumed.client() as raw:
            stats = raw.info("commandstats")
        # Only the reads that timed out before the breaker opened ever reached the server.
        assert stats.get("cmdstat_get", {"calls": 0})["calls"] <= c.config.failure_threshold
        assert "cmdstat_mget" not in stats


def test_writes_during_an_outage_are_served_from_the_fallback(resumed: RedisServer) -> None:
    with Cache(resumed.url, namespace="fw", **QUICK) as c:
        resumed.pause()
        c.set("k", "v2")
        c.set_many({"a": 1, "b": 2})
        assert c.breaker_state is BreakerState.OPEN
        assert c.get("k") == "v2"
        assert c.get_many(["a", "b", "k"]) == {"a": 1, "b": 2, "k": "v2"}
        assert c.stats()["k"].fallback >= 2
        assert c.stats()["k"].sets == 1


async def test_async_stopped_server_keeps_working_then_recovers(own_redis: RedisServer) -> None:
    async with AsyncCache(
        own_redis.url, namespace="astop", socket_timeout=0.25, connect_timeout=0.25
    ) as c:
        await c.set("before", 1)
        own_redis.stop()
        await c.set("during", 2)
        assert await c.get("during") == 2
        assert c.breaker_state is BreakerState.OPEN
        assert c.stats()["during"].fallback >= 2
        own_redis.restart()
        assert await await_closed(c)
        await c.set("after", 3)
        assert await c.get("after") == 3


async def test_async_paused_server_opens_the_breaker(resumed: RedisServer) -> None:
    async with AsyncCache(resumed.url, namespace="apause", **QUICK) as c:
        await c.set("k", "v")
        resumed.pause()
        for _ in range(10):
            assert await c.get("k", "dflt") == "dflt"
        assert c.breaker_state is BreakerState.OPEN
        assert c.stats()["k"].fallback == 10
        resumed.resume()
        assert await await_closed(c)
        assert await c.get("k") == "v"


async def test_async_small_pool_serves_crowds_before_and_after_an_outage(
    resumed: RedisServer,
) -> None:
    # More concurrent callers than connections: they wait for a free one; an outage must not
    # leak pool slots, or every call after recovery would find the pool exhausted.
    options = {**CROWD, "max_connections": 2, "pool_timeout": 2.0}
    async with AsyncCache(resumed.url, namespace="crowd", **options) as c:
        await c.set("k", "v")
        assert set(await asyncio.gather(*(c.get("k", MISS) for _ in range(30)))) == {"v"}
        resumed.pause()
        during = await asyncio.gather(*(c.get("k", MISS) for _ in range(10)))
        assert set(during) == {MISS}
        assert c.breaker_state is BreakerState.OPEN
        resumed.resume()
        assert await await_closed(c)
        assert set(await asyncio.gather(*(c.get("k", MISS) for _ in range(30)))) == {"v"}
        assert c.breaker_state is BreakerState.CLOSED


def test_small_pool_serves_threads_before_and_after_an_outage(resumed: RedisServer) -> None:
    options = {**CROWD, "max_connections": 2, "pool_timeout": 2.0}
    with Cache(resumed.url, namespace="tcrowd", **options) as c, ThreadPoolExecutor(8) as pool:
        c.set("k", "v")
        assert set(pool.map(lambda _: c.get("k", MISS), range(30))) == {"v"}
        resumed.pause()
        assert set(pool.map(lambda _: c.get("k", MISS), range(10))) == {MISS}
        assert c.breaker_state is BreakerState.OPEN
        resumed.resume()
        assert wait_closed(c)
        assert set(pool.map(lambda _: c.get("k", MISS), range(30))) == {"v"}


# -- no stale read after recovery -------------------------------------------------------------

OPS = ["set", "set_many", "delete", "prefix", "pattern", "tag"]


def _outage_op(c: Cache, op: str) -> None:
    """Change K and K:sub (both "v1" in Redis, tagged "t") while Redis is unreachable."""
    if op == "set":
        c.set("K", "v2")
        c.set("K:sub", "v2")
    elif op == "set_many":
        c.set_many({"K": "v2", "K:sub": "v2"})
    elif op == "delete":
        c.delete("K", "K:sub")
    elif op == "prefix":
        c.invalidate_prefix("K")
    elif op == "pattern":
        c.invalidate_pattern("K*")
    else:
        c.invalidate_tag("t")


async def _async_outage_op(c: AsyncCache, op: str) -> None:
    if op == "set":
        await c.set("K", "v2")
        await c.set("K:sub", "v2")
    elif op == "set_many":
        await c.set_many({"K": "v2", "K:sub": "v2"})
    elif op == "delete":
        await c.delete("K", "K:sub")
    elif op == "prefix":
        await c.invalidate_prefix("K")
    elif op == "pattern":
        await c.invalidate_pattern("K*")
    else:
        await c.invalidate_tag("t")


#: Each change either reaches the hung server (and times out) or meets an open breaker.
REPLAY_CASES = [
    pytest.param(
        op, already_open, id=f"{op}-{'breaker-open' if already_open else 'sent-to-hung-server'}"
    )
    for op in OPS
    for already_open in (False, True)
]


@pytest.mark.parametrize(("op", "already_open"), REPLAY_CASES)
def test_outage_changes_are_replayed_before_reads(
    resumed: RedisServer, op: str, already_open: bool
) -> None:
    with Cache(resumed.url, namespace="replay", **REPLAY) as c:
        c.set("K", "v1", tags=("t",))
        c.set("K:sub", "v1", tags=("t",))
        c.set("other", "kept")
        resumed.pause()
        if already_open:
            _open(c)
        _outage_op(c, op)
        assert c.breaker_state is BreakerState.OPEN
        assert c.get("K", MISS) in (MISS, "v2")  # the fallback's view during the outage
        resumed.resume()
        assert wait_closed(c)
        # The first reads once Redis answers again: never the value from before the outage.
        assert c.get("K", MISS) in (MISS, "v2")
        assert c.get("K:sub", MISS) in (MISS, "v2")
        assert c.get("other") == "kept"
    with resumed.client() as raw:
        assert raw.get(b"replay:K") != c.codec.encode("v1")


@pytest.mark.parametrize("op", OPS)
async def test_async_outage_changes_are_replayed_before_reads(
    resumed: RedisServer, op: str
) -> None:
    async with AsyncCache(resumed.url, namespace="areplay", **REPLAY) as c:
        await c.set("K", "v1", tags=("t",))
        await c.set("K:sub", "v1", tags=("t",))
        resumed.pause()
        await _async_outage_op(c, op)
        assert c.breaker_state is BreakerState.OPEN
        resumed.resume()
        assert await await_closed(c)
        assert await c.get("K", MISS) in (MISS, "v2")
        assert await c.get("K:sub", MISS) in (MISS, "v2")


@pytest.mark.parametrize("change", ["set", "delete"])
def test_change_made_while_the_probe_finishes_is_not_lost(
    resumed: RedisServer, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    with Cache(resumed.url, namespace="halfopen", **REPLAY) as c:
        c.set("K", "v1")
        resumed.pause()
        _open(c)
        resumed.resume()
        original_close = c._close_if_settled
        calls = []

        def another_caller_writes_first() -> bool:
            # Another thread's call lands in the half-open window, just before the breaker
            # closes: after the replay, before the close.
            if not calls:
                assert c.breaker_state is BreakerState.HALF_OPEN
                other = threading.Thread(
                    target=(lambda: c.set("K", "v2"))
                    if change == "set"
                    else (lambda: c.delete("K"))
                )
                other.start()
                other.join()
            calls.append(1)
            return original_close()

        monkeypatch.setattr(c, "_close_if_settled", another_caller_writes_first)
        assert wait_closed(c)
        monkeypatch.setattr(c, "_close_if_settled", original_close)
        assert c.get("K", MISS) in (MISS, "v2")


def test_too_many_owed_deletions_degrade_to_the_whole_namespace(resumed: RedisServer) -> None:
    with Cache(resumed.url, namespace="owed", pending_max=2, **REPLAY) as c:
        c.set_many({"a": 1, "b": 1, "c": 1, "d": 1})
        resumed.pause()
        _open(c)
        c.delete("a")
        c.delete("b")
        c.delete("c")
        resumed.resume()
        assert wait_closed(c)
        # Past the limit, everything in the namespace is dropped: never a stale read.
        assert c.get_many(["a", "b", "c"]) == {}


def test_memory_url_has_no_outages() -> None:
    with Cache("memory://", namespace="m") as c:
        c.set("k", 1)
        assert c.breaker_state is BreakerState.CLOSED
        assert c.stats()["k"].fallback == 0


# -- the breaker and the owed deletions, without I/O ------------------------------------------


def test_breaker_opens_at_the_threshold_of_consecutive_failures() -> None:
    breaker = Breaker(threshold=3, recovery_interval=60)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure() is False
    breaker.success()
    assert breaker.failure() is False
    assert breaker.failure() is False
    assert breaker.failure() is True
    breaker.trip()
    assert breaker.state is BreakerState.OPEN
    assert breaker.failure() is False  # already open
    assert breaker.claim_probe() is False  # not before the recovery interval


def test_breaker_lets_one_probe_through_then_drains_and_closes() -> None:
    breaker = Breaker(threshold=1, recovery_interval=0.01)
    assert breaker.failure() is True
    breaker.trip()
    time.sleep(0.05)
    assert breaker.claim_probe() is True
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.claim_probe() is False  # one probe at a time
    breaker.retry_later()
    breaker.release_probe()
    assert breaker.state is BreakerState.OPEN
    assert breaker.claim_probe() is False  # another interval first
    time.sleep(0.05)
    assert breaker.claim_probe() is True
    breaker.drain()
    breaker.release_probe()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.claim_probe() is True  # draining: the next caller carries on at once
    breaker.release_probe()
    assert breaker.failure() is True  # any failure while draining reopens
    breaker.close()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 0


def test_pending_take_and_restore() -> None:
    pending = Pending(limit=10)
    assert not pending
    pending.add([b"k1"], globs=(b"ns:p*",), tags=[b"ns#tag:{t}"])
    assert len(pending) == 3
    taken = pending.take()
    assert not pending
    assert (taken.keys, taken.globs, taken.tags) == ({b"k1"}, {b"ns:p*"}, {b"ns#tag:{t}"})
    pending.add([b"k2"])
    pending.restore(taken)
    assert pending.keys == {b"k1", b"k2"}
    assert pending.globs == {b"ns:p*"}


def test_pending_past_its_limit_means_everything() -> None:
    pending = Pending(limit=2)
    pending.add([b"a", b"b", b"c"])
    assert pending.everything
    assert len(pending) == 0
    assert pending
    pending.add([b"d"])
    assert pending.keys == set()
