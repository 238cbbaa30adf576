"""add, incr, touch, delete_many and clear during an outage: served by the fallback, and owed to
Redis, so that after recovery no read sees a value from before the outage. Both faces, through
cachectl.testing's Face, against a paused (hung) real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from cachectl import MISS, AsyncCache, BackendUnavailable, BreakerState, Cache
from cachectl.testing import Face
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

REPLAY = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, resumed: RedisServer) -> Iterator[Face]:
    if request.param == "sync":
        made = Face(Cache(resumed.url, namespace="outage", **REPLAY), None)
    else:
        loop = asyncio.new_event_loop()
        made = Face(AsyncCache(resumed.url, namespace="outage", **REPLAY), loop)
    yield made
    made.close()


def wait_closed(c: Face) -> bool:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        c.get("probe:poll")
        if c.breaker_state is BreakerState.CLOSED:
            return True
        time.sleep(0.05)
    return False


def _add(c: Face) -> None:
    assert c.add("K", "v2") is True  # the fallback starts empty at the outage


def _incr(c: Face) -> None:
    # Never counted in the fallback, whose count would be deleted once Redis is back: the
    # caller learns that it was not counted (or, for a call that timed out, maybe counted).
    with pytest.raises(BackendUnavailable):
        c.incr("N")


def _touch(c: Face) -> None:
    assert c.touch("K", 5) is False


def _delete_many(c: Face) -> None:
    c.delete_many(["K", "N"])


def _clear(c: Face) -> None:
    c.clear()


OPS: dict[str, Callable[[Face], None]] = {
    "add": _add,
    "incr": _incr,
    "touch": _touch,
    "delete_many": _delete_many,
    "clear": _clear,
}


#: What N (1 before the outage) may read after it: an untouched key keeps its value; an
#: increment sent to the hung server is made when it resumes.
N_AFTER = {"add": (1,), "incr": (1, 2), "touch": (1,), "delete_many": (MISS,), "clear": (MISS,)}


@pytest.mark.parametrize("already_open", [False, True], ids=["sent-to-hung-server", "open"])
@pytest.mark.parametrize("op", list(OPS))
def test_outage_changes_are_owed_to_redis(
    face: Face, resumed: RedisServer, op: str, already_open: bool
) -> None:
    face.set("K", "v1", tags=("t",))
    face.set("N", 1)
    resumed.pause()
    if already_open:
        face.get("probe:open")
        assert face.breaker_state is BreakerState.OPEN
    OPS[op](face)
    assert face.breaker_state is BreakerState.OPEN
    resumed.resume()
    assert wait_closed(face)
    # Never the value from before the outage; what the outage wrote, or nothing (incr left K
    # alone).
    assert face.get("K", MISS) in (("v1",) if op == "incr" else (MISS, "v2"))
    assert face.get("N", MISS) in N_AFTER[op]
    with resumed.client() as raw:
        assert raw.get(b"outage:K") in (
            (face.codec.encode("v1"),) if op == "incr" else (None, face.codec.encode("v2"))
        )
    if op == "clear":
        assert face.invalidate_tag("t") == 0
