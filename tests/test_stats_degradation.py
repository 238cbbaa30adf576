"""The namespace-wide fields of the published stats (layout 2): breaker openings and owed
invalidations, summed over every process, bounded like the rest, skipped by readers that do not
know them. What `cachectl doctor` reads (issue 20)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

from cachectl import AsyncCache, BreakerState, Cache, CacheStats
from cachectl.backends.memory import MemoryStore
from cachectl.stats import LAYOUT, LAYOUT_FIELD, StatsRecorder
from cachectl.testing import PATIENT, Face
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

QUICK: dict[str, Any] = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}


def raw_hash(url: str, namespace: str) -> dict[bytes, bytes]:
    with redis.Redis.from_url(url) as raw:
        fields: dict[bytes, bytes] = raw.hgetall(f"{namespace}#stats")
        return fields


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_outage_is_published_as_openings_and_owed_invalidations(
    resumed: RedisServer, kind: str
) -> None:
    loop = asyncio.new_event_loop() if kind == "async" else None
    made = AsyncCache if loop else Cache
    c = Face(made(resumed.url, namespace="deg", pending_max=2, **QUICK), loop)
    try:
        c.set("k", 1, tags=("t",))
        resumed.pause()
        c.delete("k", "j")  # the call that finds the server hung opens the breaker: 2 owed
        assert c.breaker_state is BreakerState.OPEN
        c.invalidate_tag("t")  # a third: past pending_max, the whole namespace
        resumed.resume()
        deadline = time.monotonic() + 10
        while c.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
            c.get("probe")
            time.sleep(0.05)
        assert c.breaker_state is BreakerState.CLOSED
        c.publish_stats()
        fields = raw_hash(resumed.url, "deg")
        assert fields[b"#layout"] == str(LAYOUT).encode() == b"3"
        assert (fields[b"#opened"], fields[b"#owed"], fields[b"#owed_all"]) == (b"1", b"3", b"1")
        assert not [f for f in fields if f.startswith(b"prefix:#") or f == b"prefix:"]
        published = c.published_stats()
        assert (published.opened, published.owed, published.owed_all) == (1, 3, 1)
        assert (published.layout, published.skipped) == (LAYOUT, 0)
        assert c.stats().opened == 1
        assert published.to_dict()["owed"] == 3
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["redis", "no-script", "memory"])
def test_processes_add_up_and_the_layout_is_kept_not_added(
    kind: str, request: pytest.FixtureRequest, namespace: str
) -> None:
    url = {
        "redis": lambda: request.getfixturevalue("redis_url"),
        "no-script": lambda: request.getfixturevalue("no_script_url"),
        "memory": lambda: "memory://",
    }[kind]()
    store = MemoryStore() if kind == "memory" else None
    caches = [Cache(url, namespace=namespace, store=store, **PATIENT) for _ in range(3)]
    try:
        for n, c in enumerate(caches):
            c.recorder.opened += 1  # as an outage of each process would count them
            c.recorder.owed += 10 * (n + 1)
            c.get("p:miss")
            c.publish_stats()
            c.get("p:miss")
            c.publish_stats()  # a second publish: the layout again, nothing else namespace-wide
        published = caches[0].published_stats()
        assert (published.opened, published.owed, published.owed_all) == (3, 60, 0)
        assert published.layout == LAYOUT
        assert published["p"].misses == 6
        assert set(published.prefixes) == {"p"}  # the '#' fields took no prefix place
        assert published.skipped == 0
    finally:
        for c in caches:
            c.close()


def test_the_memory_store_keeps_them_as_the_script_does() -> None:
    store = MemoryStore()
    store.incr_counters(b"ns#stats", {b"#opened": 2, LAYOUT_FIELD: 2, b"misses:p": 1})
    store.incr_counters(b"ns#stats", {b"#opened": 1, LAYOUT_FIELD: 2})
    fields = store.read_counters(b"ns#stats")
    assert fields[b"#opened"] == b"3" and fields[LAYOUT_FIELD] == b"2"
    assert fields[b"#prefixes"] == b"1" and b"prefix:" not in fields


def test_a_recorder_says_its_layout_with_every_delta_and_never_restores_it() -> None:
    recorder = StatsRecorder()
    assert recorder.take_delta() == {}
    recorder.opened = 1
    delta = recorder.take_delta()
    assert delta == {b"#opened": 1, LAYOUT_FIELD: LAYOUT}
    recorder.restore_delta(delta)  # a failed publish
    assert recorder.take_delta() == {b"#opened": 1, LAYOUT_FIELD: LAYOUT}
    recorder.owed += 4
    assert recorder.take_delta() == {b"#owed": 4, LAYOUT_FIELD: LAYOUT}


@pytest.mark.parametrize(
    "fields",
    [
        {b"#opened": b"x"},
        {b"#owed": b"-1"},
        {b"#owed_all": b"9" * 30},
        {b"#layout": b"two"},
    ],
    ids=repr,
)
def test_an_unusable_namespace_field_is_skipped(fields: dict[bytes, bytes]) -> None:
    read = CacheStats.from_fields({**fields, b"hits:p": b"1"})
    assert read.skipped == 1
    assert (read.opened, read.owed, read.owed_all, read.layout) == (0, 0, 0, 0)
    assert read["p"].hits == 1


def test_a_hash_without_the_layout_reads_as_unknown() -> None:
    read = CacheStats.from_fields({b"hits:p": b"1"})
    assert read.layout == 0  # an older publisher: openings and owed are unknown, not 0
    read = CacheStats.from_fields({"#layout": "2", "#opened": "4"})
    assert (read.layout, read.opened, read.skipped) == (2, 4, 0)
