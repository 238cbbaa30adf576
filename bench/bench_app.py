"""Reference application benchmark: cold vs warm latency per endpoint, and warm throughput.

    python bench/bench_app.py [--samples 200] [--cold 7]

Starts a redis-server (ours) and the reference application under uvicorn on free ports, with
the default database (5k users, 2k products, 200k orders over a year). Requests go one at a
time for the latency figures. For throughput, `cachectl warm` (the real console script) and a
plain httpx loop with the same concurrency request the same 1,000 URLs in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from cachectl import Cache
from cachectl.demo.environment import demo_environment

ENDPOINTS = {
    "/api/dashboard/summary": "dashboard:summary",
    "/api/dashboard/revenue": "dashboard:revenue",
    "/api/landing-pages/summer-sale": "landing:summer-sale",
    "/api/v1/inventory/products?page=3": "products:page:3",
    "/api/admin/users?page=7": "users:page:7",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * q / 100) - 1))]


def latency_table(app_url: str, cache: Cache, samples: int, cold: int) -> None:
    print(f"\nPer endpoint, one request at a time ({cold} cold and {samples} warm samples)")
    print(
        f"  {'endpoint':<36} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9}"
        f" {'speedup':>8}"
    )
    with httpx.Client(base_url=app_url) as client:
        for path, key in ENDPOINTS.items():
            colds, warms = [], []
            for _ in range(cold):
                cache.delete(key)
                start = time.perf_counter()
                response = client.get(path)
                colds.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            for _ in range(samples):
                start = time.perf_counter()
                response = client.get(path)
                warms.append((time.perf_counter() - start) * 1000)
                assert response.headers.get("x-cache") == "HIT", path
            c50, w50 = statistics.median(colds), statistics.median(warms)
            print(
                f"  {path:<36} {c50:8.2f}ms {pct(colds, 95):8.2f}ms {w50:8.2f}ms "
                f"{pct(warms, 95):8.2f}ms {c50 / w50:7.1f}x"
            )
    print("  targets: every warm p95 < 10 ms; cold dashboards >= 10x slower than warm")


async def _worker(client: httpx.AsyncClient, queue: asyncio.Queue[str]) -> None:
    while not queue.empty():
        (await client.get(queue.get_nowait())).raise_for_status()


async def httpx_loop(urls: list[str], concurrency: int, passes: int) -> float:
    """Requests per second of a plain httpx worker pool over the same URLs."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        total, elapsed = 0, 0.0
        for _ in range(passes):
            queue: asyncio.Queue[str] = asyncio.Queue()
            for url in urls:
                queue.put_nowait(url)

            start = time.perf_counter()
            await asyncio.gather(*(_worker(client, queue) for _ in range(concurrency)))
            elapsed += time.perf_counter() - start
            total += len(urls)
        return total / elapsed


def throughput(app_url: str, concurrency: int) -> None:
    lines = ["/api/v1/inventory/products?page={1..40}&v={1..25}"]
    urls = [
        f"{app_url}/api/v1/inventory/products?page={p}&v={v}"
        for p in range(1, 41)
        for v in range(1, 26)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = Path(tmp) / "endpoints.txt"
        endpoints.write_text("\n".join(lines) + "\n")
        runs = []
        for _ in range(2):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cachectl",
                    "warm",
                    str(endpoints),
                    "--base-url",
                    app_url,
                    "--concurrency",
                    str(concurrency),
                    "--passes",
                    "3",
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                raise SystemExit("cachectl warm failed")
            report = json.loads(proc.stdout)
            runs.append(report["summary"]["requests_per_s"])
            baseline = asyncio.run(httpx_loop(urls, concurrency, 2))
            runs.append(baseline)
    warm_rps = max(runs[0::2])
    loop_rps = max(runs[1::2])
    print(
        f"\nThroughput on 1,000 cached endpoints at concurrency {concurrency} (one uvicorn worker)"
    )
    print(f"  plain httpx loop        {loop_rps:8.0f} req/s")
    print(
        f"  cachectl warm (passes)  {warm_rps:8.0f} req/s   {warm_rps / loop_rps:.2f}x of the loop"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--cold", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with demo_environment() as env:
        print(f"reference app {env.app_url}, {env.redis_kind} {env.redis_url}")
        with Cache.from_url(env.redis_url, namespace=env.namespace, socket_timeout=1.0) as cache:
            latency_table(env.app_url, cache, args.samples, args.cold)
        throughput(env.app_url, args.concurrency)


if __name__ == "__main__":
    main()
