"""Bounded memory in an outage: the owed queue is bounded in bytes as well as entries, and past
either bound it becomes "the whole namespace", which the replay then pays.

The issue's case: 9,000 delete() calls of 20 KB keys while Redis is paused grew the process by
172 MiB; here they stay well under 32 MiB (tracemalloc), on both faces.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import pytest

from cachectl import AsyncCache, BreakerState, Cache, Owed
from cachectl.breaker import ENTRY_BYTES, Pending
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

QUICK: dict[str, Any] = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.5,
    "failure_threshold": 1,
}
NS = "bounded"
CALLS = 9_000
KEY_BYTES = 20_000
MIB = 1024 * 1024


def long_key(i: int) -> str:
    return f"user:{i}:" + "x" * KEY_BYTES


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_deleting_many_long_keys_in_an_outage_stays_bounded(
    resumed: RedisServer, kind: str
) -> None:
    options = {**QUICK, "max_key_size": 32 * 1024}  # the default, 16 KiB, would refuse them
    with Cache(resumed.url, namespace=NS, **options) as setup:
        setup.set_many({"k": 1, long_key(0): 2, long_key(1): 3}, tags=("t",))
    with resumed.client() as raw:
        raw.set(b"elsewhere:k", b"kept")
    loop = asyncio.new_event_loop() if kind == "async" else None
    made = AsyncCache if loop else Cache
    cache: Cache | AsyncCache = made(resumed.url, namespace=NS, **options)

    def run(value: Any) -> Any:
        return loop.run_until_complete(value) if loop is not None else value

    try:
        resumed.pause()
        run(cache.get("k"))  # opens the breaker: the fallback answers from here on
        assert cache.breaker_state is BreakerState.OPEN
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            if loop is None:
                assert isinstance(cache, Cache)
                for i in range(CALLS):
                    cache.delete(long_key(i))
            else:
                assert isinstance(cache, AsyncCache)

                async def deletes() -> None:
                    for i in range(CALLS):
                        await cache.delete(long_key(i))

                run(deletes())
            grown, peak = (n - before for n in tracemalloc.get_traced_memory())
        finally:
            tracemalloc.stop()
        assert grown < 32 * MIB, f"grew {grown / MIB:.1f} MiB"
        assert peak < 32 * MIB, f"peaked {peak / MIB:.1f} MiB above the start"
        assert cache.pending.owed() == Owed(whole_namespace=True)
        assert cache.stats().owed_all >= 1

        resumed.resume()
        deadline = time.monotonic() + 10
        while cache.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
            run(cache.get("probe"))
            time.sleep(0.05)
        assert cache.breaker_state is BreakerState.CLOSED
    finally:
        if loop is not None:
            run(cache.close())
            loop.close()
        else:
            cache.close()
    # The replay paid "the whole namespace": nothing of it is left, the other namespace is.
    with resumed.client() as raw:
        assert raw.keys(f"{NS}:*") == []
        assert raw.keys(f"{NS}#tag:*") == []
        assert raw.get(b"elsewhere:k") == b"kept"


# -- the bounds, without a server --------------------------------------------------------------


def test_the_byte_bound_collapses_the_names_into_the_whole_namespace() -> None:
    pending = Pending(limit=1_000, max_bytes=10 * (100 + ENTRY_BYTES))
    assert pending.add([b"k" * 100 for _ in range(1)]) is False
    for i in range(9):
        assert pending.add([bytes([i]) * 100]) is False
    assert pending.owed() == Owed(keys=10)
    assert pending.add([b"one more"]) is True  # over max_bytes: now the whole namespace
    assert pending.everything and not pending.keys and pending.size == 0
    assert pending.owed() == Owed(whole_namespace=True)
    assert pending.add([b"any"], [b"glob*"], [b"tag"]) is False  # already everything
    assert pending.owes(b"whatever")


def test_one_call_with_many_long_names_never_holds_them_all() -> None:
    pending = Pending(limit=10_000, max_bytes=1024 * 1024)
    names = [bytes([i % 256]) * 20_000 + str(i).encode() for i in range(1000)]
    assert pending.add(names) is True
    assert pending.everything and not pending.keys


def test_the_count_bound_still_holds_and_a_name_owed_twice_counts_once() -> None:
    pending = Pending(limit=3)
    pending.add([b"a", b"a", b"b"], [b"g*"])
    assert (len(pending), pending.size) == (3, 4 + 3 * ENTRY_BYTES)
    assert pending.owed() == Owed(keys=2, globs=1)
    assert pending.add([], [], [b"t"]) is True


def test_a_batch_taken_for_replay_is_still_owed_and_restored_whole() -> None:
    pending = Pending(limit=10, max_bytes=1024)
    pending.add([b"a"], [], [b"t"])
    taken = pending.take()
    assert pending.owed() == Owed(keys=1, tags=1)  # replaying still counts
    pending.add([b"b"])
    pending.restore(taken)
    assert pending.owed() == Owed(keys=2, tags=1)
    everything = Pending(limit=1)
    everything.add([b"a", b"b"])
    taken = everything.take()
    assert everything.owed() == Owed(whole_namespace=True)
    everything.restore(taken)
    assert everything.everything and everything.settled is False
