"""Coherence soak of the near cache (issue 19): 4 processes, faults from outside, a checker.

    python bench/soak_near.py [--seconds 60] [--only single|cluster] [--keys 48]

Starts its own redis-server (and its own three-primary cluster) and, on each, runs 4 worker
processes for --seconds: two on Cache (reader threads), two on AsyncCache (reader tasks), each
with near_cache=True, and in each one writer that owns a quarter of the keys, so every key has
exactly one writer. Values are versions, counting that key's writes. Meanwhile this process
injects, in turn: CLIENT KILL of every tracking connection, SIGSTOP of a server for a second
then SIGCONT, FLUSHALL, `cachectl flush --prefix a`, `--tag t1` and `--all` run as the console
script, and kill -9 of a server then its restart on the same port (empty).

The checker, in each reader, for every read whose process reached Redis (its breaker closed
before and after the read: during an outage each process answers from its own fallback, by
design): a read that began more than 50 ms after a write completed must not return an older
version; and it may return nothing only when a deletion from outside (a flush, FLUSHALL, the
restart) may have run after that write (ended after it began: the server orders the two, and
a write may be recorded as done after a flush that ran after it). Writes count as completed
once they returned with the breaker closed, when they reached Redis; times are
CLOCK_MONOTONIC, shared by the processes. Commands
given up while a server was stopped may still run after SIGCONT, so a deletion from before
may land after a later write: absent reads are excused until a second after SIGCONT (never a
value older than a completed write).

Reported for each topology: reads checked, reads answered by the fallback, the near cache's
hit ratio, violations (with the first few), exceptions, and the largest lag of a read that was
older than a completed write but within 50 ms. Targets: 0 violations, 0 exceptions. Exit
status 1 when one is missed.

Environment: SOAK_NEAR=0 runs the same without the near cache (the checker's control run);
SOAK_LOG=INFO (or DEBUG) logs why each near cache was flushed, and a violation also names the
process's tracking state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import ctypes
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from _server import RedisServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cachectl import MISS, AsyncCache, Cache
from tests.servers import RedisCluster

NAMESPACE = "soak"
PROCESSES = 4
READERS = 3
TOLERANCE = 0.05
INF = float("inf")


def key_name(k: int) -> str:
    return f"{'ab'[k % 2]}:{k}"


def tag_of(k: int) -> str:
    return f"t{k % 3}"


# -- the shared record: per key, the last completed write and the last deletion from outside --


class Record:
    """Shared memory: versions and times of completed writes, times of outside deletions."""

    def __init__(self, ctx: Any, keys: int) -> None:
        #: 1 while the key's writer has a write that did not reach Redis: its process owes
        #: Redis the key's deletion, replayed when Redis is back (by design).
        self.owed = ctx.Array(ctypes.c_int, keys, lock=False)
        self.version = ctx.Array(ctypes.c_longlong, keys, lock=False)
        #: When the last completed write began and when it returned: the server ran it
        #: somewhere between the two.
        self.began = ctx.Array(ctypes.c_double, keys, lock=False)
        self.done = ctx.Array(ctypes.c_double, keys, lock=False)
        self.flushed = ctx.Array(ctypes.c_double, keys, lock=False)
        self.locks = [ctx.Lock() for _ in range(keys)]

    def completed(self, k: int, version: int, began: float, at: float) -> None:
        with self.locks[k]:
            self.version[k], self.began[k], self.done[k], self.owed[k] = version, began, at, 0

    def uncertain(self, k: int) -> None:
        with self.locks[k]:
            self.owed[k] = 1

    def deleting(self, ks: list[int]) -> None:
        """A deletion from outside begins: until it ends, an absent key is not a violation."""
        for k in ks:
            with self.locks[k]:
                self.flushed[k] = INF

    def deleted(self, ks: list[int]) -> None:
        now = time.monotonic()
        for k in ks:
            with self.locks[k]:
                self.flushed[k] = now

    def snapshot(self, k: int) -> tuple[int, float, float, float]:
        """The last completed write (version, when it began, when it returned), and when the
        last deletion of the key from outside, or an owed one, may have run (INF: may still)."""
        with self.locks[k]:
            deleted = INF if self.owed[k] else self.flushed[k]
            return self.version[k], self.began[k], self.done[k], deleted


# -- a worker process ----------------------------------------------------------------------------


class Tally:
    def __init__(self, explain: Callable[[int], str]) -> None:
        self.explain = explain  # what Redis and the near cache hold for a key, now
        self.reads = self.fallback = self.violations = self.exceptions = 0
        self.lag = 0.0
        self.first: list[str] = []
        self.lock = threading.Lock()

    def judge(
        self,
        k: int,
        value: Any,
        began: float,
        before: tuple[int, float, float, float],
        after: tuple[int, float, float, float],
    ) -> None:
        # The last write completed before the read began. A deletion that ended after that
        # write began (up to the end of the read) may have run after it on the server.
        version, wrote, done, flushed = before
        flushed = max(flushed, after[3])
        with self.lock:
            self.reads += 1
            if value is None:
                if version and done < began - TOLERANCE and flushed < wrote:
                    self._violation(k, f"absent, {began - done:.3f} s after v{version}")
            elif value < version:
                lag = began - done
                if lag > TOLERANCE:
                    self._violation(k, f"v{value}, {lag:.3f} s after v{version}")
                else:
                    self.lag = max(self.lag, lag)

    def _violation(self, k: int, what: str) -> None:
        self.violations += 1
        if len(self.first) < 5:
            self.first.append(f"{key_name(k)}: {what} ({self.explain(k)})")

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            self.exceptions += 1
            if len(self.first) < 5:
                self.first.append("".join(traceback.format_exception_only(exc)).strip())


def worker(index: int, url: str, keys: int, seconds: float, record: Record, out: Any) -> None:
    if os.environ.get("SOAK_LOG"):  # why each near cache was flushed, on stderr
        import logging

        line = f"%(relativeCreated)6.0f p{index} %(message)s"
        logging.basicConfig(level=logging.INFO, format=line)
        logging.getLogger("cachectl").setLevel(os.environ["SOAK_LOG"])
        logging.getLogger("redis").setLevel(logging.WARNING)
    raw: Any = (
        redis.RedisCluster.from_url(url.replace("+cluster", ""))
        if "+cluster" in url
        else redis.Redis.from_url(url)
    )
    holder: list[Any] = []

    def explain(k: int) -> str:
        """What Redis holds for the key now, and what this process's near cache holds."""
        try:
            stored = raw.get(f"{NAMESPACE}:{key_name(k)}")
        except redis.RedisError as exc:
            stored = f"unreadable: {exc}"
        near = holder[0].near if holder else None
        entry = None if near is None else near.entries.get(f"{NAMESPACE}:{key_name(k)}".encode())
        held = "nothing" if entry is None else ("absent" if entry[1] is MISS else "a value")
        said = f"Redis holds {stored!r:.40}; the near cache holds {held}"
        if near is not None and os.environ.get("SOAK_LOG"):
            tracker = near.tracker
            said += (
                f"; near {near.state}, {near.invalidations} invalidations, {near.flushes} flushes;"
                f" links {[link.name for link in tracker._links]}, inbox {len(tracker._inbox)},"
                f" broken {tracker._broken!r}"
            )
        return said

    tally = Tally(explain)
    mine = [k for k in range(keys) if k % PROCESSES == index]
    options = {
        "namespace": NAMESPACE,
        "near_cache": os.environ.get("SOAK_NEAR", "1") == "1",  # 0: the checker's control run
        "stats_interval": 0.5,
        "socket_timeout": 0.2,
    }
    deadline = time.monotonic() + seconds
    if index < 2:
        cache: Any = Cache(url, **options)
        holder.append(cache)
        watch_fallback(cache)
        threads = [
            threading.Thread(target=read_sync, args=(cache, keys, deadline, record, tally))
            for _ in range(READERS)
        ]
        for thread in threads:
            thread.start()
        write_sync(cache, mine, deadline, record, tally)
        for thread in threads:
            thread.join()
        stats = cache.stats()
        cache.close()
    else:
        stats = asyncio.run(run_async(url, options, keys, mine, deadline, record, tally, holder))
    total = stats.total
    out.put(
        {
            "reads": tally.reads,
            "fallback": tally.fallback,
            "violations": tally.violations,
            "exceptions": tally.exceptions,
            "lag": tally.lag,
            "first": tally.first,
            "near": total.near,
            "all_reads": total.hits + total.misses,
            "flushes": stats.near.flushes if stats.near else 0,
            "invalidations": stats.near.invalidations if stats.near else 0,
        }
    )


