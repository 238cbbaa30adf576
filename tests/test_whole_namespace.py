"""A selection that covers the whole namespace is confirmed by typing the namespace's name, on
every face: `cachectl flush` on a terminal (a real pty), the JSON API and the legacy /flush
route. One rule decides what "the whole namespace" is (ops.selection); `--yes` is unchanged.
(The page is driven in Chromium in test_page_browser.py.)
"""

from __future__ import annotations

import os
import pty
import select as io_select
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI

from cachectl import Cache
from cachectl.contrib.fastapi import admin_router
from cachectl.keys import KeySpace
from cachectl.ops.selection import covers_every_name, select
from cachectl.testing import PATIENT
from tests.plugins.cli import CLI_ENV_VARS, CliResult

ADMIN = "whole-admin-token"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
KEYS = 12

# -- the rule, once ------------------------------------------------------------------------------

WHOLE = ["*", "**", "***", "?*", "*?", "*?*", "??*", "[^]*", "*[^]", "*[^]?*"]
NOT_WHOLE = [
    "user:*", "*:1", "a*", "*a", "?", "??", "[*]", "\\*", "\\**x", "[a-z]*", "*[^a]",
    "*\\*", "[^a]*",
]  # fmt: skip


@pytest.mark.parametrize("pattern", WHOLE)
def test_globs_that_select_by_length_only_cover_the_namespace(pattern: str) -> None:
    assert covers_every_name(pattern)
    assert select(KeySpace("shop"), pattern=pattern).whole


@pytest.mark.parametrize("pattern", NOT_WHOLE)
def test_globs_with_anything_literal_do_not(pattern: str) -> None:
    assert not covers_every_name(pattern)
    assert not select(KeySpace("shop"), pattern=pattern).whole


def test_all_covers_the_namespace_and_nothing_else_does() -> None:
    space = KeySpace("shop")
    assert select(space, everything=True).whole
    for chosen in (
        select(space, prefix="user"),
        select(space, tag="t"),
        select(space, keys=["*", "**"]),
    ):
        assert not chosen.whole


# -- the command line on a terminal ----------------------------------------------------------------


@dataclass
class PtyRun:
    status: int
    output: str


def run_on_pty(argv: list[str], cwd: Path, answer: str | None, timeout: float = 60) -> PtyRun:
    """Run argv with a pty as its terminal; answer the first question (None: end of input)."""
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    env.update({"COLUMNS": "200", "TERM": "dumb"})
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its stdin, stdout and stderr
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = io_select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            if not answered and (b"?" in out and (b"[y/N]" in out or b"confirm:" in out)):
                os.write(fd, b"\x04" if answer is None else answer.encode() + b"\r")
                answered = True
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"no end within {timeout}s: {out.decode(errors='replace')}")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return PtyRun(os.waitstatus_to_exitcode(status), out.decode(errors="replace"))


@pytest.fixture
def seeded(redis_url: str, namespace: str) -> Iterator[Cache]:
    with Cache(redis_url, namespace=namespace, **PATIENT) as cache:
        for i in range(KEYS):
            cache.set(f"user:{i}", i, ttl=600)
        yield cache


def entries(raw: redis.Redis, namespace: str) -> int:
    return len(set(raw.scan_iter(match=f"{namespace}:*")))


@pytest.mark.parametrize(
    "selection", [["--all"], ["--pattern", "*"], ["--pattern", "**"], ["--pattern", "?*"]]
)
@pytest.mark.parametrize("answer", ["y", "yes", "*", "", None, "other"])
def test_a_whole_namespace_is_not_deleted_without_its_name(
    seeded: Cache,
    cli_isolated: Path,
    cachectl_script: str,
    redis_url: str,
    raw_redis: redis.Redis,
    selection: list[str],
    answer: str | None,
) -> None:
    ns = seeded.namespace
    argv = [cachectl_script, "--url", redis_url, "--namespace", ns, "flush", *selection]
    done = run_on_pty(argv, cli_isolated, answer)
    assert done.status == 4, done.output
    assert f"type its name ({ns}) to confirm" in done.output
    assert "[y/N]" not in done.output
    assert "nothing was deleted" in done.output
    assert entries(raw_redis, ns) == KEYS


