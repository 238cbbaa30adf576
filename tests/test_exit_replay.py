"""Deletions owed at exit: close() replays what Redis is owed before it lets go, for up to
close_timeout, and says what it could not pay (a WARNING, and its return value).

A real redis-server of the test's own, paused with SIGSTOP (a hung server: connections stay
open, nothing answers) while a cache deletes a key and invalidates a tag: 2 owed. Resumed
during close()'s wait, a new cache (another process, for the default caches) reads neither old
value; kept paused past close_timeout, the warning names the count and the kinds.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from cachectl import AsyncCache, Cache, Owed
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

#: Short timeouts, but not so short that a busy machine trips them; the first failure opens.
QUICK: dict[str, Any] = {
    "socket_timeout": 0.25,
    "connect_timeout": 0.25,
    "recovery_interval": 0.2,
    "failure_threshold": 1,
}
NS = "exit"
#: Seconds before a paused server is resumed, inside close()'s wait of LONG seconds.
RESUME_AFTER = 1.0
LONG = 20.0
SHORT = 0.5


def seed(url: str) -> None:
    """Values a fresh cache must (or must not) read after the outage."""
    with Cache(url, namespace=NS) as c:
        c.set("k", "old")
        c.set("t:1", "old", tags=("t",))
        c.set("kept", "v")
        c.set("other", "v")


def fresh_reads(url: str) -> dict[Any, Any]:
    """What a new cache (nothing shared with the closed one but Redis) reads."""
    with Cache(url, namespace=NS) as c:
        return c.get_many(["k", "t:1", "kept"])


class Closer:
    """A Cache or an AsyncCache: owe 2 deletions, then close (on its own loop for async)."""

    def __init__(self, kind: str, url: str, **options: Any) -> None:
        self.loop = asyncio.new_event_loop() if kind == "async" else None
        made = AsyncCache if self.loop else Cache
        self.cache: Cache | AsyncCache = made(url, namespace=NS, **QUICK, **options)

    def run(self, value: Any) -> Any:
        return self.loop.run_until_complete(value) if self.loop is not None else value

    def owe_two(self) -> None:
        self.run(self.cache.delete("k"))
        self.run(self.cache.invalidate_tag("t"))
        assert self.cache.pending.owed() == Owed(keys=1, tags=1)

    def close(self) -> Owed:
        try:
            owed: Owed = self.run(self.cache.close())
            return owed
        finally:
            if self.loop is not None:
                self.loop.close()


def resume_later(server: RedisServer, after: float = RESUME_AFTER) -> threading.Timer:
    timer = threading.Timer(after, server.resume)
    timer.start()
    return timer


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_close_pays_what_is_owed_when_redis_answers_during_its_wait(
    resumed: RedisServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed(resumed.url)
    closer = Closer(kind, resumed.url, close_timeout=LONG)
    resumed.pause()
    closer.owe_two()
    timer = resume_later(resumed)
    with caplog.at_level(logging.WARNING, logger="cachectl"):
        owed = closer.close()
    timer.join()
    assert owed == Owed() and not owed and owed.count == 0
    assert not [r for r in caplog.records if "still owed" in r.getMessage()]
    assert fresh_reads(resumed.url) == {"kept": "v"}
    with resumed.client() as raw:
        assert raw.exists(f"{NS}:k", f"{NS}:t:1") == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_close_reports_what_it_could_not_pay_once_and_returns_it(
    resumed: RedisServer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed(resumed.url)
    closer = Closer(kind, resumed.url, close_timeout=SHORT)
    resumed.pause()
    closer.owe_two()
    with caplog.at_level(logging.WARNING, logger="cachectl"):
        owed = closer.close()
    assert owed == Owed(keys=1, tags=1)
    assert owed.count == 2 and bool(owed) and str(owed) == "1 key, 1 tag"
    warned = [r for r in caplog.records if "still owed" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].levelno == logging.WARNING
    message = warned[0].getMessage()
    assert "2 invalidation(s)" in message and "1 key, 1 tag" in message
    assert "close_timeout (0.5s)" in message
    resumed.resume()
    # What the README says of it: until the old values expire, another process reads them.
    assert fresh_reads(resumed.url) == {"k": "old", "t:1": "old", "kept": "v"}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_leaving_a_with_block_pays_what_is_owed(resumed: RedisServer, kind: str) -> None:
    seed(resumed.url)
    timer: threading.Timer | None = None
    if kind == "sync":
        with Cache(resumed.url, namespace=NS, close_timeout=LONG, **QUICK) as c:
            resumed.pause()
            c.delete("k")
            c.invalidate_tag("t")
            timer = resume_later(resumed)
    else:

        async def main() -> threading.Timer:
            async with AsyncCache(resumed.url, namespace=NS, close_timeout=LONG, **QUICK) as c:
                resumed.pause()
                await c.delete("k")
                await c.invalidate_tag("t")
                return resume_later(resumed)

        timer = asyncio.run(main())
    timer.join()
    assert fresh_reads(resumed.url) == {"kept": "v"}


def test_an_overflow_into_the_whole_namespace_is_paid_at_close(resumed: RedisServer) -> None:
    seed(resumed.url)
    with resumed.client() as raw:
        raw.set(b"elsewhere:k", b"v")
    c = Cache(resumed.url, namespace=NS, close_timeout=LONG, pending_max=1, **QUICK)
    resumed.pause()
    c.delete("k", "absent")
    assert c.pending.owed() == Owed(whole_namespace=True)
    assert str(c.pending.owed()) == "the whole namespace"
    timer = resume_later(resumed)
    assert c.close() == Owed()
    timer.join()
    assert fresh_reads(resumed.url) == {}
    with resumed.client() as raw:
        assert raw.get(b"elsewhere:k") == b"v"


def test_close_with_nothing_owed_does_not_wait_for_a_hung_server(
    resumed: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    c = Cache(resumed.url, namespace=NS, close_timeout=LONG, stats=False, **QUICK)
    c.set("k", 1)
    resumed.pause()
    with caplog.at_level(logging.WARNING, logger="cachectl"):
        assert c.close() == Owed()  # the watchdog fails a wait of close_timeout (20 s)
    assert not [r for r in caplog.records if "still owed" in r.getMessage()]


# -- the process-wide default caches, at interpreter exit --------------------------------------

CHILD = """
import asyncio, sys
import cachectl

