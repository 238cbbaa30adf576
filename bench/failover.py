"""Sentinel failover under load (issue 18): the primary killed while the cache is busy.

    python bench/failover.py [--only sync|async] [--flush] [--steady 1.5] [--json]

Starts its own primary, replica and three Sentinels (tests/servers.py's SentinelGroup: Sentinel's
down-after-milliseconds 400, failover-timeout 2000) and runs soak.py's workload through a
redis+sentinel:// URL: 8 threads on one `Cache`, then 20 tasks on one `AsyncCache`, each
mixing reads and writes 4:1 over 200 keys, with the library's default settings. After
--steady seconds the primary is killed (SIGKILL) and Sentinel promotes the replica.

Printed for each face:
  exceptions   calls that raised (an exception reaching the caller is a defect)
  failover p99 the 99th percentile (and the maximum) of the calls that began from the kill
               until a write through the cache is on the new primary and the breaker closed
  promotion    seconds from the kill until the replica reports role:master
  writes       seconds from the promotion until a write through the cache is on the new
               primary: a marker is written through the cache every 10 ms; a plain client on
               the new primary reads it until it holds one written after the promotion
  stale reads  soak.py's check: a read that returns an older version than one whose write
               had completed before the read began (a miss never is)
With --flush, `cachectl flush --all --yes` (the console script, through the same URL) is run
0.1 s after the kill, and printed: its exit status and time, and `survivors`: keys on the new
primary, once the cache recovered, holding a version whose write completed before the flush
began (each must be gone).

Targets: 0 exceptions, failover p99 <= 5 ms, writes on the new primary <= 2 s after the
promotion, 0 stale reads (and with --flush: exit 0, 0 survivors). Exit status 1 when one is
missed. Bounded: about 15 s a face.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import SentinelGroup
from soak import TASKS, THREADS, Book, Worker, async_worker, key_name, percentile, sync_worker

from cachectl import MISS, AsyncCache, BreakerState, Cache

#: Past this, a failover counts as not recovered.
LIMIT = 15.0
MARKER_EVERY = 0.01
POLL = 0.005

TARGET_P99_MS = 5.0
TARGET_ARRIVAL_S = 2.0


@dataclass
class FlushRun:
    """The console script's flush, run during the failover."""

    done: list[int]  # each key's completed version when the flush began
    status: int | None = None
    seconds: float = 0.0
    output: str = ""
    survivors: list[str] = field(default_factory=list)


@dataclass
class Failover:
    """What one failover took, in perf_counter_ns, and what was seen."""

    face: str
    workers: list[Worker]
    book: Book
    kill: int = 0
    promoted: int | None = None
    arrived: int | None = None
    closed: int | None = None
    old_port: int = 0
    new_port: int = 0
    errors: list[str] = field(default_factory=list)
    flush: FlushRun | None = None

    @property
    def end(self) -> int:
        """When the failover was over for the cache: writes arriving and the breaker closed."""
        ends = [t for t in (self.arrived, self.closed) if t is not None]
        return max(ends) if len(ends) == 2 else self.kill + int(LIMIT * 1e9)

    def durations(self) -> list[int]:
        return sorted(d for w in self.workers for s, d in w.samples if self.kill <= s < self.end)

    def summary(self) -> dict[str, Any]:
        """The figures, JSON-ready (seconds and milliseconds)."""
        durations = self.durations()
        errors = [e for w in self.workers for e in w.errors] + self.errors
        since = self.promoted if self.promoted is not None else self.kill

        def seconds(t: int | None, origin: int) -> float | None:
            return None if t is None else round((t - origin) / 1e9, 3)

        out: dict[str, Any] = {
            "face": self.face,
            "calls": sum(w.calls for w in self.workers),
            "exceptions": len(errors),
            "exception_examples": errors[:3],
            "failover_calls": len(durations),
            "failover_p99_ms": round(percentile(durations, 0.99) / 1e6, 3),
            "failover_max_ms": round((durations[-1] if durations else 0) / 1e6, 3),
            "promotion_s": seconds(self.promoted, self.kill),
            "writes_on_new_primary_s": seconds(self.arrived, since),
            "breaker_closed_s": seconds(self.closed, self.kill),
            "old_primary": self.old_port,
            "new_primary": self.new_port,
            "reads": self.book.reads,
            "stale_reads": self.book.stale,
            "phantom_reads": self.book.phantom,
            "stale_examples": self.book.examples,
        }
        if self.flush is not None:
            out["flush"] = {
                "exit_status": self.flush.status,
                "seconds": round(self.flush.seconds, 3),
                "output": self.flush.output[-500:],
                "survivors": self.flush.survivors[:10],
            }
        return out

    def missed(self) -> list[str]:
        s = self.summary()
        missed = []
        if s["exceptions"]:
            missed.append(f"{self.face}: {s['exceptions']} exceptions")
        if s["failover_p99_ms"] > TARGET_P99_MS:
            missed.append(f"{self.face}: failover p99 {s['failover_p99_ms']} ms")
        arrival = s["writes_on_new_primary_s"]
        if self.arrived is None or arrival is None or arrival > TARGET_ARRIVAL_S:
            missed.append(f"{self.face}: writes on the new primary after {arrival} s")
        if s["stale_reads"] or s["phantom_reads"]:
            missed.append(f"{self.face}: {s['stale_reads']} stale, {s['phantom_reads']} phantom")
        if self.flush is not None and (self.flush.status != 0 or self.flush.survivors):
            missed.append(
                f"{self.face}: flush exited {self.flush.status}, "
                f"{len(self.flush.survivors)} survivors"
            )
        return missed