@pytest.mark.parametrize("selection", [["--all"], ["--pattern", "*"]])
def test_typing_the_namespace_deletes_it(
    seeded: Cache,
    cli_isolated: Path,
    cachectl_script: str,
    redis_url: str,
    raw_redis: redis.Redis,
    selection: list[str],
) -> None:
    ns = seeded.namespace
    argv = [cachectl_script, "--url", redis_url, "--namespace", ns, "flush", *selection]
    done = run_on_pty(argv, cli_isolated, ns)
    assert done.status == 0, done.output
    assert f"Deleted {KEYS} keys" in done.output
    assert entries(raw_redis, ns) == 0


def test_a_prefix_is_still_confirmed_with_y(
    seeded: Cache,
    cli_isolated: Path,
    cachectl_script: str,
    redis_url: str,
    raw_redis: redis.Redis,
) -> None:
    ns = seeded.namespace
    argv = [cachectl_script, "--url", redis_url, "--namespace", ns, "flush", "--prefix", "user"]
    done = run_on_pty(argv, cli_isolated, "y")
    assert done.status == 0, done.output
    assert "[y/N]" in done.output and "type its name" not in done.output
    assert entries(raw_redis, ns) == 0


@pytest.mark.parametrize("selection", [["--all"], ["--pattern", "*"]])
def test_yes_in_a_script_is_unchanged(
    seeded: Cache,
    run_script: Callable[..., CliResult],
    redis_url: str,
    raw_redis: redis.Redis,
    selection: list[str],
) -> None:
    ns = seeded.namespace
    done = run_script("--url", redis_url, "--namespace", ns, "flush", *selection, "--yes")
    assert done.exit_code == 0, done.stderr
    assert entries(raw_redis, ns) == 0


# -- the JSON API and the legacy route ------------------------------------------------------------


@pytest.fixture
async def client(seeded: Cache) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(admin_router(seeded, token=ADMIN), prefix="/_cache")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://admin.test/_cache", headers=AS_ADMIN
    ) as http:
        yield http


@pytest.mark.parametrize("selector", [{"all": True}, {"pattern": "*"}, {"pattern": "***"}])
async def test_the_api_asks_for_the_namespace(
    client: httpx.AsyncClient, raw_redis: redis.Redis, seeded: Cache, selector: dict[str, object]
) -> None:
    ns = seeded.namespace
    plan = (await client.post("/api/flush/plan", json=selector)).json()
    assert plan["confirm"] == ns and plan["whole"] is True and plan["count"] == KEYS

    for wrong in ["*", "***", "yes", ns.upper(), ""]:
        refused = await client.post("/api/flush", json={**selector, "confirm": wrong})
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert '"confirm"' in detail and repr(ns) in detail and "whole namespace" in detail
    missing = await client.post("/api/flush", json=selector)
    assert missing.status_code == 409 and f"equal to {ns!r}" in missing.json()["detail"]
    assert entries(raw_redis, ns) == KEYS

    done = await client.post("/api/flush", json={**selector, "confirm": ns})
    assert done.status_code == 200 and done.json()["removed"] == KEYS
    assert entries(raw_redis, ns) == 0


async def test_a_prefix_is_still_confirmed_by_its_text(
    client: httpx.AsyncClient, raw_redis: redis.Redis, seeded: Cache
) -> None:
    plan = (await client.post("/api/flush/plan", json={"prefix": "user"})).json()
    assert plan["confirm"] == "user" and plan["whole"] is False
    done = await client.post("/api/flush", json={"prefix": "user", "confirm": "user"})
    assert done.status_code == 200 and done.json()["removed"] == KEYS


@pytest.mark.parametrize("pattern", ["*", "**", "?*"])
async def test_the_legacy_route_asks_for_the_namespace_too(
    client: httpx.AsyncClient, raw_redis: redis.Redis, seeded: Cache, pattern: str
) -> None:
    ns = seeded.namespace
    for params in ({"pattern": pattern}, {"pattern": pattern, "confirm": pattern}):
        refused = await client.post("/flush", params=params)
        assert refused.status_code == 409, refused.text
        assert f"confirm equal to {ns!r}" in refused.json()["detail"]
    assert entries(raw_redis, ns) == KEYS
    done = await client.post("/flush", params={"pattern": pattern, "confirm": ns})
    assert done.status_code == 200, done.text
    assert done.json() == {"pattern": pattern, "removed": KEYS}
    assert entries(raw_redis, ns) == 0


async def test_the_legacy_route_flushes_a_prefix_as_before(
    client: httpx.AsyncClient, raw_redis: redis.Redis, seeded: Cache
) -> None:
    done = await client.post("/flush", params={"prefix": "user"})
    assert done.status_code == 200 and done.json() == {"prefix": "user", "removed": KEYS}