#: Set when the read of this thread or task was answered by the in-memory fallback.
fell_back: contextvars.ContextVar[bool] = contextvars.ContextVar("fell_back", default=False)


def watch_fallback(cache: Any) -> None:
    """Learn which reads the fallback answers: while Redis is out, and also a failed read with
    the breaker still closed (below failure_threshold), which no breaker state tells."""
    original = cache.fallback.get

    def get(full: bytes) -> Any:
        fell_back.set(True)
        return original(full)

    cache.fallback.get = get


def closed(cache: Any) -> bool:
    return bool(cache.breaker_state.value == "closed")


def read_sync(cache: Cache, keys: int, deadline: float, record: Record, tally: Tally) -> None:
    rng = random.Random()
    while time.monotonic() < deadline:
        k = rng.randrange(keys)
        try:
            before = record.snapshot(k)
            began = time.monotonic()
            was = closed(cache)
            fell_back.set(False)
            value = cache.get(key_name(k))
            if was and closed(cache) and not fell_back.get():
                tally.judge(k, value, began, before, record.snapshot(k))
            else:
                with tally.lock:
                    tally.fallback += 1
        except Exception as exc:
            tally.failed(exc)
        time.sleep(rng.uniform(0, 0.0005))


def write_sync(
    cache: Cache, mine: list[int], deadline: float, record: Record, tally: Tally
) -> None:
    versions = dict.fromkeys(mine, 0)
    while time.monotonic() < deadline:
        for k in mine:
            versions[k] += 1
            try:
                was, start = closed(cache), time.monotonic()
                cache.set(key_name(k), versions[k], tags=[tag_of(k)])
                if was and closed(cache):
                    record.completed(k, versions[k], start, time.monotonic())
                else:
                    record.uncertain(k)
            except Exception as exc:
                tally.failed(exc)
            time.sleep(0.004)


