"""`cachectl stats --watch` as a pipe, a log file or a terminal sees it, stopped by a signal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cachectl import Cache
from tests.conftest import CLI_ENV_VARS, CLI_NAMESPACE
from tests.servers import RedisServer

pytestmark = pytest.mark.usefixtures("watchdog")

HANG_GUARD = 20.0  # seconds: only there so that a broken watch fails instead of hanging


@pytest.fixture
def published(redis_url: str) -> Iterator[str]:
    with Cache(redis_url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.set("users:1", 1)
        cache.get("users:1")
        cache.get("users:2")
        cache.publish_stats()
    yield redis_url


def spawn(script: str, url: str, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
    return subprocess.Popen(
        [script, "--url", url, "--namespace", CLI_NAMESPACE, "stats", "--watch", "0.2", *args],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        **kwargs,  # type: ignore[call-overload]
    )


def read_until(fd: int, done: object, buffer: bytearray) -> bytes:
    """Read fd until done(buffer) holds; fails after HANG_GUARD seconds."""
    deadline = time.monotonic() + HANG_GUARD
    while not done(buffer):  # type: ignore[operator]
        left = deadline - time.monotonic()
        assert left > 0, f"no snapshot in time; got {bytes(buffer)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty whose other side closed
                chunk = b""
            assert chunk, f"output ended early: {bytes(buffer)!r}"
            buffer += chunk
    return bytes(buffer)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_json_lines_to_a_pipe_until_a_signal(
    published: str, cachectl_script: str, cli_isolated: Path, signum: signal.Signals
) -> None:
    child = spawn(cachectl_script, published, "--json", stdout=subprocess.PIPE)
    assert child.stdout is not None
    buffer = bytearray()
    read_until(child.stdout.fileno(), lambda b: b.count(b"\n") >= 3, buffer)
    child.send_signal(signum)
    rest, err = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, err
    lines = (bytes(buffer) + rest).decode().splitlines()
    assert len(lines) >= 3
    for line in lines:  # every line a whole document, none cut by the signal
        snapshot = json.loads(line)
        assert snapshot["time"].endswith("+00:00")
        users = {row["prefix"]: row for row in snapshot["prefixes"]}["users"]
        assert (users["hits"], users["misses"]) == (1, 1)
    times = [json.loads(line)["time"] for line in lines]
    assert times == sorted(times)


def test_tables_appended_to_a_file_until_sigterm(
    published: str, cachectl_script: str, cli_isolated: Path
) -> None:
    log = cli_isolated / "watch.log"
    with log.open("wb") as sink:
        child = spawn(cachectl_script, published, stdout=sink)
        deadline = time.monotonic() + HANG_GUARD
        while log.read_bytes().count(b"\n# ") < 1:  # a second snapshot has begun
            assert time.monotonic() < deadline, log.read_bytes()
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, err
    text = log.read_text()
    snapshots = [part for part in text.split("# ") if part]
    assert len(snapshots) >= 2
    for snapshot in snapshots:
        assert snapshot[:4].isdigit()  # the timestamp
        assert "users" in snapshot and "clitest" in snapshot
    assert "\x1b" not in text


def watch_on_a_terminal(
    script: str, url: str, stop: Callable[[subprocess.Popen[bytes]], None]
) -> tuple[int, bytes, bytes]:
    """Run the watch on a pseudo-terminal until stop(child) ends it: status, output, stderr."""
    controller, terminal = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        env.update({"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"})
        env.pop("NO_COLOR", None)
        base = [script, "--url", url, "--namespace", CLI_NAMESPACE, "--timeout", "0.5"]
        child = subprocess.Popen(
            [*base, "stats", "--watch", "0.2"],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=env,
        )
        os.close(terminal)
        buffer = bytearray()
        read_until(controller, lambda b: b.count(b"users") >= 2, buffer)
        assert HIDE in buffer and SHOW not in buffer
        stop(child)
        _, err = child.communicate(timeout=HANG_GUARD)
        while select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child is gone and its side closed
                break
            if not chunk:
                break
            buffer += chunk
    finally:
        os.close(controller)
    return child.returncode, bytes(buffer), err


HIDE, SHOW = b"\x1b[?25l", b"\x1b[?25h"


def test_the_terminal_gets_its_cursor_back_on_sigterm(
    published: str, cachectl_script: str, cli_isolated: Path
) -> None:
    status, output, err = watch_on_a_terminal(
        cachectl_script, published, lambda child: child.send_signal(signal.SIGTERM)
    )
    assert status == 0, err
    assert output.rfind(SHOW) > output.rfind(HIDE)


def test_the_terminal_gets_its_cursor_back_when_redis_goes_away(
    own_redis: RedisServer, cachectl_script: str, cli_isolated: Path
) -> None:
    with Cache(own_redis.url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.get("users:1")
        cache.publish_stats()
    status, output, err = watch_on_a_terminal(
        cachectl_script, own_redis.url, lambda child: own_redis.stop()
    )
    assert status == 3, err
    assert b"cachectl: error:" in err
    assert output.rfind(SHOW) > output.rfind(HIDE)