cachectl.configure({url!r}, namespace={ns!r}, close_timeout={timeout!r}, **{quick!r})
c = cachectl.default_cache()
c.set("k", "old")
c.set("t:1", "old", tags=("t",))
c.set("kept", "v")

async def seed():
    await cachectl.default_async_cache().set("a:k", "old")

asyncio.run(seed())
print("ready", flush=True)
sys.stdin.readline()  # the test pauses the server meanwhile
c.delete("k")
c.invalidate_tag("t")

async def owe():
    await cachectl.default_async_cache().delete("a:k")

asyncio.run(owe())
owed = c.pending.owed().count + cachectl.default_async_cache().pending.owed().count
print("owed", owed, flush=True)
# No close(): the interpreter's exit closes the default caches.
"""


def run_child(server: RedisServer, timeout: float, resume: bool) -> tuple[str, str]:
    code = textwrap.dedent(CHILD).format(url=server.url, ns=NS, timeout=timeout, quick=QUICK)
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        server.pause()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "owed 3"
        timer = resume_later(server) if resume else None
        out, err = child.communicate(timeout=LONG + 5)
        if timer is not None:
            timer.join()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    return out, err


def test_the_default_caches_pay_what_they_owe_at_interpreter_exit(resumed: RedisServer) -> None:
    _, err = run_child(resumed, LONG, resume=True)
    assert "still owed" not in err
    with resumed.client() as raw:
        assert raw.exists(f"{NS}:k", f"{NS}:t:1", f"{NS}:a:k") == 0
        assert raw.exists(f"{NS}:kept") == 1


def test_the_default_caches_say_what_they_leave_owed_at_interpreter_exit(
    resumed: RedisServer,
) -> None:
    _, err = run_child(resumed, SHORT, resume=False)
    # Each default cache says so once: the sync one its 2, the asyncio one (paid over a
    # synchronous client, its loop being gone) its 1.
    lines = [line for line in err.splitlines() if "still owed" in line]
    assert len(lines) == 2, err
    assert "2 invalidation(s)" in lines[0] and "1 key, 1 tag" in lines[0]
    assert "1 invalidation(s)" in lines[1] and "(1 key)" in lines[1]