def _watch(group: SentinelGroup, run: Failover, marker: list[int], stop: threading.Event) -> None:
    """Time the promotion, then the first marker written after it seen on the new primary."""
    replica = next(n for n in group.nodes if n.port != run.old_port)
    deadline = time.monotonic() + LIMIT
    while group.role(replica) != "master":
        if stop.is_set() or time.monotonic() > deadline:
            return
        time.sleep(POLL)
    run.promoted = time.perf_counter_ns()
    run.new_port = replica.port
    floor = marker[0]  # markers up to this one may have been written to the old primary
    namespace = run.book_namespace  # type: ignore[attr-defined]
    with Cache(group.node_url(replica.port), namespace=namespace, stats=False) as plain:
        while time.monotonic() < deadline and not stop.is_set():
            found = plain.get("marker", MISS)
            if found is not MISS and found > floor:
                run.arrived = time.perf_counter_ns()
                return
            time.sleep(POLL)


def _flush(script: str, group: SentinelGroup, namespace: str, run: Failover) -> None:
    assert run.flush is not None
    begun = time.perf_counter()
    try:
        done = subprocess.run(
            # --allow-empty: mid-failover the node answering may be a replica still loading
            # its copy (no keys yet); survivors are what this run checks, not the census.
            [script, "--url", group.url, "--namespace", namespace]
            + ["flush", "--all", "--yes", "--allow-empty"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        run.flush.status, run.flush.output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        run.flush.output = "timed out"
    run.flush.seconds = time.perf_counter() - begun


def _survivors(group: SentinelGroup, namespace: str, run: Failover) -> None:
    """Keys on the new primary still holding a version completed before the flush began."""
    assert run.flush is not None
    port = group.primary_port()
    with Cache(group.node_url(port), namespace=namespace, stats=False) as plain:
        for k, floor in enumerate(run.flush.done):
            found = plain.get(key_name(k), MISS)
            if found is not MISS and isinstance(found, list) and found[1] <= floor:
                run.flush.survivors.append(f"{key_name(k)} version {found[1]} <= {floor}")


def _script() -> str:
    return str(Path(sys.executable).with_name("cachectl"))


def _start_failover(
    group: SentinelGroup, run: Failover, marker: list[int], stop: threading.Event, flush: bool
) -> list[threading.Thread]:
    run.old_port = group.primary_port()
    threads = [threading.Thread(target=_watch, args=(group, run, marker, stop))]
    run.kill = time.perf_counter_ns()
    group.kill(group.node(run.old_port))
    if flush:
        time.sleep(0.1)
        run.flush = FlushRun(done=list(run.book.done))
        threads.append(
            threading.Thread(
                target=_flush,
                args=(_script(), group, run.book_namespace, run),  # type: ignore[attr-defined]
            )
        )
    for t in threads:
        t.start()
    return threads


def run_sync(
    group: SentinelGroup, steady: float, flush: bool, namespace: str, **options: Any
) -> Failover:
    book = Book()
    run = Failover("Cache, 8 threads", [Worker(i, THREADS, seed=i) for i in range(THREADS)], book)
    run.book_namespace = namespace  # type: ignore[attr-defined]
    stop, watching = threading.Event(), threading.Event()
    marker = [0]

    def write_markers(cache: Cache) -> None:
        while not stop.is_set():
            try:
                cache.set("marker", marker[0] + 1)
                marker[0] += 1
            except Exception as exc:
                run.errors.append(f"marker: {type(exc).__name__}: {exc}")
            time.sleep(MARKER_EVERY)

    with Cache(group.url, namespace=namespace, **options) as cache:
        threads = [
            threading.Thread(target=sync_worker, args=(cache, book, w, stop, 0.0))
            for w in run.workers
        ]
        threads.append(threading.Thread(target=write_markers, args=(cache,)))
        for t in threads:
            t.start()
        helpers: list[threading.Thread] = []
        try:
            time.sleep(steady)
            helpers = _start_failover(group, run, marker, watching, flush)
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline:
                if (
                    run.closed is None
                    and run.promoted
                    and cache.breaker_state is BreakerState.CLOSED
                ):
                    run.closed = time.perf_counter_ns()
                if (
                    run.closed is not None
                    and run.arrived is not None
                    and not helpers[-1].is_alive()
                ):
                    break
                time.sleep(POLL)
            time.sleep(steady)
        finally:
            stop.set()
            watching.set()
            for t in threads + helpers:
                t.join()
    if run.flush is not None:
        _survivors(group, namespace, run)
    return run


async def run_async(
    group: SentinelGroup, steady: float, flush: bool, namespace: str, **options: Any
) -> Failover:
    book = Book()
    run = Failover(
        "AsyncCache, 20 tasks", [Worker(i, TASKS, seed=100 + i) for i in range(TASKS)], book
    )
    run.book_namespace = namespace  # type: ignore[attr-defined]
    stop, watching = asyncio.Event(), threading.Event()
    marker = [0]

    async def write_markers(cache: AsyncCache) -> None:
        while not stop.is_set():
            try:
                await cache.set("marker", marker[0] + 1)
                marker[0] += 1
            except Exception as exc:
                run.errors.append(f"marker: {type(exc).__name__}: {exc}")
            await asyncio.sleep(MARKER_EVERY)

    async with AsyncCache(group.url, namespace=namespace, **options) as cache:
        tasks = [asyncio.create_task(async_worker(cache, book, w, stop)) for w in run.workers]
        tasks.append(asyncio.create_task(write_markers(cache)))
        helpers: list[threading.Thread] = []
        try:
            await asyncio.sleep(steady)
            helpers = await asyncio.to_thread(_start_failover, group, run, marker, watching, flush)
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline:
                if (
                    run.closed is None
                    and run.promoted
                    and cache.breaker_state is BreakerState.CLOSED
                ):
                    run.closed = time.perf_counter_ns()
                if (
                    run.closed is not None
                    and run.arrived is not None
                    and not helpers[-1].is_alive()
                ):
                    break
                await asyncio.sleep(POLL)
            await asyncio.sleep(steady)
        finally:
            stop.set()
            watching.set()
            await asyncio.gather(*tasks)
            for t in helpers:
                await asyncio.to_thread(t.join)
    if run.flush is not None:
        await asyncio.to_thread(_survivors, group, namespace, run)
    return run


def run(face: str, *, steady: float = 1.5, flush: bool = False, **group: Any) -> Failover:
    """One face's failover on a group of its own."""
    namespace = f"failover-{face}"
    with SentinelGroup(**group) as servers:
        if face == "sync":
            return run_sync(servers, steady, flush, namespace)
        return asyncio.run(run_async(servers, steady, flush, namespace))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sync", "async"), help="run one face only")
    parser.add_argument("--flush", action="store_true", help="run cachectl flush during it")
    parser.add_argument("--steady", type=float, default=1.5, help="seconds of load around it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    faces = [f for f in ("sync", "async") if args.only in (None, f)]
    runs = [run(face, steady=args.steady, flush=args.flush) for face in faces]
    summaries = [r.summary() for r in runs]
    missed = [m for r in runs for m in r.missed()]
    if args.json:
        print(json.dumps({"runs": summaries, "missed": missed}, indent=2))
    else:
        for s in summaries:
            print(f"\n{s['face']}: {s['calls']:,} calls, {s['exceptions']} exceptions")
            print(
                f"  failover: {s['failover_calls']:,} calls, p99 {s['failover_p99_ms']} ms, "
                f"max {s['failover_max_ms']} ms"
            )
            print(
                f"  promotion {s['promotion_s']} s after the kill; writes on the new primary "
                f"{s['writes_on_new_primary_s']} s after it; breaker closed "
                f"{s['breaker_closed_s']} s after the kill"
            )
            print(
                f"  stale reads {s['stale_reads']} of {s['reads']:,}, phantom {s['phantom_reads']}"
            )
            for text in s["exception_examples"] + s["stale_examples"]:
                print(f"    {text}")
            if "flush" in s:
                f = s["flush"]
                print(
                    f"  flush: exit {f['exit_status']} in {f['seconds']} s, "
                    f"{len(f['survivors'])} survivors"
                )
                if f["exit_status"] != 0:
                    print(f"    {f['output']}")
        print("targets missed:\n  " + "\n  ".join(missed) if missed else "targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
