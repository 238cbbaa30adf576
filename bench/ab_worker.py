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
from collections.abc import Callable
from typing import Any

sys.path.insert(0, sys.argv[1])  # before any import of cachectl: the tree given wins

from _timing import aper_call, per_call

import cachectl
from cachectl import AsyncCache, Cache

SMALL = {"id": 42, "name": "small"}
MANY = 100


def main() -> None:
    url = sys.argv[2]
    loop = asyncio.new_event_loop()
    keys = [f"many:{i}" for i in range(MANY)]
    paths: dict[str, Callable[[], Any]] = {}
    awaited: set[str] = set()
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

        cache.set_many({"hit": SMALL, **dict.fromkeys(keys, SMALL)})
        decorated(1)
        loop.run_until_complete(acache.set_many({"hit": SMALL, **dict.fromkeys(keys, SMALL)}))
        loop.run_until_complete(adecorated(1))
        for face, c, f in (("sync", cache, decorated), ("async", acache, adecorated)):
            named = {
                f"{where} {face} get hit": lambda c=c: c.get("hit"),
                f"{where} {face} get miss": lambda c=c: c.get("absent"),
                f"{where} {face} get_many {MANY}": lambda c=c: c.get_many(keys),
                f"{where} {face} set": lambda c=c: c.set(f"set:{next(counter) % 1000}", SMALL),
                f"{where} {face} @cached hit": lambda f=f: f(1),
            }
            paths.update(named)
            if face == "async":
                awaited.update(named)
    print("ready " + "|".join(paths), flush=True)
    for line in sys.stdin:
        name, _, seconds = line.strip().rpartition(" ")
        if line.strip() == "where":
            print(cachectl.__file__, flush=True)
        elif name in awaited:
            print(loop.run_until_complete(aper_call(paths[name], float(seconds))), flush=True)
        else:
            print(per_call(paths[name], float(seconds)), flush=True)


if __name__ == "__main__":
    main()
