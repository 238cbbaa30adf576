"""Cache core benchmark: the library's hot paths against raw redis-py, in one run.

    python bench/bench_core.py [--seconds 1.0] [--rounds 5]
    python bench/bench_core.py --against ../main [--seconds 0.2] [--rounds 15]

Starts its own redis-server on a free port. Every comparison alternates the contenders over
several rounds and keeps each one's best round, so a noisy neighbour hurts both alike.
Prints ratios; targets are from issue 3.

--against compares instead this checkout's hot paths (get hit and miss, get_many, set and a
@cached hit, on Redis and on the embedded store, sync and async) with another checkout's, in
the same run: one worker process per checkout (bench/ab_worker.py), taking turns path by path
for many short rounds; each keeps its best round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import redis
import redis.asyncio as aioredis
from _server import RedisServer
from _timing import aper_call, per_call

from cachectl import AsyncCache, Cache

VALUE = {
    "id": 42,
    "title": "Dashboard summary",
    "totals": {"orders": 123456, "revenue": 9876543.21, "customers": 4567},
    "series": [
        {"day": f"2026-11-{d:02d}", "orders": 400 + d, "revenue": 31000.5 + d} for d in range(1, 23)
    ],
    "flags": ["fresh", "eu", "weekly"],
}


def best_of(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            best[name] = min(best[name], run())
    return best


def row(label: str, value_us: float, base_us: float | None = None, target: str = "") -> None:
    ratio = f"{value_us / base_us:6.3f}x" if base_us else "       "
    print(f"  {label:<44} {value_us:9.2f} µs  {ratio}  {target}")


def sync_section(url: str, seconds: float, rounds: int) -> None:
    raw = redis.Redis.from_url(url)
    packed = msgpack.packb(VALUE)
    raw.set(b"raw:v", packed)
    cache = Cache.from_url(url, namespace="bench", socket_timeout=1.0)
    quiet = Cache.from_url(url, namespace="bench", socket_timeout=1.0, stats=False)
    cache.set("dash:v", VALUE)
    stored = raw.get(b"bench:dash:v") or b""
    print(f"value: msgpack {len(packed)} B, stored by cachectl {len(stored)} B (lz4 above 1 KB)")

    def raw_get() -> Any:
        return msgpack.unpackb(raw.get(b"raw:v"))

    assert cache.get("dash:v") == raw_get() == VALUE
    res = best_of(
        {
            "raw": lambda: per_call(raw_get, seconds),
            "cache": lambda: per_call(lambda: cache.get("dash:v"), seconds),
            "nostats": lambda: per_call(lambda: quiet.get("dash:v"), seconds),
        },
        rounds,
    )
    print("\nSync hit of a ~2 KB dict")
    row("raw redis-py GET + msgpack.unpackb", res["raw"] * 1e6)
    row("Cache.get (stats on)", res["cache"] * 1e6, res["raw"] * 1e6, "target <= 1.10x")
    row("Cache.get (stats off)", res["nostats"] * 1e6, res["raw"] * 1e6)
    # A difference of a few percent between two network-bound figures needs many short,
    # alternating rounds to stand out of this machine's noise.
    cost = best_of(
        {
            "on": lambda: per_call(lambda: cache.get("dash:v"), seconds / 5),
            "off": lambda: per_call(lambda: quiet.get("dash:v"), seconds / 5),
        },
        rounds * 5,
    )
    stats_cost = (cost["on"] - cost["off"]) / cost["off"] * 100
    print(
        f"  stats cost: {stats_cost:+.1f}% of a hit over {rounds * 5} alternating rounds "
        "(target <= 3%)"
    )

    get_many_section(
        cache, raw, "~2 KB dicts (the value above)", lambda i: dict(VALUE, id=i), seconds, rounds
    )
    get_many_section(
        cache, raw, "small dicts (~25 B)", lambda i: {"i": i, "name": f"item {i}"}, seconds, rounds
    )
    cache.close()
    quiet.close()
    raw.close()


def get_many_section(
    cache: Cache,
    raw: redis.Redis,
    label: str,
    make: Callable[[int], Any],
    seconds: float,
    rounds: int,
) -> None:
    keys = [f"many:{i}" for i in range(1000)]
    values = [make(i) for i in range(1000)]
    cache.set_many(dict(zip(keys, values, strict=True)))
    rawkeys = [f"raw:many:{i}".encode() for i in range(1000)]
    raw.mset({k: msgpack.packb(v) for k, v in zip(rawkeys, values, strict=True)})
    assert list(cache.get_many(keys).values()) == values
    res = best_of(
        {
            "mget": lambda: per_call(lambda: raw.mget(rawkeys), seconds),
            "mget+unpack": lambda: per_call(
                lambda: [msgpack.unpackb(v) for v in raw.mget(rawkeys)], seconds
            ),
            "get_many": lambda: per_call(lambda: cache.get_many(keys), seconds),
        },
        rounds,
    )
    print(f"\nget_many of 1,000 keys, {label} (throughput ratio: higher is better)")
    row("raw MGET (bytes only, no decoding)", res["mget"] * 1e6)
    row("raw MGET + msgpack.unpackb each", res["mget+unpack"] * 1e6)
    print(
        f"  {'Cache.get_many':<44} {res['get_many'] * 1e6:9.2f} µs  "
        f"{res['mget+unpack'] / res['get_many']:6.3f}x of MGET+unpackb, "
        f"{res['mget'] / res['get_many']:.3f}x of bare MGET  (target >= 0.85x)"
    )


def tags_section(url: str, seconds: float, rounds: int) -> None:
    """The two tag designs: membership sets (ours) vs a version counter per tag."""
    raw = redis.Redis.from_url(url)
    cache = Cache.from_url(url, namespace="tagbench", socket_timeout=2.0, stats=False)
    counter = iter(range(10**9))
    res = best_of(
        {
            "plain": lambda: per_call(lambda: cache.set(f"p:{next(counter)}", 1, ttl=60), seconds),
            "tagged": lambda: per_call(
                lambda: cache.set(f"t:{next(counter)}", 1, ttl=60, tags=("big",)), seconds
            ),
        },
        rounds,
    )
    raw.set(b"tagbench:v:1", b"x")
    raw.set(b"tagver:user:42", b"7")

    def versioned_get() -> Any:
        # The version design: every read also fetches the versions of the entry's tags.
        pipe = raw.pipeline(transaction=False)
        pipe.get(b"tagbench:v:1")
        pipe.mget([b"tagver:user:42"])
        return pipe.execute()

    reads = best_of(
        {
            "get": lambda: per_call(lambda: raw.get(b"tagbench:v:1"), seconds),
            "versioned": lambda: per_call(versioned_get, seconds),
        },
        rounds,
    )
    cache.invalidate_tag("big")
    print("\nTags: membership sorted sets (chosen) vs a version counter per tag")
    row("set, no tag", res["plain"] * 1e6)
    row("set with one tag (set + membership script)", res["tagged"] * 1e6, res["plain"] * 1e6)
    row("read, plain GET", reads["get"] * 1e6)
    row("read + tag version check (version design)", reads["versioned"] * 1e6, reads["get"] * 1e6)
    for others in (10_000, 200_000):
        raw.flushdb()
        pipe = raw.pipeline(transaction=False)
        for i in range(others):
            pipe.set(f"tagbench:other:{i}", b"x")
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        cache.set_many({f"tagged:{i}": i for i in range(10_000)}, ttl=300, tags=("t10k",))
        start = time.perf_counter()
        removed = cache.invalidate_tag("t10k")
        took = time.perf_counter() - start
        print(
            f"  invalidate_tag of {removed:,} keys among {others:,} others: {took * 1000:8.1f} ms "
            "(version design: one INCR, but the 10,000 entries stay in memory until their TTL)"
        )
    raw.flushdb()
    cache.close()
    raw.close()


def memory_section(seconds: float, rounds: int) -> None:
    mem = Cache()
    mem.set("k:small", 42)
    mem.set("k:dict", VALUE)
    res = best_of(
        {
            "small": lambda: per_call(lambda: mem.get("k:small"), seconds),
            "dict": lambda: per_call(lambda: mem.get("k:dict"), seconds),
        },
        rounds,
    )
    print("\nEmbedded / fallback store (no network)")
    row("memory Cache.get, small value", res["small"] * 1e6, None, "target < 3 µs")
    row("memory Cache.get, ~2 KB dict (decoded)", res["dict"] * 1e6)


async def async_section(url: str, seconds: float, rounds: int) -> None:
    raw = aioredis.Redis.from_url(url)
    await raw.set(b"raw:v", msgpack.packb(VALUE))
    cache = AsyncCache.from_url(url, namespace="bench", socket_timeout=1.0)
    await cache.set("dash:v", VALUE)

    async def raw_get() -> Any:
        return msgpack.unpackb(await raw.get(b"raw:v"))

    # The cache reads with a 50 ms socket timeout, which redis.asyncio enforces with a timeout
    # scope on every read: the same client with the same timeout is the like-for-like baseline.
    timed = aioredis.Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.05)

    async def timed_get() -> Any:
        return msgpack.unpackb(await timed.get(b"raw:v"))

    contenders: dict[str, Callable[[], Awaitable[Any]]] = {
        "raw": raw_get,
        "timed": timed_get,
        "cache": lambda: cache.get("dash:v"),
    }
    closers: list[Callable[[], Awaitable[Any]]] = [raw.aclose, timed.aclose, cache.close]
    with contextlib.suppress(ImportError):
        from cashews import Cache as Cashews

        cashews = Cashews()
        cashews.setup(url)
        await cashews.set("cw:v", VALUE)
        assert await cashews.get("cw:v") == VALUE
        contenders["cashews"] = lambda: cashews.get("cw:v")
        closers.append(cashews.close)
    with contextlib.suppress(ImportError):
        from aiocache import RedisCache
        from aiocache.serializers import MsgPackSerializer

        host, port = url.split("//")[1].split("/")[0].split(":")
        serializer = MsgPackSerializer()
        serializer.encoding = None  # values are bytes; aiocache would decode them as text
        aio = RedisCache(serializer=serializer, endpoint=host, port=int(port))
        await aio.set("ac:v", VALUE)
        contenders["aiocache"] = lambda: aio.get("ac:v")
        closers.append(aio.close)
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], await aper_call(fn, seconds))
    print("\nAsync hit of a ~2 KB dict")
    row("raw redis.asyncio GET + msgpack.unpackb", best["raw"] * 1e6)
    row("raw, same 50 ms socket timeout as the cache", best["timed"] * 1e6, best["raw"] * 1e6)
    row("AsyncCache.get", best["cache"] * 1e6, best["raw"] * 1e6, "target <= 1.10x")
    row("AsyncCache.get vs the timed raw client", best["cache"] * 1e6, best["timed"] * 1e6)
    for name in ("cashews", "aiocache"):
        if name in best:
            row(name, best[name] * 1e6, best["raw"] * 1e6)
    for close in closers:
        await close()


def against(other: str, url: str, seconds: float, rounds: int, only: str) -> None:
    """This checkout's hot paths next to other's, alternating (see the module docstring)."""
    here = Path(__file__).resolve().parent
    trees = {"before": str(Path(other).resolve()), "after": str(here.parent)}
    workers = {
        side: subprocess.Popen(
            [sys.executable, str(here / "ab_worker.py"), tree, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for side, tree in trees.items()
    }

    def ask(side: str, line: str) -> str:
        worker = workers[side]
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(line + "\n")
        worker.stdin.flush()
        return worker.stdout.readline().strip()

    try:
        paths: list[str] = []
        for side, worker in workers.items():
            assert worker.stdout is not None
            paths = worker.stdout.readline().strip().removeprefix("ready ").split("|")
            print(f"{side}: cachectl from {ask(side, 'where')}")
        paths = [path for path in paths if only in path]
        best = {(side, path): float("inf") for side in workers for path in paths}
        ratios: dict[str, list[float]] = {path: [] for path in paths}
        for n in range(rounds):
            order = list(workers) if n % 2 == 0 else list(reversed(workers))
            for path in paths:
                took = {side: float(ask(side, f"{path} {seconds}")) for side in order}
                for side, value in took.items():
                    best[side, path] = min(best[side, path], value)
                ratios[path].append(took["after"] / took["before"])
    finally:
        for worker in workers.values():
            worker.terminate()
            worker.wait()
    print(f"\nHot paths, {rounds} alternating rounds of {seconds} s (best round of each side)")
    print(f"  {'path':<32} {'before':>9} {'after':>9} {'after/before':>13} {'median':>8}")
    for path in paths:
        before, after = best["before", path] * 1e6, best["after", path] * 1e6
        median = statistics.median(ratios[path])
        print(f"  {path:<32} {before:7.2f}µs {after:7.2f}µs {after / before:12.3f}x {median:7.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="CHECKOUT", help="compare hot paths with another")
    parser.add_argument("--only", default="", help="with --against: the paths naming this")
    args = parser.parse_args()
    with RedisServer() as server:
        print(f"redis-server {server.url} (ours, stopped at the end)")
        if args.against:
            against(args.against, server.url, args.seconds, args.rounds, args.only)
            return
        sync_section(server.url, args.seconds, args.rounds)
        tags_section(server.url, args.seconds, args.rounds)
        memory_section(args.seconds, args.rounds)
        asyncio.run(async_section(server.url, args.seconds, args.rounds))


if __name__ == "__main__":
    main()
