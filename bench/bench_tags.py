"""A key's tags on a big keyspace: the key view's tag search, and what an index would cost.

    python bench/bench_tags.py [--keys 1000000] [--rounds 5]

Starts its own redis-server on a free port (DEBUG POPULATE enabled, persistence off), fills
it with --keys untagged keys and 20 tagged ones, and stops it at the end. Prints, best of
--rounds:

- ops.inspect.tags_of over the whole keyspace (what `cachectl inspect` and the page's key view
  did), and bounded at TAG_SCAN keys (what they do now);
- `Cache.set` with tags as shipped, and with a per-namespace registry of tag names kept by one
  more SADD pipelined with each tagged write (the index that would make the search O(tags)),
  alternated round by round so that a slow moment of the machine hits both alike.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from _server import RedisServer

import cachectl.backends.redis._sync as redis_backend
from cachectl import Cache
from cachectl.ops.connect import for_cache
from cachectl.ops.inspect import TAG_SCAN, tags_of

NAMESPACE = "bench"


def best(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def set_path(cache: Cache, rounds: int, n: int = 3000) -> dict[str, float]:
    """Microseconds per tagged set, as shipped and with a registry SADD in the pipeline."""
    shipped = redis_backend.queue_writes

    def with_registry(
        pipe: Any, items: Any, ttl_ms: Any, tag_keys: Any, members: Any = None
    ) -> Any:
        shipped(pipe, items, ttl_ms, tag_keys, members)
        if tag_keys:
            pipe.sadd(NAMESPACE.encode() + b"#tags", *tag_keys)
        return pipe

    def writes() -> None:
        for i in range(n):
            cache.set(f"w:{i % 500}", {"a": i, "b": "x" * 50}, tags=("t1", "t2"), ttl=60)

    result = {"shipped": float("inf"), "registry": float("inf")}
    try:
        for _ in range(rounds):
            for name, queue in (("shipped", shipped), ("registry", with_registry)):
                redis_backend.queue_writes = queue  # type: ignore[assignment]
                result[name] = min(result[name], best(writes, 1) / n * 1e6)
    finally:
        redis_backend.queue_writes = shipped
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with RedisServer(["--enable-debug-command", "yes"]) as server:
        with server.client() as client:
            client.execute_command("DEBUG", "POPULATE", args.keys, f"{NAMESPACE}:filler", 16)
        with Cache(server.url, namespace=NAMESPACE, stats=False, socket_timeout=5.0) as cache:
            for t in range(20):
                cache.set(f"tagged:{t}", t, tags=(f"t{t}", "all"))
            conn = for_cache(cache)
            try:
                full = conn.keys.full("tagged:3")
                whole = best(lambda: tags_of(conn, full, None), args.rounds)
                bounded = best(lambda: tags_of(conn, full, TAG_SCAN), args.rounds)
                found = tags_of(conn, full, TAG_SCAN)
            finally:
                conn.close()
            print(f"{args.keys:,} keys, best of {args.rounds}")
            print(f"tags_of, whole keyspace:          {whole:8.3f} s")
            print(f"tags_of, bounded at {TAG_SCAN:,} keys: {bounded:8.3f} s  {found}")
            costs = set_path(cache, args.rounds)
            extra = costs["registry"] / costs["shipped"] - 1
            print(f"Cache.set with 2 tags, shipped:    {costs['shipped']:6.1f} us")
            print(f"  with a registry SADD pipelined:  {costs['registry']:6.1f} us ({extra:+.1%})")


if __name__ == "__main__":
    main()
