"""publish_stats() publishes everything recorded before it was called, whatever the background
publisher is doing at that moment."""

from __future__ import annotations

import pytest

from cachectl import AsyncCache, Cache
from cachectl.testing import PATIENT

pytestmark = pytest.mark.usefixtures("watchdog")

TRIES = 200


@pytest.mark.parametrize("backend_url", ["redis", "memory"], indirect=True)
def test_publish_stats_races_the_background_publisher(backend_url: str, namespace: str) -> None:
    # A publisher every millisecond holds the lock most of the time.
    with Cache(backend_url, namespace=namespace, stats_interval=0.001, **PATIENT) as cache:
        cache.set("r:hit", 1)
        for i in range(TRIES):
            cache.get(f"r:{i}")
            cache.get("r:hit")
            cache.publish_stats()
            published, recorded = cache.published_stats()["r"], cache.stats()["r"]
            assert (published.misses, published.hits) == (i + 1, i + 1)
            assert published == recorded


@pytest.mark.parametrize("backend_url", ["redis", "memory"], indirect=True)
async def test_async_publish_stats_races_the_background_publisher(
    backend_url: str, namespace: str
) -> None:
    async with AsyncCache(
        backend_url, namespace=namespace, stats_interval=0.001, **PATIENT
    ) as cache:
        await cache.set("r:hit", 1)
        for i in range(TRIES):
            await cache.get(f"r:{i}")
            await cache.get("r:hit")
            await cache.publish_stats()
            published, recorded = (await cache.published_stats())["r"], cache.stats()["r"]
            assert (published.misses, published.hits) == (i + 1, i + 1)
            assert published == recorded
