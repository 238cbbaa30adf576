"""Soak benchmark: the breaker under load, through a hung Redis and a killed one (issue 9).

    python bench/soak.py [--pause 3] [--down 2] [--think 0] [--only sync|async]

Starts its own redis-server on a free port and runs, one after the other, 8 threads on one
`Cache` and 20 tasks on one `AsyncCache`. Each worker mixes reads and writes 4:1 over 200 keys
(one write in ten is a delete), as fast as they can (--think adds a pause between a thread's
calls), with the library's default settings (socket_timeout 0.05 s,
failure_threshold 3, recovery_interval 1 s). Each face lives through two faults: the server
paused with SIGSTOP then resumed with SIGCONT, and the server killed with SIGKILL then restarted
on the same port (empty).

Printed for each face and fault:
  calls        cache calls made by the workers, and how many raised (an exception reaching
               the caller is a defect: an outage must be served by the fallback)
  outage p99   the 99th percentile (and the maximum) of the calls that began while the fault
               lasted (from SIGSTOP to SIGCONT, from SIGKILL to the restarted server answering)
  recovery     seconds from the end of the fault until a write through the cache is in Redis:
               a marker key is written through the cache every 10 ms until a raw redis-py
               EXISTS sees it; and until the breaker reports closed
  stale reads  reads that returned a value older than one whose write or delete had completed
               before the read began. Each key is written by one worker only, so its writes
               are ordered; every write carries (key, version), versions counting writes and
               deletes of that key; a read that begins after version n completed and returns a
               version below n is stale (a miss never is). A value of another key, or of a
               version not yet begun, is counted apart as a phantom.

Targets (issue 9), sync and async: 0 exceptions, outage p99 <= 5 ms, recovery <= 2 s,
0 stale reads. Exit status 1 when one is missed. Bounded: about 30 s in all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from _server import RedisServer

from cachectl import MISS, AsyncCache, BreakerState, Cache

KEYS = 200
WRITE_SHARE = 0.2  # 4 reads : 1 write
DELETE_SHARE = 0.1  # of the writes
THREADS = 8
TASKS = 20
RECOVERY_LIMIT = 10.0  # seconds: past this a recovery counts as failed
MARKER_EVERY = 0.01

TARGET_P99_MS = 5.0
TARGET_RECOVERY_S = 2.0


@dataclass
class Book:
    """What each key's writes were, for the stale-read check (see the module docstring)."""

    started: list[int] = field(default_factory=lambda: [0] * KEYS)
    done: list[int] = field(default_factory=lambda: [0] * KEYS)
    reads: int = 0
    stale: int = 0
    phantom: int = 0
    examples: list[str] = field(default_factory=list)

    def check(self, k: int, floor: int, found: Any) -> None:
        """A read of key k that began when version `floor` was complete returned `found`."""
        self.reads += 1
        if found is MISS:
            return
        if not (isinstance(found, list) and len(found) == 2 and found[0] == k):
            self.phantom += 1
            self._example(f"key {k}: read {found!r}")
        elif found[1] > self.started[k]:
            self.phantom += 1
            self._example(f"key {k}: version {found[1]} read, {self.started[k]} begun")
        elif found[1] < floor:
            self.stale += 1
            self._example(f"key {k}: version {found[1]} read after {floor} completed")

    def _example(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


@dataclass
class Worker:
    """One thread's or task's keys, random stream and records."""

    index: int
    count: int
    seed: int
    samples: list[tuple[int, int]] = field(default_factory=list)  # (start ns, duration ns)
    errors: list[str] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.own = [k for k in range(KEYS) if k % self.count == self.index]

    def next_op(self) -> tuple[str, int]:
        """('get' | 'set' | 'delete', key number)."""
        rng = self.rng
        if rng.random() < WRITE_SHARE:
            k = rng.choice(self.own)
            return ("delete" if rng.random() < DELETE_SHARE else "set"), k
        return "get", rng.randrange(KEYS)

    def record(self, start: int, end: int, exc: BaseException | None) -> None:
        self.calls += 1
        self.samples.append((start, end - start))
        if exc is not None:
            self.errors.append(f"{type(exc).__name__}: {exc}")


@dataclass
class Fault:
    """One fault's window and what recovery took."""

    name: str
    start: int = 0  # perf_counter_ns
    end: int = 0
    visible: float | None = None  # seconds until a marker write is in Redis
    closed: float | None = None  # seconds until the breaker reports closed


def key_name(k: int) -> str:
    return f"k:{k}"


# -- the synchronous face ---------------------------------------------------------------------


def sync_worker(cache: Cache, book: Book, me: Worker, stop: threading.Event, think: float) -> None:
    clock = time.perf_counter_ns
    while not stop.is_set():
        op, k = me.next_op()
        key = key_name(k)
        exc: BaseException | None = None
        if op == "get":
            floor = book.done[k]
            start = clock()
            try:
                found = cache.get(key, MISS)
            except Exception as e:  # what the benchmark counts
                exc, found = e, MISS
            end = clock()
            book.check(k, floor, found)
        else:
            book.started[k] += 1
            version = book.started[k]
            start = clock()
            try:
                if op == "set":
                    cache.set(key, [k, version])
                else:
                    cache.delete(key)
            except Exception as e:
                exc = e
            end = clock()
            book.done[k] = version
        me.record(start, end, exc)
        if think:
            time.sleep(think)


def sync_recovery(cache: Cache, raw: redis.Redis, fault: Fault, errors: list[str]) -> None:
    """Write a marker through the cache until Redis has it and the breaker is closed."""
    key = f"marker:{fault.name}"
    full = cache.keys.full(key)
    t0 = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t0
        if elapsed > RECOVERY_LIMIT:
            return
        try:
            cache.set(key, fault.name)
        except Exception as exc:
            errors.append(f"marker: {type(exc).__name__}: {exc}")
        if fault.visible is None:
            try:
                if raw.exists(full):
                    fault.visible = time.perf_counter() - t0
            except redis.RedisError:
                pass
        if fault.closed is None and cache.breaker_state is BreakerState.CLOSED:
            fault.closed = time.perf_counter() - t0
        if fault.visible is not None and fault.closed is not None:
            return
        time.sleep(MARKER_EVERY)


def run_sync(server: RedisServer, args: argparse.Namespace) -> Report:
    book = Book()
    workers = [Worker(i, THREADS, seed=i) for i in range(THREADS)]
    stop = threading.Event()
    faults = [Fault("pause"), Fault("kill")]
    marker_errors: list[str] = []
    with Cache(server.url, namespace="soak-sync") as cache, server.client() as raw:
        threads = [
            threading.Thread(target=sync_worker, args=(cache, book, w, stop, args.think))
            for w in workers
        ]
        started = time.perf_counter_ns()
        for t in threads:
            t.start()
        try:
            time.sleep(args.steady)
            for fault in faults:
                fault.start = time.perf_counter_ns()
                if fault.name == "pause":
                    server.pause()
                    time.sleep(args.pause)
                    server.resume()
                else:
                    os.kill(server.pid, signal.SIGKILL)
                    time.sleep(args.down)
                    server.restart()
                fault.end = time.perf_counter_ns()
                sync_recovery(cache, raw, fault, marker_errors)
                time.sleep(args.steady)
        finally:
            stop.set()
            for t in threads:
                t.join()
        ended = time.perf_counter_ns()
    return Report("Cache, 8 threads", workers, book, faults, marker_errors, ended - started)


# -- the asyncio face -------------------------------------------------------------------------


async def async_worker(cache: AsyncCache, book: Book, me: Worker, stop: asyncio.Event) -> None:
    clock = time.perf_counter_ns
    while not stop.is_set():
        op, k = me.next_op()
        key = key_name(k)
        exc: BaseException | None = None
        if op == "get":
            floor = book.done[k]
            start = clock()
            try:
                found = await cache.get(key, MISS)
            except Exception as e:
                exc, found = e, MISS
            end = clock()
            book.check(k, floor, found)
        else:
            book.started[k] += 1
            version = book.started[k]
            start = clock()
            try:
                if op == "set":
                    await cache.set(key, [k, version])
                else:
                    await cache.delete(key)
            except Exception as e:
                exc = e
            end = clock()
            book.done[k] = version
        me.record(start, end, exc)
        # An application yields between calls; calls served by the fallback never suspend.
        await asyncio.sleep(0)


async def async_recovery(
    cache: AsyncCache, raw: redis.Redis, fault: Fault, errors: list[str]
) -> None:
    key = f"marker:{fault.name}"
    full = cache.keys.full(key)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 <= RECOVERY_LIMIT:
        try:
            await cache.set(key, fault.name)
        except Exception as exc:
            errors.append(f"marker: {type(exc).__name__}: {exc}")
        if fault.visible is None:
            try:
                if await asyncio.to_thread(raw.exists, full):
                    fault.visible = time.perf_counter() - t0
            except redis.RedisError:
                pass
        if fault.closed is None and cache.breaker_state is BreakerState.CLOSED:
            fault.closed = time.perf_counter() - t0
        if fault.visible is not None and fault.closed is not None:
            return
        await asyncio.sleep(MARKER_EVERY)


async def run_async(server: RedisServer, args: argparse.Namespace) -> Report:
    book = Book()
    workers = [Worker(i, TASKS, seed=100 + i) for i in range(TASKS)]
    stop = asyncio.Event()
    faults = [Fault("pause"), Fault("kill")]
    marker_errors: list[str] = []
    async with AsyncCache(server.url, namespace="soak-async") as cache:
        with server.client() as raw:
            started = time.perf_counter_ns()
            tasks = [asyncio.create_task(async_worker(cache, book, w, stop)) for w in workers]
            try:
                await asyncio.sleep(args.steady)
                for fault in faults:
                    fault.start = time.perf_counter_ns()
                    if fault.name == "pause":
                        server.pause()
                        await asyncio.sleep(args.pause)
                        server.resume()
                    else:
                        os.kill(server.pid, signal.SIGKILL)
                        await asyncio.sleep(args.down)
                        await asyncio.to_thread(server.restart)
                    fault.end = time.perf_counter_ns()
                    await async_recovery(cache, raw, fault, marker_errors)
                    await asyncio.sleep(args.steady)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            ended = time.perf_counter_ns()
    return Report("AsyncCache, 20 tasks", workers, book, faults, marker_errors, ended - started)


# -- the report -------------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class Report:
    face: str
    workers: list[Worker]
    book: Book
    faults: list[Fault]
    marker_errors: list[str]
    elapsed_ns: int

    def outage(self, fault: Fault) -> list[int]:
        """Durations (ns) of the calls that began during the fault, sorted."""
        return sorted(d for w in self.workers for s, d in w.samples if fault.start <= s < fault.end)

    def print(self) -> list[str]:
        """Print the figures; return the missed targets."""
        missed: list[str] = []
        calls = sum(w.calls for w in self.workers)
        errors = [e for w in self.workers for e in w.errors] + self.marker_errors
        all_durations = sorted(d for w in self.workers for _, d in w.samples)
        print(f"\n{self.face}: {calls:,} calls in {self.elapsed_ns / 1e9:.1f} s")
        print(f"  exceptions reaching the caller   {len(errors)}")
        for text in errors[:3]:
            print(f"    {text}")
        if errors:
            missed.append(f"{self.face}: {len(errors)} exceptions")
        print(f"  p99 of all calls                 {percentile(all_durations, 0.99) / 1e6:.2f} ms")
        for fault in self.faults:
            durations = self.outage(fault)
            p99 = percentile(durations, 0.99) / 1e6
            top = (durations[-1] if durations else 0) / 1e6
            print(
                f"  {fault.name:<6} outage {(fault.end - fault.start) / 1e9:4.1f} s: "
                f"{len(durations):,} calls, p99 {p99:.2f} ms, max {top:.1f} ms"
            )
            visible = "never" if fault.visible is None else f"{fault.visible:.2f} s"
            closed = "never" if fault.closed is None else f"{fault.closed:.2f} s"
            print(f"         write through the cache visible in Redis after {visible}; ", end="")
            print(f"breaker closed after {closed}")
            if p99 > TARGET_P99_MS:
                missed.append(f"{self.face}: {fault.name} outage p99 {p99:.2f} ms")
            if fault.visible is None or fault.visible > TARGET_RECOVERY_S:
                missed.append(f"{self.face}: {fault.name} recovery {visible}")
        book = self.book
        print(f"  stale reads                      {book.stale} of {book.reads:,} reads")
        print(f"  phantom reads                    {book.phantom}")
        for text in book.examples:
            print(f"    {text}")
        if book.stale or book.phantom:
            missed.append(f"{self.face}: {book.stale} stale, {book.phantom} phantom reads")
        return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=3.0, help="seconds paused (SIGSTOP)")
    parser.add_argument("--down", type=float, default=2.0, help="seconds killed before restart")
    parser.add_argument("--steady", type=float, default=1.5, help="seconds of load between faults")
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds each thread sleeps between calls"
    )
    parser.add_argument("--only", choices=("sync", "async"), help="run one face only")
    args = parser.parse_args()
    begun = time.perf_counter()
    reports: list[Report] = []
    steps: list[Callable[[RedisServer], Report]] = []
    if args.only != "async":
        steps.append(lambda server: run_sync(server, args))
    if args.only != "sync":
        steps.append(lambda server: asyncio.run(run_async(server, args)))
    for step in steps:
        with RedisServer() as server:
            reports.append(step(server))
    print(
        f"soak: pause {args.pause} s, kill -9 for {args.down} s, think {args.think * 1e3:.2f} ms"
        f" between a thread's calls; library defaults (socket_timeout 0.05 s)"
    )
    missed = [m for report in reports for m in report.print()]
    print(f"\n{time.perf_counter() - begun:.1f} s in all")
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))
        return 1
    print("targets met: 0 exceptions, outage p99 <= 5 ms, recovery <= 2 s, 0 stale reads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
