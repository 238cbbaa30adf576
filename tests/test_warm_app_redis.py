"""`cachectl warm --app` with the application's own cache on a real redis-server.

It used to hang for good: warm read the published stats with a blocking call on its event loop,
which lined the app's stats publisher up with its shutdown, and on Python 3.11 redis-py's
asyncio.wait_for dropped the publisher's cancellation (CPython gh-86296), so the app's shutdown
awaited the publisher forever. The console script runs in a subprocess without a terminal; its
timeout is only a hang guard.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI_ENV_VARS, CliResult
from tests.servers import RedisServer

Run = Callable[..., CliResult]

HANG_GUARD = 180  # seconds; a run takes a few
DEMO_ENDPOINTS = (
    "GET /api/dashboard/summary\nGET /api/dashboard/revenue\n/api/landing-pages/summer-sale\n"
)

# The reference shop as a user's module would make it: an application object, built at import.
SHOP_OBJECT = """
from cachectl.demo.app import create_app

app = create_app()
"""


def _app_env(redis: RedisServer, work: Path) -> dict[str, str]:
    # The application's cache on Redis, as examples/app/README.md and the demo tell people.
    return {
        "CACHECTL_URL": redis.url,
        "DEMO_DB_PATH": str(work / "shop.sqlite3"),
        "CACHECTL_ADMIN_TOKEN": "test-token",
    }


@pytest.mark.parametrize("target", ["cachectl.demo.app:create_app", "shopobject:app"])
def test_warm_app_with_its_cache_on_redis_finishes_and_counts_the_hits(
    run_script: Run, own_redis: RedisServer, cli_isolated: Path, target: str
) -> None:
    (cli_isolated / "shopobject.py").write_text(SHOP_OBJECT, encoding="utf-8")
    (cli_isolated / "ep.txt").write_text(DEMO_ENDPOINTS, encoding="utf-8")

    result = run_script(
        *("--url", own_redis.url, "--namespace", "shop"),
        *("warm", "ep.txt", "--app", target, "--passes", "3", "--json"),
        env=_app_env(own_redis, cli_isolated),
        timeout=HANG_GUARD,
    )

    assert result.exit_code == 0, result
    summary = json.loads(result.stdout)["summary"]
    assert (summary["requests"], summary["measured_requests"]) == (9, 6)
    assert summary["status_counts"] == {"200": 9}
    # The app publishes while warm waits for the figures (its loop is not blocked): the
    # measured hits reach Redis. A blocked loop showed "hits +0".
    assert 0 < summary["stats_delta"]["hits"] <= 6
    # Each time says what it covers; the wait for stats is not in the request time.
    assert summary["settle_s"] > 0
    assert summary["requests_s"] >= summary["measured_s"] > 0
    assert summary["duration_s"] >= summary["requests_s"] + summary["settle_s"] - 0.01


def test_warm_app_table_names_request_time_and_settle_time(
    run_script: Run, own_redis: RedisServer, cli_isolated: Path
) -> None:
    (cli_isolated / "ep.txt").write_text(DEMO_ENDPOINTS, encoding="utf-8")

    result = run_script(
        *("--url", own_redis.url, "--namespace", "shop"),
        *("warm", "ep.txt", "--app", "cachectl.demo.app:create_app", "--concurrency", "1"),
        env=_app_env(own_redis, cli_isolated),
        timeout=HANG_GUARD,
    )

    assert result.exit_code == 0, result
    assert "3 endpoints x 2 passes = 6 requests, sent in " in result.stdout
    assert "requests/s (3 requests in " in result.stdout
    assert "published cache stats moved during the measured passes: hits +" in result.stdout
    assert "for the published stats to settle" in result.stdout


# An app whose cache is on Redis (so its stats publisher runs) and whose /slow/N never answers
# in time: the test interrupts warm while requests are in flight.
SLOW_APP = """
import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from cachectl import AsyncCache

cache = AsyncCache(os.environ["CACHECTL_URL"], namespace="slow", stats_interval=0.2)
MARK = Path(__file__).with_name("requested")


@asynccontextmanager
async def lifespan(app):
    yield
    await cache.aclose()


app = FastAPI(lifespan=lifespan)


@app.get("/fast/{n}")
async def fast(n: int):
    await cache.get(f"fast:{n}")
    return {"n": n}


@app.get("/slow/{n}")
async def slow(n: int):
    await cache.get(f"slow:{n}")
    MARK.touch()
    await asyncio.sleep(60)
    return {"n": n}
"""


def test_ctrl_c_during_warm_app_prints_the_partial_summary(
    own_redis: RedisServer, cli_isolated: Path, cachectl_script: str
) -> None:
    (cli_isolated / "slowapp.py").write_text(SLOW_APP, encoding="utf-8")
    (cli_isolated / "ep.txt").write_text("/fast/{1..5}\n/slow/{1..5}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    env.update(_app_env(own_redis, cli_isolated))
    argv = [cachectl_script, "--url", own_redis.url, "--namespace", "slow"]
    argv += ["warm", "ep.txt", "--app", "slowapp:app", "--timeout", "120", "--retries", "0"]
    warm = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cli_isolated,
        env=env,
    )
    try:
        mark = cli_isolated / "requested"
        for _ in range(HANG_GUARD * 10):  # until a slow request is in the application
            if mark.exists() or warm.poll() is not None:
                break
            time.sleep(0.1)
        assert mark.exists(), warm.communicate(timeout=HANG_GUARD)
        warm.send_signal(signal.SIGINT)
        out, err = warm.communicate(timeout=HANG_GUARD)
    finally:
        if warm.poll() is None:
            warm.kill()
            warm.wait()

    assert warm.returncode == 130, (out, err)
    assert "INTERRUPTED after " in out
    assert err.strip().splitlines()[-1] == "cachectl: interrupted"
    assert "Traceback" not in err
