"""The near cache through a Sentinel failover: the primary killed, and a live primary demoted.

Either way the near cache must not keep answering with what the old primary held: losing the
tracking connection empties it, and a tracking connection whose server changed role (still up,
now a replica) is dropped for one to the new primary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cachectl import Cache
from tests.servers import SERVICE, SentinelGroup

pytestmark = pytest.mark.usefixtures("watchdog")

PATIENT = {"socket_timeout": 1.0, "connect_timeout": 1.0, "pool_timeout": 1.0}
WAIT = 20.0


@pytest.fixture
def own_group() -> Iterator[SentinelGroup]:
    """A group of the test's own, free to lose its primary."""
    with SentinelGroup() as servers:
        yield servers


def until(condition: object, what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.02)


def warm(cache: Cache, key: str) -> None:
    full = cache.keys.full(key)
    assert cache.near is not None
    until(lambda: cache.get(key) is not None and full in cache.near.entries, "the key is held")


def write_raw(group: SentinelGroup, key: bytes, value: bytes) -> None:
    """Write straight to whichever node is the primary now (no cachectl involved)."""
    with group.node(group.primary_port()).client() as raw:
        raw.set(key, value)


def test_a_killed_primary_leaves_nothing_stale(own_group: SentinelGroup) -> None:
    old = own_group.primary_port()
    with Cache(own_group.url, namespace="nf", near_cache=True, **PATIENT) as cache:
        cache.set("k", "before")
        warm(cache, "k")
        own_group.kill(own_group.node(old))
        until(lambda: own_group.primary_port() != old, "Sentinel promotes the replica")
        write_raw(own_group, cache.keys.full("k"), cache.codec.encode("after"))
        until(lambda: cache.get("k") == "after", "the new primary's value is read")
        assert cache.near is not None and cache.near.stats().flushes >= 1


def tracking_on(node: object) -> bool:
    with node.client() as client:  # type: ignore[attr-defined]
        return any(c.get("name") == "cachectl-near" for c in client.client_list())


def test_a_demoted_primary_still_up_leaves_nothing_stale(own_group: SentinelGroup) -> None:
    old_port = own_group.primary_port()
    old = own_group.node(old_port)
    new = next(n for n in own_group.nodes if n is not old)
    with Cache(own_group.url, namespace="nd", near_cache=True, **PATIENT) as cache:
        cache.set("k", "before")
        warm(cache, "k")
        assert tracking_on(old) and not tracking_on(new)
        # An operator's switch: the old primary keeps its clients, now as a replica; the near
        # cache's tracking connection is still to it, and must follow the new primary.
        with new.client() as raw_new, old.client() as raw_old:
            raw_new.replicaof("NO", "ONE")
            raw_old.replicaof("127.0.0.1", new.port)
        for sentinel in own_group.sentinels:
            with sentinel.client() as client:
                client.execute_command("SENTINEL", "REMOVE", SERVICE)
                client.execute_command("SENTINEL", "MONITOR", SERVICE, "127.0.0.1", new.port, 2)
        until(lambda: tracking_on(new) and not tracking_on(old), "tracking follows the primary")
        # The data path moves once a write meets READONLY (test_sentinel); then a write made
        # on the new primary by someone else is read, never the old value.
        cache.set("moved", 1)
        until(lambda: cache.get("moved") in (1, None) and cache.breaker_state == "closed", "moved")
        write_raw(own_group, cache.keys.full("k"), cache.codec.encode("after"))
        until(lambda: cache.get("k") == "after", "the new primary's value is read")
