"""AsyncCache's stats publisher ends when the cache closes or its loop shuts down, even when a
cancellation is swallowed below it.

On Python 3.11, asyncio.wait_for (which redis-py wraps around sending a command) returns the
result and drops a cancellation that lands as the command completes (CPython gh-86296). The
publisher then went on publishing, and close() or the loop's shutdown awaited it forever (the
`cachectl warm --app` hang). The backend here swallows the cancel on purpose, every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping

import pytest

from cachectl import AsyncCache

pytestmark = pytest.mark.usefixtures("watchdog")

HANG_GUARD = 30.0  # seconds; closing takes milliseconds


def _swallowing(cache: AsyncCache, entered: asyncio.Event) -> None:
    real = cache.backend.incr_counters

    async def incr_counters(key: bytes, counters: Mapping[bytes, int], *args: int) -> None:
        entered.set()
        # As wait_for does when the command completed in the same loop iteration.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.2)
        await real(key, counters, *args)

    cache.backend.incr_counters = incr_counters  # type: ignore[method-assign]


async def test_close_ends_a_publisher_whose_cancel_was_swallowed(
    redis_url: str, namespace: str
) -> None:
    cache = AsyncCache(redis_url, namespace=namespace, stats_interval=0.01)
    entered = asyncio.Event()
    _swallowing(cache, entered)
    await cache.get("p:missing")  # something to publish; starts the publisher
    await asyncio.wait_for(entered.wait(), HANG_GUARD)
    publisher = cache._publisher
    assert publisher is not None

    await asyncio.wait_for(cache.aclose(), HANG_GUARD)

    assert publisher.done()


def test_loop_shutdown_ends_a_publisher_whose_cancel_was_swallowed(
    redis_url: str, namespace: str
) -> None:
    # No close(): asyncio.run cancels the leftover publisher task and waits for it.
    outcome: list[str] = []

    async def main() -> None:
        cache = AsyncCache(redis_url, namespace=namespace, stats_interval=0.01)
        entered = asyncio.Event()
        _swallowing(cache, entered)
        await cache.get("p:missing")
        await entered.wait()

    def run() -> None:
        asyncio.run(main())
        outcome.append("returned")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert outcome == ["returned"], "asyncio.run still waiting for the publisher"


async def test_publisher_still_publishes_until_closed(redis_url: str, namespace: str) -> None:
    async with AsyncCache(redis_url, namespace=namespace, stats_interval=0.01) as cache:
        await cache.get("p:missing")
        for _ in range(int(HANG_GUARD / 0.01)):  # the background task publishes by itself
            if (await cache.published_stats())["p"].misses == 1:
                break
            await asyncio.sleep(0.01)
        assert (await cache.published_stats())["p"].misses == 1
