"""The admin router's first endpoints (/health, /stats, /latency) stand on cachectl.ops like the
rest: the same answers as before, on every backend and both faces, one latency probe
(ops.latency.ping) behind them, and an outage a 503. Two routers in one application keep their
own cache, tokens and flush progress (each router's state reaches its routes as a dependency).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import AsyncCache, Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.ops.connect import for_cache
from cachectl.ops.latency import ping
from cachectl.ops.stats import collect, published_stats
from cachectl.testing import PATIENT
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

TOKEN = "status-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LATENCY_FIELDS = ["samples", "min_ms", "p50_ms", "p99_ms", "max_ms"]


def _client(*routers: tuple[str, Any]) -> httpx.AsyncClient:
    app = FastAPI()
    for prefix, router in routers:
        app.include_router(router, prefix=prefix)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://admin.test")


@pytest.fixture(params=["sync", "async"])
async def status_cache(
    request: pytest.FixtureRequest, backend_url: str, namespace: str
) -> AsyncIterator[Cache | AsyncCache]:
    if request.param == "sync":
        with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
            cache.set("product:1", {"a": 1})
            cache.get("product:1")
            cache.get("product:2")
            cache.publish_stats()
            yield cache
        return
    made = AsyncCache(backend_url, namespace=namespace, **PATIENT)
    await made.set("product:1", {"a": 1})
    await made.get("product:1")
    await made.get("product:2")
    await made.publish_stats()
    yield made
    await made.aclose()


async def test_health_stats_and_latency_answer_as_before(
    status_cache: Cache | AsyncCache, namespace: str
) -> None:
    async with _client(("/_cache", admin_router(status_cache, token=TOKEN))) as client:
        health = await client.get("/_cache/health", headers=AUTH)
        stats = await client.get("/_cache/stats", headers=AUTH)
        latency = await client.get("/_cache/latency", params={"samples": 5}, headers=AUTH)
    assert health.status_code == stats.status_code == latency.status_code == 200
    body = health.json()
    assert list(body) == ["redis", "latency_ms", "breaker", "url", "namespace"]
    assert (body["redis"], body["breaker"], body["namespace"]) == ("ok", "closed", namespace)
    assert body["url"] == status_cache.config.display_url
    assert isinstance(body["latency_ms"], float) and 0 <= body["latency_ms"] < 10_000

    figures = stats.json()
    assert list(figures) == ["namespace", "breaker", "process", "published"]
    assert (figures["namespace"], figures["breaker"]) == (namespace, "closed")
    process = {row["prefix"]: row for row in figures["process"]["prefixes"]}
    published = {row["prefix"]: row for row in figures["published"]["prefixes"]}
    for rows in (process, published):
        assert (rows["product"]["hits"], rows["product"]["misses"]) == (1, 1)
    conn = for_cache(status_cache)
    try:
        assert figures["published"] == published_stats(conn).to_dict()
    finally:
        conn.close()

    probe = latency.json()
    assert list(probe) == LATENCY_FIELDS and probe["samples"] == 5
    assert 0 <= probe["min_ms"] <= probe["p50_ms"] <= probe["p99_ms"] <= probe["max_ms"]


@pytest.mark.parametrize("backend_url", ["redis", "cluster"], indirect=True)
async def test_latency_is_the_ops_ping_on_every_primary(backend_url: str, namespace: str) -> None:
    with Cache(backend_url, namespace=namespace, **PATIENT) as cache:
        conn = for_cache(cache)
        primaries = conn.primaries()
        clients = (
            [conn.client.get_redis_connection(n) for n in conn.client.get_primaries()]
            if conn.cluster
            else [conn.client]
        )
        pings_before = [_pings(client) for client in clients]
        probe = ping(conn, samples=4)
        pings_after = [_pings(client) for client in clients]
        conn.close()
        assert probe.name == "PING" and len(probe.samples_us) == 4 * len(primaries)
        # Four timed PINGs and one that warms the connection, on each primary.
        assert [a - b for a, b in zip(pings_after, pings_before, strict=True)] == [5] * len(clients)
        async with _client(("/_cache", admin_router(cache, token=TOKEN))) as client:
            response = await client.get("/_cache/latency", params={"samples": 3}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["samples"] == 3


def _pings(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))


def test_ping_on_the_embedded_store_times_the_store() -> None:
    with Cache("memory://", namespace="app") as cache:
        conn = for_cache(cache)
        probe = ping(conn, samples=3)
        assert probe.name == "PING" and len(probe.samples_us) == 3
        assert probe.node == "memory://"
        with pytest.raises(ValueError, match="at least 1"):
            ping(conn, samples=0)


def test_published_stats_are_what_collect_reports(redis_url: str, namespace: str) -> None:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        cache.set("a:1", 1)
        cache.get("a:1")
        cache.publish_stats()
        conn = for_cache(cache)
        try:
            published = published_stats(conn)
            report = collect(conn)
        finally:
            conn.close()
    assert published.to_dict() == cache.published_stats().to_dict()
    assert published["a"].to_dict() == report.prefixes[0].stats.to_dict()


async def test_health_needs_a_password_as_the_cache_does(password_redis: RedisServer) -> None:
    url = password_redis.url.replace("redis://", "redis://:s3cret-pw@")
    with Cache(url, namespace="pw", **PATIENT) as cache:
        async with _client(("/_cache", admin_router(cache, token=TOKEN))) as client:
            response = await client.get("/_cache/health", headers=AUTH)
    assert response.status_code == 200, response.text
    assert "s3cret" not in response.text


async def test_an_outage_is_a_503_that_names_the_breaker(own_redis: RedisServer) -> None:
    url = own_redis.url
    with Cache(url, namespace="outage", socket_timeout=1.0, connect_timeout=1.0) as cache:
        cache.set("k", 1)
        async with _client(("/_cache", admin_router(cache, token=TOKEN))) as client:
            assert (await client.get("/_cache/health", headers=AUTH)).status_code == 200
            own_redis.stop()
            health = await client.get("/_cache/health", headers=AUTH)
            latency = await client.get("/_cache/latency", headers=AUTH)
            stats = await client.get("/_cache/stats", headers=AUTH)
    assert health.status_code == latency.status_code == stats.status_code == 503
    detail = health.json()["detail"]
    assert detail["redis"] == "unreachable" and detail["breaker"] in ("closed", "open")
    assert f"cannot reach {url}" in detail["error"]
    for response in (latency, stats):
        assert f"cannot reach {url}" in response.json()["detail"]
        assert response.headers["cache-control"] == "no-store"


async def test_health_of_a_black_holed_redis_is_a_503_within_the_caches_timeouts(
    own_redis: RedisServer,
) -> None:
    # A stopped process (SIGSTOP) still has its connections accepted by the kernel, and never
    # answers: the probe waits the cache's own socket_timeout, not the command line's 2 s.
    with Cache(own_redis.url, namespace="hole", socket_timeout=0.1, connect_timeout=0.1) as cache:
        async with _client(("/_cache", admin_router(cache, token=TOKEN))) as client:
            assert (await client.get("/_cache/health", headers=AUTH)).status_code == 200
            own_redis.pause()
            try:
                started = time.monotonic()
                health = await client.get("/_cache/health", headers=AUTH)
                took = time.monotonic() - started
            finally:
                own_redis.resume()
    assert health.status_code == 503
    assert health.json()["detail"]["redis"] == "unreachable"
    assert took < 1.0, f"/health took {took:.2f} s with Redis black-holed"


async def test_two_routers_in_one_application_keep_their_own_state(redis_url: str) -> None:
    with (
        Cache(redis_url, namespace="left", **PATIENT) as left,
        Cache(redis_url, namespace="right", **PATIENT) as right,
    ):
        for i in range(3):
            left.set(f"l:{i}", i)
        right.set("r:1", 1)
        routers = (
            ("/left", admin_router(left, token="left-token")),
            ("/right", admin_router(right, token="right-token", read_only_token="right-read")),
        )
        as_left = {"Authorization": "Bearer left-token"}
        async with _client(*routers) as client:
            who = await client.get("/left/api/whoami", headers=as_left)
            crossed = await client.get("/right/api/whoami", headers=as_left)
            reader = await client.get(
                "/right/api/whoami", headers={"Authorization": "Bearer right-read"}
            )
            flushed = await client.post(
                "/left/api/flush", json={"prefix": "l", "confirm": "l"}, headers=as_left
            )
            progress = {
                side: (await client.get(f"/{side}/api/flush/progress", headers=auth)).json()
                for side, auth in (
                    ("left", as_left),
                    ("right", {"Authorization": "Bearer right-token"}),
                )
            }
            stats = await client.get("/right/stats", headers={"Authorization": "Bearer right-read"})
        assert (who.json()["namespace"], who.json()["role"]) == ("left", "admin")
        assert crossed.status_code == 403
        assert (reader.json()["namespace"], reader.json()["role"]) == ("right", "read-only")
        assert flushed.json()["removed"] == 3
        assert (
            progress["left"]["label"] == "prefix 'l' in namespace 'left'"
            and not progress["left"]["running"]
        )
        assert progress["right"] == {"running": False}
        assert stats.json()["namespace"] == "right"
        assert right.get("r:1") == 1