async def run_async(
    url: str,
    options: dict[str, Any],
    keys: int,
    mine: list[int],
    deadline: float,
    record: Record,
    tally: Tally,
    holder: list[Any],
) -> Any:
    async with AsyncCache(url, **options) as cache:
        holder.append(cache)
        watch_fallback(cache)
        rng = random.Random()

        async def read() -> None:
            while time.monotonic() < deadline:
                k = rng.randrange(keys)
                try:
                    before = record.snapshot(k)
                    began = time.monotonic()
                    was = closed(cache)
                    fell_back.set(False)
                    value = await cache.get(key_name(k))
                    if was and closed(cache) and not fell_back.get():
                        tally.judge(k, value, began, before, record.snapshot(k))
                    else:
                        tally.fallback += 1
                except Exception as exc:
                    tally.failed(exc)
                await asyncio.sleep(rng.uniform(0, 0.001))

        async def write() -> None:
            versions = dict.fromkeys(mine, 0)
            while time.monotonic() < deadline:
                for k in mine:
                    versions[k] += 1
                    try:
                        was, start = closed(cache), time.monotonic()
                        await cache.set(key_name(k), versions[k], tags=[tag_of(k)])
                        if was and closed(cache):
                            record.completed(k, versions[k], start, time.monotonic())
                        else:
                            record.uncertain(k)
                    except Exception as exc:
                        tally.failed(exc)
                    await asyncio.sleep(0.004)

        await asyncio.gather(write(), *(read() for _ in range(READERS)))
        return cache.stats()


# -- faults from outside -------------------------------------------------------------------------


class Topology:
    """The servers under test: one, or the cluster's three primaries."""

    def __init__(self, cluster: bool) -> None:
        self.cluster = cluster
        self.group: Any = RedisCluster() if cluster else RedisServer()
        self.group.start()
        self.nodes: list[RedisServer] = self.group.nodes if cluster else [self.group]
        port = self.nodes[0].port
        self.url = f"redis+cluster://127.0.0.1:{port}/0" if cluster else self.nodes[0].url

    def stop(self) -> None:
        self.group.stop()


