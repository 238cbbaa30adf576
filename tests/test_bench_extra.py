"""The bench extra's libraries work as bench/ uses them, so that their bounds are tested too.

The benchmarks never run in CI (they time things); these round trips, run at the locked, the
lowest and the newest versions, are what keeps `pip install -e '.[bench]'` honest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Their close() calls redis-py's deprecated close(): their warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
VALUE = {"id": 42, "series": [{"day": d, "orders": 400 + d} for d in range(10)], "flag": True}


async def test_cashews_round_trip(redis_url: str) -> None:
    from cashews import Cache as Cashews

    cashews = Cashews()
    cashews.setup(redis_url)
    try:
        await cashews.set("cw:v", VALUE)
        assert await cashews.get("cw:v") == VALUE
    finally:
        await cashews.close()


async def test_aiocache_round_trip(redis_url: str) -> None:
    from aiocache import RedisCache
    from aiocache.serializers import MsgPackSerializer

    host, port = redis_url.split("//")[1].split("/")[0].split(":")
    serializer = MsgPackSerializer()
    serializer.encoding = None  # as bench/bench_core.py has it: the reply stays bytes
    aio = RedisCache(serializer=serializer, endpoint=host, port=int(port))
    try:
        await aio.set("ac:v", VALUE)
        got = await aio.get("ac:v")
        assert got[b"id"] == 42 and got[b"flag"] is True and len(got[b"series"]) == 10
    finally:
        await aio.close()


@pytest.mark.slow
def test_the_django_benchmark_runs_its_three_backends() -> None:
    # bench_django starts its own redis-server, configures Django with cachectl's backend,
    # Django's RedisCache and django-redis, and times each: one short round here.
    done = subprocess.run(
        [sys.executable, "bench/bench_django.py", "--seconds", "0.01", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("cachectl CachectlCache", "Django RedisCache", "django-redis"):
        assert name in done.stdout
