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
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plugins.cli import CLI_ENV_VARS, CliResult
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
    assert "for the published stats to settle, before and after the measured" in result.stdout


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
    argv = [cachectl_script, "--url", own_redis.url, "--namespace", "slow"]
    argv += ["warm", "ep.txt", "--app", "slowapp:app", "--timeout", "120", "--retries", "0"]

    # Once a slow request is in the application.
    status, out, err = _interrupt_when(
        argv, cli_isolated, cli_isolated / "requested", _app_env(own_redis, cli_isolated)
    )

    assert status == 130, (out, err)
    assert "INTERRUPTED after " in out
    assert err.strip().splitlines()[-1] == "cachectl: interrupted"
    assert "Traceback" not in err


# An application whose shutdown never ends and ignores its cancellation: Ctrl-C still ends warm.
STUCK_APP = """
import asyncio
from pathlib import Path

MARK = Path(__file__).with_name("shutting-down")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                continue
            MARK.touch()
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-cache", b"HIT")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _interrupt_when(
    argv: list[str], work: Path, mark: Path, env: dict[str, str]
) -> tuple[int, str, str]:
    """Run argv; SIGINT once `mark` exists; its status, stdout and stderr."""
    full_env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    full_env.update(env)
    child = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
        env=full_env,
    )
    try:
        for _ in range(HANG_GUARD * 10):
            if mark.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert mark.exists(), child.communicate(timeout=HANG_GUARD)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=HANG_GUARD)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out, err


def test_ctrl_c_ends_warm_when_the_app_never_finishes_shutting_down(
    cli_isolated: Path, cachectl_script: str
) -> None:
    (cli_isolated / "stuckapp.py").write_text(STUCK_APP, encoding="utf-8")
    (cli_isolated / "ep.txt").write_text("/a\n/b\n", encoding="utf-8")

    status, out, err = _interrupt_when(
        [cachectl_script, "warm", "ep.txt", "--app", "stuckapp:app"],
        cli_isolated,
        cli_isolated / "shutting-down",
        {},
    )

    assert status == 130, (out, err)
    assert "2 endpoints x 2 passes = 4 requests, sent in " in out
    assert "INTERRUPTED after 4 of 4 requests" in out
    assert err.strip().splitlines() == ["cachectl: interrupted"]


# -- on a terminal: nothing is drawn before the inputs are checked ------------------------------

SLEEPY_APP = """
import asyncio


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.5)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-cache", b"HIT")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _on_a_terminal(script: str, work: Path, *args: str) -> tuple[int, str]:
    """Run the script with stdout and stderr on a pseudo-terminal: status and all it showed."""
    controller, terminal = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        env.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
        env.pop("NO_COLOR", None)
        child = subprocess.Popen(
            [script, *args],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            cwd=work,
            env=env,
        )
        os.close(terminal)
        shown = bytearray()
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 1.0)[0]:
                if child.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child is gone and its side closed
                break
            if not chunk:
                break
            shown += chunk
        status = child.wait(timeout=HANG_GUARD)
    finally:
        os.close(controller)
    return status, shown.decode("utf-8", "replace")


def test_a_missing_endpoint_file_on_a_terminal_draws_no_progress_bar(
    cli_isolated: Path, cachectl_script: str
) -> None:
    status, shown = _on_a_terminal(
        cachectl_script, cli_isolated, "warm", "missing.txt", "--base-url", "http://127.0.0.1:9"
    )

    assert status == 2, shown
    assert "requesting" not in shown
    assert "missing.txt" in shown and "cachectl: error:" in shown


def test_the_progress_bar_still_shows_on_a_terminal(
    cli_isolated: Path, cachectl_script: str
) -> None:
    (cli_isolated / "sleepy.py").write_text(SLEEPY_APP, encoding="utf-8")
    (cli_isolated / "ep.txt").write_text("/a\n/b\n", encoding="utf-8")

    status, shown = _on_a_terminal(
        cachectl_script,
        cli_isolated,
        "warm",
        "ep.txt",
        "--app",
        "sleepy:app",
        "--concurrency",
        "1",
    )

    assert status == 0, shown
    assert "requesting" in shown
    assert "4 requests, sent in" in shown
