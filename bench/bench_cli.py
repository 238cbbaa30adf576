"""Command-line tool benchmark: flush, tag flush, startup and latency, each against a baseline.

    python bench/bench_cli.py [--keys 1000000] [--rounds 3] [--only flush ...]

Starts its own redis-server on a free port (DEBUG POPULATE enabled, persistence off) and
stops it at the end. Every figure comes from this run; targets are from issue 4:

  flush --prefix (1M keys, a third matching)  >= 5x faster than redis-cli --scan | xargs unlink,
                                              <= 1.25x a server-side Lua SCAN+UNLINK loop,
                                              flat memory (peak RSS at 1M vs 100k keys)
  flush --tag of 10k keys                     the same time among 10k or 1M other keys
  cachectl --version / --help                 < 100 ms / < 200 ms, next to python -c pass
  latency PING p50                            <= 1.5x redis-benchmark -c 1 -t ping_inline p50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from _server import RedisServer

from cachectl import Cache

NAMESPACE = "bench"
SCRIPT = Path(sys.executable).with_name("cachectl")
LUA_FLOOR = """
local cursor, removed = '0', 0
repeat
  local reply = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', tonumber(ARGV[2]))
  cursor = reply[1]
  local keys = reply[2]
  for i = 1, #keys, 4000 do
    removed = removed + redis.call('UNLINK', unpack(keys, i, math.min(i + 3999, #keys)))
  end
until cursor == '0'
return removed
"""


def populate(client: redis.Redis, keys: int, matching_share: float = 1 / 3) -> int:
    """FLUSHALL, then keys keys of which a share under bench:victim:; returns how many match."""
    client.flushall()
    victims = round(keys * matching_share)
    client.execute_command("DEBUG", "POPULATE", victims, f"{NAMESPACE}:victim", 16)
    client.execute_command("DEBUG", "POPULATE", keys - victims, f"{NAMESPACE}:keep", 16)
    return victims


def entries(client: redis.Redis) -> int:
    """Keys in the database but the namespace's audit log, which every flush writes."""
    return int(client.dbsize()) - int(client.exists(f"{NAMESPACE}#audit"))


def timed(
    command: list[str] | str, shell: bool = False
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, shell=shell, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done


def flush_cachectl(url: str, *extra: str) -> tuple[float, float, int, int]:
    """Wall seconds of the installed script, deletion seconds (as reported), keys removed, and
    the process's peak RSS in KiB (from wait4, so the process is the script and nothing else)."""
    args = ["--url", url, "--namespace", NAMESPACE, "flush", "--prefix", "victim", "--yes"]
    with tempfile.TemporaryFile() as errors:  # a file, so a chatty stderr cannot block it
        start = time.perf_counter()
        child = subprocess.Popen(
            [str(SCRIPT), *args, *extra, "--json"], stdout=subprocess.PIPE, stderr=errors
        )
        out = child.stdout.read() if child.stdout else b""
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"cachectl flush failed: {errors.read().decode()}")
    report = json.loads(out)
    return wall, report["seconds"], report["removed"], usage.ru_maxrss


def flush_redis_cli(port: int) -> float:
    pattern = f"{NAMESPACE}:victim:*"
    command = (
        f"redis-cli -p {port} --scan --pattern '{pattern}' "
        f"| xargs redis-cli -p {port} unlink > /dev/null"
    )
    return timed(command, shell=True)[0]


def flush_lua(client: redis.Redis) -> tuple[float, int]:
    start = time.perf_counter()
    removed = client.eval(LUA_FLOOR, 0, f"{NAMESPACE}:victim:*", 10_000)
    return time.perf_counter() - start, int(removed)


def flush_section(server: RedisServer, keys: int, rounds: int) -> None:
    print(f"\nflush --prefix on {keys:,} keys, a third matching (best of {rounds})")
    with server.client(socket_timeout=600) as client:
        results: dict[str, list[float]] = {"cachectl": [], "redis-cli": [], "lua": [], "count": []}
        deletion: list[float] = []
        rss_big: list[int] = []
        for _ in range(rounds):
            expected = populate(client, keys)
            wall, seconds, removed, rss = flush_cachectl(server.url)
            assert removed == expected and entries(client) == keys - expected
            results["cachectl"].append(wall)
            deletion.append(seconds)
            rss_big.append(rss)

            populate(client, keys)
            wall, _, removed, _ = flush_cachectl(server.url, "--max-keys", str(keys))
            assert removed == expected
            results["count"].append(wall)

            populate(client, keys)
            results["lua"].append(flush_lua(client)[0])
            assert entries(client) == keys - expected

            populate(client, keys)
            results["redis-cli"].append(flush_redis_cli(server.port))
            assert entries(client) == keys - expected
        small = keys // 10
        rss_small = []
        for _ in range(rounds):
            populate(client, small)
            rss_small.append(flush_cachectl(server.url)[3])
    best = {name: min(values) for name, values in results.items()}
    floor = best["lua"]
    print(f"  {'server-side Lua SCAN+UNLINK (the floor)':<52} {floor:7.3f} s")
    print(
        f"  {'cachectl flush --yes (process, start to exit)':<52} {best['cachectl']:7.3f} s"
        f"  {best['cachectl'] / floor:5.2f}x floor  (target <= 1.25x)"
    )
    print(
        f"  {'  of which deleting (reported by --json)':<52} {min(deletion):7.3f} s"
        f"  {min(deletion) / floor:5.2f}x floor"
    )
    print(
        f"  {'cachectl flush --max-keys (counts first)':<52} {best['count']:7.3f} s"
        f"  {best['count'] / floor:5.2f}x floor"
    )
    print(
        f"  {'redis-cli --scan | xargs redis-cli unlink':<52} {best['redis-cli']:7.3f} s"
        f"  cachectl is {best['redis-cli'] / best['cachectl']:5.1f}x faster  (target >= 5x)"
    )
    print(
        f"  peak RSS of the cachectl process: {min(rss_big) / 1024:.1f} MiB at {keys:,} keys, "
        f"{min(rss_small) / 1024:.1f} MiB at {small:,} keys "
        f"({min(rss_big) / min(rss_small):.2f}x for 10x the keys: flat)"
    )


def tag_section(server: RedisServer, rounds: int) -> None:
    print(f"\nflush --tag of 10,000 tagged keys (best of {rounds})")
    figures = {}
    with server.client(socket_timeout=600) as client:
        for others in (10_000, 1_000_000):
            seconds = []
            for _ in range(rounds):
                client.flushall()
                client.execute_command("DEBUG", "POPULATE", others, f"{NAMESPACE}:other", 16)
                with Cache(server.url, namespace=NAMESPACE, stats=False) as cache:
                    for start in range(0, 10_000, 1_000):
                        batch = {f"tagged:{i}": i for i in range(start, start + 1_000)}
                        cache.set_many(batch, tags=["campaign"])
                args = ["--url", server.url, "--namespace", NAMESPACE, "flush"]
                _, done = timed([str(SCRIPT), *args, "--tag", "campaign", "--yes", "--json"])
                report = json.loads(done.stdout)
                assert report["removed"] == 10_000 and entries(client) == others
                seconds.append(report["seconds"])
            figures[others] = min(seconds)
            print(f"  among {others:>9,} other keys: {figures[others] * 1000:7.1f} ms")
    print(f"  ratio 1M / 10k: {figures[1_000_000] / figures[10_000]:.2f} (target about 1)")


def median_run(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_section(runs: int) -> None:
    print(f"\nStartup, median of {runs} runs of the installed script ({SCRIPT})")
    base = median_run([sys.executable, "-c", "pass"], runs)
    version = median_run([str(SCRIPT), "--version"], runs)
    help_ = median_run([str(SCRIPT), "--help"], runs)
    sub_help = median_run([str(SCRIPT), "flush", "--help"], runs)
    print(f"  {'python -c pass':<28} {base * 1000:6.1f} ms")
    print(f"  {'cachectl --version':<28} {version * 1000:6.1f} ms  (target < 100 ms)")
    print(f"  {'cachectl --help':<28} {help_ * 1000:6.1f} ms  (target < 200 ms)")
    print(f"  {'cachectl flush --help':<28} {sub_help * 1000:6.1f} ms")


def latency_section(server: RedisServer, rounds: int) -> None:
    print(f"\nPING p50: cachectl latency vs redis-benchmark -c 1 (best of {rounds})")
    bench = shutil.which("redis-benchmark")
    if bench is None:
        print("  redis-benchmark not found: skipped")
        return
    theirs, ours, ours_default = [], [], []
    for _ in range(rounds):
        _, done = timed(
            [bench, "-p", str(server.port), "-c", "1", "-n", "50000", "-t", "ping_inline", "--csv"]
        )
        header, values = (line.replace('"', "").split(",") for line in done.stdout.splitlines()[:2])
        theirs.append(float(dict(zip(header, values, strict=True))["p50_latency_ms"]))
        for interval, into in (("0", ours), ("5", ours_default)):
            samples = "20000" if interval == "0" else "400"
            args = ["--url", server.url, "latency", "--samples", samples, "--interval", interval]
            _, done = timed([str(SCRIPT), *args, "--json"])
            ping = next(p for p in json.loads(done.stdout)["probes"] if p["probe"] == "PING")
            into.append(ping["p50_us"] / 1000)
    print(f"  {'redis-benchmark ping_inline p50':<44} {min(theirs) * 1000:6.1f} µs")
    print(
        f"  {'cachectl latency --interval 0, PING p50':<44} {min(ours) * 1000:6.1f} µs"
        f"  {min(ours) / min(theirs):4.2f}x  (target <= 1.5x)"
    )
    print(
        f"  {'cachectl latency (default 5 ms interval)':<44} {min(ours_default) * 1000:6.1f} µs"
        f"  {min(ours_default) / min(theirs):4.2f}x  (idle gaps let the CPUs sleep)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=("startup", "latency", "flush", "tag"),
        action="append",
        help="run only these sections (repeatable); default: all",
    )
    options = parser.parse_args()
    chosen = set(options.only or ("startup", "latency", "flush", "tag"))
    if not SCRIPT.exists():
        sys.exit(f"{SCRIPT} not found: pip install -e .")
    server = RedisServer(["--enable-debug-command", "yes"])
    with server:
        print(f"redis-server {server.url} (ours, stopped at the end); cachectl {SCRIPT}")
        if "startup" in chosen:
            startup_section(runs=21)
        if "latency" in chosen:
            latency_section(server, options.rounds)
        if "flush" in chosen:
            flush_section(server, options.keys, options.rounds)
        if "tag" in chosen:
            tag_section(server, options.rounds)


if __name__ == "__main__":
    main()
