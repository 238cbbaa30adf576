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
from typing import Any

import pytest

from cachectl import Cache
from tests.plugins.cli import CLI_ENV_VARS, CLI_NAMESPACE
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


#: Reads the terminal until a condition on what it showed holds.
ReadUntil = Callable[[Callable[[bytearray], bool]], None]


def watch_on_a_terminal(
    script: str, url: str, stop: Callable[[subprocess.Popen[bytes], ReadUntil], None]
) -> tuple[int, bytes, bytes]:
    """Run the watch on a pseudo-terminal until stop(child, read_until) ends it: status,
    output, stderr. stop may read the terminal meanwhile (the watch blocks on a full one)."""
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

        def more(done: Callable[[bytearray], bool]) -> None:
            read_until(controller, done, buffer)

        stop(child, more)
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
        cachectl_script, published, lambda child, read: child.send_signal(signal.SIGTERM)
    )
    assert status == 0, err
    assert output.rfind(SHOW) > output.rfind(HIDE)


def test_the_terminal_shows_redis_gone_and_the_watch_goes_on(
    own_redis: RedisServer, cachectl_script: str, cli_isolated: Path
) -> None:
    # Until issue 16 Redis going away ended the watch (status 3); now the view says so and the
    # watch goes on until it is stopped, which still gives the cursor back.
    with Cache(own_redis.url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.get("users:1")
        cache.publish_stats()

    def stop_redis_then_the_watch(child: subprocess.Popen[bytes], read: ReadUntil) -> None:
        own_redis.stop()
        read(lambda shown: shown.count(b"Redis unreachable since") >= 3)  # three intervals
        assert child.poll() is None, "the watch ended when Redis went away"
        child.send_signal(signal.SIGTERM)

    status, output, err = watch_on_a_terminal(
        cachectl_script, own_redis.url, stop_redis_then_the_watch
    )
    assert status == 0, err
    assert b"Redis unreachable since" in output
    assert b"cachectl: error:" not in err
    assert output.rfind(SHOW) > output.rfind(HIDE)


def _lines_until(stream: int, buffer: bytearray, done: Callable[[list[Any]], bool]) -> list[Any]:
    """The JSON lines of the watch read so far, once done(lines) holds."""

    def parsed(b: bytearray) -> list[Any]:
        return [
            json.loads(line) for line in bytes(b).splitlines(keepends=True) if line.endswith(b"\n")
        ]

    read_until(stream, lambda b: done(parsed(b)), buffer)
    return parsed(buffer)


def _users(snapshot: dict[str, Any]) -> tuple[int, int] | None:
    rows = {row["prefix"]: row for row in snapshot.get("prefixes", [])}
    users = rows.get("users")
    return None if users is None else (users["hits"], users["misses"])


def test_a_redis_restart_is_a_gap_in_the_stream_not_its_end(
    own_redis: RedisServer, cachectl_script: str, cli_isolated: Path
) -> None:
    def publish(hits: int) -> None:
        with Cache(own_redis.url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
            cache.set("users:1", 1)
            for _ in range(hits):
                cache.get("users:1")
            cache.publish_stats()

    publish(1)
    child = spawn(cachectl_script, own_redis.url, "--json", stdout=subprocess.PIPE)
    assert child.stdout is not None
    out, buffer = child.stdout.fileno(), bytearray()
    try:
        _lines_until(out, buffer, lambda lines: len(lines) >= 2)
        own_redis.stop()
        _lines_until(out, buffer, lambda lines: any(line.get("unreachable") for line in lines))
        own_redis.start()  # the same port, an empty database: figures start again
        publish(3)
        lines = _lines_until(
            out,
            buffer,
            lambda lines: (
                any(line.get("unreachable") for line in lines) and _users(lines[-1]) == (3, 0)
            ),
        )
        assert child.poll() is None
    finally:
        child.send_signal(signal.SIGTERM)
        rest, err = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, err
    gaps = [line for line in lines if line.get("unreachable")]
    for gap in gaps:
        assert gap["time"].endswith("+00:00") and gap["since"] == gaps[0]["since"]
        assert gap["namespace"] == CLI_NAMESPACE and gap["url"] == own_redis.url
        assert "cannot reach" in gap["error"] and own_redis.url in gap["error"]
    first = lines.index(gaps[0])
    assert [_users(line) for line in lines[:first]] == [(1, 0)] * first
    assert all(line.get("unreachable") for line in lines[first : first + len(gaps)])
    assert b"Traceback" not in err and b"cachectl: error" not in err
    assert all(json.loads(line) for line in rest.splitlines())  # whole documents to the end


def test_a_watch_ends_on_its_own_deadline_even_while_redis_is_down(
    own_redis: RedisServer, cachectl_script: str, cli_isolated: Path
) -> None:
    with Cache(own_redis.url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.get("users:1")
        cache.publish_stats()
    started = time.monotonic()
    child = spawn(cachectl_script, own_redis.url, "--json", "--for", "3", stdout=subprocess.PIPE)
    assert child.stdout is not None
    buffer = bytearray()
    _lines_until(child.stdout.fileno(), buffer, lambda lines: len(lines) >= 2)
    own_redis.stop()
    rest, err = child.communicate(timeout=HANG_GUARD)
    assert child.returncode == 0, err
    assert time.monotonic() - started >= 3
    lines = [json.loads(line) for line in (bytes(buffer) + rest).splitlines()]
    assert _users(lines[0]) == (0, 1)
    assert lines[-1].get("unreachable") is True


def test_an_output_file_keeps_its_last_snapshot_through_an_outage(
    own_redis: RedisServer, cachectl_script: str, cli_isolated: Path
) -> None:
    with Cache(own_redis.url, namespace=CLI_NAMESPACE, socket_timeout=2.0) as cache:
        cache.get("users:1")
        cache.publish_stats()
    out, err = cli_isolated / "stats.json", cli_isolated / "watch.err"

    def wait_for(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not done():
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)

    with err.open("wb") as sink:
        env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        child = subprocess.Popen(
            [cachectl_script, "stats", "--url", own_redis.url, "--namespace", CLI_NAMESPACE,
             "--watch", "0.2", "--format", "json", "--output", str(out)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink, env=env,
        )  # fmt: skip
        try:
            wait_for(out.exists)
            own_redis.stop()
            wait_for(lambda: "Redis unreachable since" in err.read_text())
            last = json.loads(out.read_text())
            time.sleep(0.6)  # intervals without Redis: the file is left as it was
            assert json.loads(out.read_text()) == last and child.poll() is None
            own_redis.start()
            wait_for(lambda: "Redis answers again at" in err.read_text())
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=HANG_GUARD)
    assert child.returncode == 0, err.read_text()
    lines = err.read_text().splitlines()
    assert len(lines) == 2, lines  # one line when the outage began, one when it ended
    assert lines[0].startswith("cachectl: Redis unreachable since ")
    assert lines[0].endswith(f"{out} keeps the last snapshot")
    assert _users(last) == (0, 1)


def test_for_needs_watch(run_script: Callable[..., Any], redis_url: str) -> None:
    done = run_script("--url", redis_url, "stats", "--for", "5")
    assert done.exit_code == 2
    assert done.stderr == "cachectl: error: --for says when --watch stops: give --watch too\n"
