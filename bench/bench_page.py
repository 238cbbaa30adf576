"""The admin router's JSON API on a million keys: what the Cache Management page waits for.

    python bench/bench_page.py [--keys 1000000] [--rounds 5]

Starts its own redis-server on a free port (DEBUG POPULATE enabled, persistence off), fills it
with keys under three prefixes of one namespace, and times the router in process (httpx over
ASGI, so what is timed is the router, the operations and Redis, not a network). Targets are
issue 12's: the overview under 2 s, a page of 100 keys under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx
from _server import RedisServer
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router

NAMESPACE = "bench"
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHARES = {"products": 0.4, "users": 0.3, "orders": 0.3}


def populate(server: RedisServer, keys: int) -> None:
    with server.client() as client:
        client.flushall()
        for prefix, share in SHARES.items():
            n = round(keys * share)
            client.execute_command("DEBUG", "POPULATE", n, f"{NAMESPACE}:{prefix}", 64)


async def timed(
    client: httpx.AsyncClient, method: str, path: str, rounds: int, **kwargs: Any
) -> tuple[list[float], Any]:
    times, body = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        response = await client.request(method, path, headers=AUTH, **kwargs)
        times.append(time.perf_counter() - start)
        if response.status_code >= 400:
            raise SystemExit(f"{path}: {response.status_code} {response.text}")
        body = response.json()
    return times, body


def line(label: str, times: list[float], target: float | None, extra: str = "") -> None:
    median, worst = statistics.median(times), max(times)
    verdict = "" if target is None else ("  ok" if worst < target else "  OVER TARGET")
    goal = "" if target is None else f" (target < {target * 1000:.0f} ms)"
    print(f"{label:<48} median {median * 1000:8.1f} ms  max {worst * 1000:8.1f} ms{goal}{verdict}")
    if extra:
        print(f"{'':<48} {extra}")


async def run(url: str, rounds: int) -> None:
    with Cache(url, namespace=NAMESPACE) as cache:
        for i in range(1000):
            cache.set(f"products:cachectl:{i}", {"id": i, "name": "x" * 40}, tags=("hot",))
        app = FastAPI()
        app.include_router(admin_router(cache, token=TOKEN), prefix="/_cache")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=60
        ) as client:
            await client.get("/_cache/api/whoami", headers=AUTH)  # connects
            times, body = await timed(client, "GET", "/_cache/api/overview", rounds)
            counted = {row["prefix"]: row["keys"] for row in body["prefixes"]}
            line("GET /api/overview", times, 2.0, f"keys {counted}, estimated {body['estimated']}")
            for label, params in (
                ("GET /api/keys count=100 (namespace)", {"count": 100}),
                ("GET /api/keys count=100 prefix=products", {"count": 100, "prefix": "products"}),
                ("GET /api/keys count=100 sort=memory", {"count": 100, "sort": "memory"}),
                ("GET /api/keys count=100 tag=hot", {"count": 100, "tag": "hot"}),
                (
                    "GET /api/keys count=100 pattern=orders:12*",
                    {"count": 100, "pattern": "orders:12*"},
                ),
            ):
                times, body = await timed(client, "GET", "/_cache/api/keys", rounds, params=params)
                extra = f"{len(body['keys'])} keys, more: {body['cursor'] is not None}"
                line(label, times, 0.3, extra)
            times, body = await timed(
                client, "GET", "/_cache/api/key", rounds, params={"key": "products:cachectl:7"}
            )
            line("GET /api/key (one decoded value)", times, 0.3)
            times, body = await timed(
                client, "POST", "/_cache/api/flush/plan", 1, json={"prefix": "products"}
            )
            line("POST /api/flush/plan prefix=products (counts)", times, None, f"{body['count']}")
            times, body = await timed(client, "GET", "/_cache/api/keys/top", 1, params={"n": 20})
            line("GET /api/keys/top n=20 (whole namespace)", times, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with RedisServer(["--enable-debug-command", "yes"]) as server:
        print(f"redis-server {server.url} (ours, stopped at the end); {options.keys:,} keys")
        populate(server, options.keys)
        asyncio.run(run(server.url, options.rounds))


if __name__ == "__main__":
    main()
