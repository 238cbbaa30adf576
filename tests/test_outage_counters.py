"""incr in an outage: never counted where the count would be lost.

Before, an incr during an outage was made in the fallback and owed to Redis as a deletion, so a
counter silently restarted from 1 once Redis was back. Now, while Redis is out (a call that
times out, or the breaker open), incr and decr raise BackendUnavailable and the counter on
Redis is left as it is; `fallback_counters=True` opts in to the fallback's counting, which is
lossy. The same through Django's backend (its incr raises) and cachelib's (inc returns None,
its answer to a backend error). Against a paused (SIGSTOP) real redis-server.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cachectl import MISS, AsyncCache, BackendUnavailable, BreakerState, Cache
from cachectl.testing import Face
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

QUICK: dict[str, Any] = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}


def face_of(kind: str, url: str, namespace: str, **options: Any) -> Face:
    if kind == "sync":
        return Face(Cache(url, namespace=namespace, **QUICK, **options), None)
    return Face(AsyncCache(url, namespace=namespace, **QUICK, **options), asyncio.new_event_loop())


def wait_closed(c: Face) -> None:
    deadline = time.monotonic() + 10
    while c.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
        c.get("probe:poll")
        time.sleep(0.05)
    assert c.breaker_state is BreakerState.CLOSED


@pytest.mark.parametrize("already_open", [False, True], ids=["sent-to-hung-server", "open"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_incr_in_an_outage_raises_and_the_count_survives(
    resumed: RedisServer, kind: str, already_open: bool
) -> None:
    c = face_of(kind, resumed.url, "counters")
    try:
        c.set("visits", 5)
        resumed.pause()
        if already_open:
            c.get("probe:open")
            assert c.breaker_state is BreakerState.OPEN
        with pytest.raises(BackendUnavailable, match="cannot increment 'visits'"):
            c.incr("visits")
        assert c.breaker_state is BreakerState.OPEN
        with pytest.raises(BackendUnavailable, match="fallback_counters"):
            c.decr("visits")
        assert c.cache.pending.settled  # nothing owed: the counter is not deleted on recovery
        resumed.resume()
        wait_closed(c)
        # The count Redis held is still there: 5, or 6 when the increment sent to the hung
        # server was made as it resumed (the caller was told it may not have been counted).
        assert c.get("visits") in ((5,) if already_open else (5, 6))
        assert c.incr("visits") in ((6,) if already_open else (6, 7))
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_fallback_counters_count_in_the_fallback_and_lose_it_on_recovery(
    resumed: RedisServer, kind: str
) -> None:
    c = face_of(kind, resumed.url, "lossy", fallback_counters=True)
    try:
        c.set("visits", 5)
        resumed.pause()
        c.get("probe:open")
        with pytest.raises(ValueError):
            c.incr("visits")  # the fallback starts empty: it does not hold Redis's counter
        c.set("visits", 1)
        assert c.incr("visits", 2) == 3  # counted in the fallback, and owed as a deletion
        resumed.resume()
        wait_closed(c)
        # The documented loss: the key is deleted on Redis, the outage's count with it.
        assert c.get("visits", MISS) is MISS
    finally:
        c.close()


# -- Django's and cachelib's backends ---------------------------------------------------------


def test_django_incr_in_an_outage_raises_and_the_count_survives(resumed: RedisServer) -> None:
    pytest.importorskip("django")
    from tests.vendor.django_cache import configure

    configure()
    from cachectl.contrib.django import CachectlCache

    options = {"namespace": "dj-counters", **QUICK}
    dj = CachectlCache(resumed.url, {"OPTIONS": options, "KEY_PREFIX": "site"})
    dj.set("visits", 5)
    resumed.pause()
    with pytest.raises(BackendUnavailable):
        dj.incr("visits")
    with pytest.raises(BackendUnavailable):
        dj.decr("visits", 2)
    with pytest.raises(BackendUnavailable):
        asyncio.run(dj.aincr("visits"))
    resumed.resume()
    deadline = time.monotonic() + 10
    while dj.cachectl.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
        dj.get("probe")
        time.sleep(0.05)
    assert dj.get("visits") in (5, 6)
    assert dj.incr("visits") in (6, 7)


def test_cachelib_inc_in_an_outage_is_none_and_the_count_survives(resumed: RedisServer) -> None:
    pytest.importorskip("cachelib")
    from cachectl.contrib.cachelib import CachectlCache

    cl = CachectlCache(resumed.url, namespace="cl-counters", **QUICK)
    try:
        assert cl.inc("visits", 5) == 5
        resumed.pause()
        assert cl.inc("visits") is None  # cachelib: "None for backend errors"
        assert cl.dec("visits") is None
        assert cl.inc("new") is None
        resumed.resume()
        deadline = time.monotonic() + 10
        while cl.cachectl.breaker_state is not BreakerState.CLOSED and time.monotonic() < deadline:
            cl.get("probe")
            time.sleep(0.05)
        assert cl.get("visits") in (5, 6)
        assert cl.inc("visits") in (6, 7)
    finally:
        cl.close()