def cli(url: str, *args: str) -> None:
    script = Path(sys.executable).with_name("cachectl")
    done = subprocess.run(
        [str(script), "--url", url, "--namespace", NAMESPACE, "--timeout", "5", "flush", "--yes",
         *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode not in (0,):
        print(
            f"    cachectl flush {' '.join(args)}: status {done.returncode} {done.stderr.strip()}"
        )


def inject(topology: Topology, keys: int, seconds: float, record: Record) -> list[str]:
    """The faults, in turn, until the time is up; what was done."""
    every = list(range(keys))
    done: list[str] = []
    faults = ["kill-tracking", "sigstop", "flushall", "prefix", "tag", "all", "kill-9"]
    deadline = time.monotonic() + seconds - 3
    turn = 0
    until = time.monotonic() + 15  # every process tracking on every primary first
    while time.monotonic() < until and tracking(topology) < PROCESSES * len(topology.nodes):
        time.sleep(0.1)
    time.sleep(1)
    while time.monotonic() < deadline:
        fault = faults[turn % len(faults)]
        node = topology.nodes[turn % len(topology.nodes)]
        turn += 1
        if fault == "kill-tracking":
            done.append(f"CLIENT KILL x{tracking(topology, kill=True)}")
        elif fault == "sigstop":
            # Commands sent to a stopped server and given up (an owed deletion's replay among
            # them) are still in its socket buffers and run after SIGCONT, after a write sent
            # later maybe: a deletion from outside, for absent reads, until a second after.
            record.deleting(every)
            node.pause()
            time.sleep(1.0)
            node.resume()
            time.sleep(1.0)
            record.deleted(every)
            done.append(f"SIGSTOP {node.port} 1 s")
        elif fault == "flushall":
            record.deleting(every)
            for each in topology.nodes:
                with each.client() as client:
                    client.flushall()
            record.deleted(every)
            done.append("FLUSHALL")
        elif fault in ("prefix", "tag", "all"):
            if fault == "prefix":
                chosen, args = [k for k in every if key_name(k).startswith("a:")], ["--prefix", "a"]
            elif fault == "tag":
                chosen, args = [k for k in every if tag_of(k) == "t1"], ["--tag", "t1"]
            else:
                chosen, args = every, ["--all"]
            record.deleting(chosen)
            cli(topology.url, *args)
            record.deleted(chosen)
            done.append(f"cachectl flush {' '.join(args)}")
        else:
            record.deleting(every)
            os.kill(node.pid, signal.SIGKILL)
            time.sleep(0.3)
            node.restart()
            record.deleted(every)
            if topology.cluster:
                wait_cluster(topology)
            done.append(f"kill -9 {node.port} + restart")
        time.sleep(random.uniform(2.5, 4.0))
    return done


def tracking(topology: Topology, kill: bool = False) -> int:
    """The tracking connections on the servers (killed, with kill)."""
    found = 0
    for each in topology.nodes:
        with each.client() as client:
            for item in client.client_list():
                if item.get("name") == "cachectl-near":
                    found += 1
                    if kill:
                        client.client_kill_filter(_id=int(item["id"]))
    return found


def wait_cluster(topology: Topology) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with topology.nodes[0].client() as client:
                if b"cluster_state:ok" in client.execute_command("CLUSTER INFO"):
                    return
        except redis.RedisError:
            pass
        time.sleep(0.1)


def soak(cluster: bool, seconds: float, keys: int) -> bool:
    label = "the three-primary cluster" if cluster else "a single server"
    print(f"\nOn {label}: {PROCESSES} processes x ({READERS} readers + 1 writer), {seconds:.0f} s")
    topology = Topology(cluster)
    ctx = multiprocessing.get_context("spawn")
    record = Record(ctx, keys)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(i, topology.url, keys, seconds, record, out))
        for i in range(PROCESSES)
    ]
    try:
        for proc in procs:
            proc.start()
        faults = inject(topology, keys, seconds, record)
        results = [out.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join(30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        topology.stop()
    reads = sum(r["reads"] for r in results)
    near = sum(r["near"] for r in results)
    all_reads = sum(r["all_reads"] for r in results)
    violations = sum(r["violations"] for r in results)
    exceptions = sum(r["exceptions"] for r in results)
    print(f"  faults: {', '.join(faults)}")
    fallback = sum(r["fallback"] for r in results)
    flushes = sum(r["flushes"] for r in results)
    invalidations = sum(r["invalidations"] for r in results)
    print(f"  reads checked {reads:,}; not checked (fallback, a failed call) {fallback:,}")
    print(
        f"  near cache: {near:,} of {all_reads:,} reads answered in process "
        f"(hit ratio {near / max(all_reads, 1):.1%}); flushes {flushes}, "
        f"invalidations {invalidations:,}"
    )
    print(
        f"  older than a completed write, within {TOLERANCE * 1000:.0f} ms: largest lag "
        f"{max(r['lag'] for r in results) * 1000:.2f} ms"
    )
    print(f"  violations {violations} (target 0); exceptions {exceptions} (target 0)")
    for r in results:
        for line in r["first"]:
            print(f"    {line}")
    return violations == 0 and exceptions == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--keys", type=int, default=48)
    parser.add_argument("--only", choices=["single", "cluster"])
    args = parser.parse_args()
    ok = True
    if args.only in (None, "single"):
        ok &= soak(False, args.seconds, args.keys)
    if args.only in (None, "cluster"):
        ok &= soak(True, args.seconds, args.keys)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
