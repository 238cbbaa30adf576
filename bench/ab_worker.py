"""One side of bench_core.py --against: the hot paths of the cachectl found in a given tree.

    python bench/ab_worker.py TREE REDIS_URL

Imports cachectl from TREE (before any installed copy), prepares every hot path, then answers
lines on stdin: "<path> <seconds>" measures that path for about that long and prints seconds
per call; "where" prints the cachectl it imported. bench_core.py runs one worker per tree and
alternates them, round after round.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, sys.argv[1])  # before any import of cachectl: the tree given wins

import cachectl
from cachectl import AsyncCache, Cache

SMALL = {"id": 42, "name": "small"}
MANY = 100


def per_call(fn: Callable[[], Any], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        n += 100
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n


async def aper_call(fn: Callable[[], Awaitable[Any]], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            await fn()
        n += 100
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / n


def main() -> None:
    url = sys.argv[2]
    loop = asyncio.new_event_loop()
    keys = [f"many:{i}" for i in range(MANY)]
    sync_paths: dict[str, Callable[[], Any]] = {}
    async_paths: dict[str, Callable[[], Awaitable[Any]]] = {}
    counter = iter(range(10**12))
    for where, target in (("redis", url), ("memory", "memory://")):
        cache = Cache(target, namespace="ab", socket_timeout=1.0)
        acache = AsyncCache(target, namespace="ab", socket_timeout=1.0)

        @cachectl.cached(ttl=600, cache=cache)
        def decorated(x: int) -> dict[str, Any]:
            return SMALL

        @cachectl.cached(ttl=600, cache=acache)
        async def adecorated(x: int) -> dict[str, Any]:
            return SMALL

        cache.set("hit", SMALL)
        cache.set_many(dict.fromkeys(keys, SMALL))
        decorated(1)
        loop.run_until_complete(acache.set("hit", SMALL))
        loop.run_until_complete(acache.set_many(dict.fromkeys(keys, SMALL)))
        loop.run_until_complete(adecorated(1))
        sync_paths.update(
            {
                f"{where} sync get hit": lambda c=cache: c.get("hit"),
                f"{where} sync get miss": lambda c=cache: c.get("absent"),
                f"{where} sync get_many {MANY}": lambda c=cache: c.get_many(keys),
                f"{where} sync set": lambda c=cache: c.set(f"set:{next(counter) % 1000}", SMALL),
                f"{where} sync @cached hit": lambda f=decorated: f(1),
            }
        )
        async_paths.update(
            {
                f"{where} async get hit": lambda c=acache: c.get("hit"),
                f"{where} async get miss": lambda c=acache: c.get("absent"),
                f"{where} async get_many {MANY}": lambda c=acache: c.get_many(keys),
                f"{where} async set": lambda c=acache: c.set(f"set:{next(counter) % 1000}", SMALL),
                f"{where} async @cached hit": lambda f=adecorated: f(1),
            }
        )
    print("ready " + "|".join([*sync_paths, *async_paths]), flush=True)
    for line in sys.stdin:
        name, _, seconds = line.strip().rpartition(" ")
        if line.strip() == "where":
            print(cachectl.__file__, flush=True)
        elif name in sync_paths:
            print(per_call(sync_paths[name], float(seconds)), flush=True)
        else:
            took = loop.run_until_complete(aper_call(async_paths[name], float(seconds)))
            print(took, flush=True)


if __name__ == "__main__":
    main()
