"""`cachectl demo` end to end, as the installed console script: it runs every step, and leaves
no process, listening socket or temporary directory behind, also when interrupted with Ctrl-C.

The demo runs in a session of its own, so that any process it started and left behind is found
by its session id after it exited, wherever it was reparented to.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.plugins.cli import CLI_ENV_VARS, CliResult
from tests.servers import require_binary

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 120  # seconds; far above the few seconds a run takes, only to bound a hang
INTERRUPT_TIMEOUT = 20
STEPS = ("cachectl warm", "cachectl stats", "cachectl inspect", "PATCH", "flush")
ENVIRONMENT_LINE = re.compile(
    r"Redis \((?P<kind>redis-server|fakeredis)\) at redis://127\.0\.0\.1:(?P<redis_port>\d+)/0, "
    r"the reference shop at http://127\.0\.0\.1:(?P<app_port>\d+), namespace 'shop', "
    r"database (?P<workdir>\S+)/shop\.sqlite3"
)


# -- what is running: processes and listening sockets, read from /proc --------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def session_members(sid: int) -> dict[int, str]:
    """Live (not zombie) processes of session sid, with their command lines."""
    members = {}
    for pid in _pids():
        fields = _stat_fields(pid)
        # state is fields[0]; ppid, pgrp, session follow.
        if fields is not None and int(fields[3]) == sid and fields[0] != "Z":
            with contextlib.suppress(OSError):
                members[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    return {pid: cmd.decode(errors="replace").strip() for pid, cmd in members.items()}


def children_of(parent: int) -> set[int]:
    """Live processes whose parent is parent."""
    found = set()
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields is not None and int(fields[1]) == parent and fields[0] != "Z":
            found.add(pid)
    return found


def redis_server_pids() -> dict[int, str]:
    """Every redis-server process on the machine (ours, other tests', anyone's), by pid."""
    found = {}
    for pid in _pids():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server":
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return found


def listening_ports() -> set[int]:
    """TCP ports something listens on (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


@dataclass
class Snapshot:
    redis_servers: dict[int, str]
    listening: set[int]
    children: set[int]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(redis_server_pids(), listening_ports(), children_of(os.getpid()))


# -- running the demo -----------------------------------------------------------------------------


@dataclass
class Demo:
    """A `cachectl demo` process in its own session; stdout is collected line by line."""

    process: subprocess.Popen[str]
    tmpdir: Path
    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    _seen: threading.Condition = field(default_factory=threading.Condition)
    _readers: list[threading.Thread] = field(default_factory=list)

    def start_reading(self) -> None:
        def read_stdout() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                with self._seen:
                    self.lines.append(line)
                    self._seen.notify_all()
            with self._seen:
                self._seen.notify_all()

        def read_stderr() -> None:
            assert self.process.stderr is not None
            self.stderr = self.process.stderr.read()

        self._readers = [
            threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)
        ]
        for reader in self._readers:
            reader.start()

    @property
    def stdout(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Wait until stdout shows text; False if the process ended or time ran out first."""
        with self._seen:
            return self._seen.wait_for(
                lambda: text in self.stdout or not self._readers[0].is_alive(), timeout
            ) and (text in self.stdout)

    def wait(self, timeout: float) -> int:
        status = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return status

    def environment(self) -> re.Match[str]:
        found = ENVIRONMENT_LINE.search(self.stdout)
        assert found is not None, self.stdout[:2000]
        return found

    def kill(self) -> None:
        """SIGKILL what is left of the demo's session (only what it started); close the pipes."""
        for pid in session_members(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_demo(
    cli_isolated: Path, cachectl_script: str, tmp_path: Path
) -> Iterator[Callable[..., Demo]]:
    """Start `cachectl demo ARGS` with its temp files under tmp_path/tmp; killed after the test."""
    started: list[Demo] = []

    def start(*args: str, path: str | None = None) -> Demo:
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        # Wide enough that the environment line is never wrapped.
        env.update(TMPDIR=str(tmpdir), COLUMNS="1000")
        if path is not None:
            env["PATH"] = path
        process = subprocess.Popen(
            [cachectl_script, "demo", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            cwd=cli_isolated,
            env=env,
            start_new_session=True,
        )
        demo = Demo(process, tmpdir)
        started.append(demo)
        demo.start_reading()
        return demo

    yield start
    for demo in started:
        demo.kill()


def assert_nothing_left(demo: Demo, before: Snapshot) -> None:
    """No process of the demo's session, no listener on its ports, no temp dir, no new child."""
    found = demo.environment()
    redis_port, app_port = int(found["redis_port"]), int(found["app_port"])
    workdir = Path(found["workdir"])
    assert workdir.parent == demo.tmpdir, "the demo did not use TMPDIR for its files"

    assert session_members(demo.process.pid) == {}
    after = Snapshot.take()
    assert after.children <= before.children
    assert {redis_port, app_port}.isdisjoint(after.listening)
    new_servers = {
        pid: cmd for pid, cmd in after.redis_servers.items() if pid not in before.redis_servers
    }
    assert not [cmd for cmd in new_servers.values() if f":{redis_port}" in cmd], new_servers
    assert not workdir.exists()
    assert list(demo.tmpdir.glob("cachectl-demo-*")) == []


def assert_ran_every_step(demo: Demo, status: int) -> None:
    assert status == 0, (demo.stdout[-3000:], demo.stderr)
    assert "Traceback" not in demo.stderr, demo.stderr
    headings = [line for line in demo.lines if line.startswith("$ ")]
    assert len(headings) == len(STEPS), headings
    for heading, step in zip(headings, STEPS, strict=True):
        assert step in heading, headings
    assert "X-Cache-Invalidated:" in demo.stdout
    assert demo.stderr.splitlines()[-1] == "Stopped everything the demo started."
    # The summary comes last and leads with the speedup of the cached dashboard endpoints.
    summary = demo.stdout[demo.stdout.rindex("Summary") :].splitlines()[1:]
    assert summary[0].startswith("/api/dashboard/summary: ") and "x faster cached" in summary[0]
    assert "one request at a time" in demo.stdout


# -- the demo runs to the end ------------------------------------------------------------------


def test_demo_with_redis_server_on_the_path(start_demo: Callable[..., Demo]) -> None:
    require_binary("redis-server")
    before = Snapshot.take()

    demo = start_demo()
    status = demo.wait(RUN_TIMEOUT)

    assert_ran_every_step(demo, status)
    assert demo.environment()["kind"] == "redis-server"
    assert_nothing_left(demo, before)


def test_demo_without_redis_server_on_the_path(
    start_demo: Callable[..., Demo], cachectl_script: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    (bin_dir / "cachectl").symlink_to(cachectl_script)
    assert shutil.which("redis-server", path=str(bin_dir)) is None
    before = Snapshot.take()

    demo = start_demo(path=str(bin_dir))
    status = demo.wait(RUN_TIMEOUT)

    assert_ran_every_step(demo, status)
    assert demo.environment()["kind"] == "fakeredis"
    assert_nothing_left(demo, before)


def test_demo_with_no_redis_server_option(start_demo: Callable[..., Demo]) -> None:
    require_binary("redis-server")
    before = Snapshot.take()

    demo = start_demo("--no-redis-server")
    status = demo.wait(RUN_TIMEOUT)

    assert_ran_every_step(demo, status)
    assert demo.environment()["kind"] == "fakeredis"
    assert_nothing_left(demo, before)


#: Keeps Redis busy for ARGV[1] microseconds: every other client waits, as on a loaded machine.
STALL = """
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat local now = redis.call('TIME') until now[1] * 1000000 + now[2] - start > tonumber(ARGV[1])
return 1
"""


def test_demo_runs_to_the_end_when_redis_pauses_during_warm(
    start_demo: Callable[..., Demo],
) -> None:
    require_binary("redis-server")
    before = Snapshot.take()
    demo = start_demo()
    assert demo.wait_for("Redis (", RUN_TIMEOUT), (demo.stdout, demo.stderr)
    port = int(demo.environment()["redis_port"])

    # Two pauses of a quarter second as the warm step begins: a busy machine, nothing more.
    with redis.Redis(port=port, socket_timeout=10) as client:
        for _ in range(2):
            client.eval(STALL, 0, 250_000)
    status = demo.wait(RUN_TIMEOUT)

    assert_ran_every_step(demo, status)
    assert_nothing_left(demo, before)


# -- Ctrl-C ---------------------------------------------------------------------------------------


def interrupt_lines(stderr: str) -> list[str]:
    """stderr without the demo's opening note and the library's warnings about a slow Redis."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and not line.startswith("Starting Redis, building")
        and not re.match(r"cachectl: redis://\S+ is (failing|back)", line)
    ]


@pytest.mark.parametrize(
    ("args", "when"),
    [
        ((), "Redis ("),  # the environment is up and the warm step has begun
        ((), "$ cachectl warm"),  # warm is done; the stats step waits for a publish
        (("--no-redis-server",), "Redis ("),
    ],
    ids=["redis-server-during-warm", "redis-server-during-stats", "fakeredis-during-warm"],
)
def test_ctrl_c_stops_everything_the_demo_started(
    start_demo: Callable[..., Demo], args: tuple[str, ...], when: str
) -> None:
    require_binary("redis-server")
    before = Snapshot.take()
    demo = start_demo(*args)
    assert demo.wait_for(when, RUN_TIMEOUT), (demo.stdout, demo.stderr)
    found = demo.environment()
    running = session_members(demo.process.pid)
    servers = [
        cmd for cmd in running.values() if f"redis-server 127.0.0.1:{found['redis_port']}" in cmd
    ]
    # The session is what the check afterwards looks in: the demo's own redis-server is there.
    assert len(servers) == (found["kind"] == "redis-server"), running

    demo.process.send_signal(signal.SIGINT)
    status = demo.wait(INTERRUPT_TIMEOUT)

    assert status == 130, (status, demo.stderr)
    assert "Traceback" not in demo.stderr, demo.stderr
    assert len(interrupt_lines(demo.stderr)) <= 1, demo.stderr
    assert_nothing_left(demo, before)


def test_ctrl_c_while_the_database_is_built_stops_the_redis_server(
    start_demo: Callable[..., Demo],
) -> None:
    require_binary("redis-server")
    before = Snapshot.take()
    demo = start_demo()
    # The redis-server starts first, then the shop database is generated (a second or two).
    servers: list[str] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while not servers and demo.process.poll() is None and time.monotonic() < deadline:
        running = session_members(demo.process.pid).values()
        servers = [cmd for cmd in running if "redis-server 127.0.0.1:" in cmd]
        time.sleep(0.01)
    assert servers, (demo.stdout, demo.stderr)
    port = int(re.findall(r"redis-server 127\.0\.0\.1:(\d+)", servers[0])[0])

    demo.process.send_signal(signal.SIGINT)
    status = demo.wait(INTERRUPT_TIMEOUT)

    assert status == 130, (status, demo.stderr)
    assert "Traceback" not in demo.stderr, demo.stderr
    assert len(interrupt_lines(demo.stderr)) <= 1, demo.stderr
    assert session_members(demo.process.pid) == {}
    assert port not in listening_ports()
    assert not [cmd for cmd in redis_server_pids().values() if f":{port}" in cmd]
    assert Snapshot.take().children <= before.children
    assert list(demo.tmpdir.glob("cachectl-demo-*")) == []


def test_demo_json_is_one_document_leading_with_the_cached_speedup(
    start_demo: Callable[..., Demo],
) -> None:
    demo = start_demo("--json")
    status = demo.wait(RUN_TIMEOUT)
    assert status == 0, demo.stderr
    document = json.loads(demo.stdout)
    assert list(document) == ["environment", "summary", "steps"]
    assert [step["kind"] for step in document["steps"]] == [
        "warm", "stats", "inspect", "invalidation", "flush", "summary",
    ]  # fmt: skip
    summary = document["summary"]
    assert summary["concurrency"] == 1
    assert summary["endpoints"] == summary["cold_misses"] == summary["measured"]
    assert summary["measured_hits"] == summary["measured"]
    assert [row["path"] for row in summary["dashboard"]] == [
        "/api/dashboard/summary",
        "/api/dashboard/revenue",
    ]
    for row in summary["dashboard"]:
        # Cold only from a real miss; every cached sample a hit by its own X-Cache header.
        assert row["cold_cache"] == "MISS" and row["cold_ms"] is not None
        assert row["hits"] == row["samples"] == 20
        assert row["speedup"] is not None and row["speedup_p95"] is not None
    warm = document["steps"][0]["result"]
    assert warm["summary"]["concurrency"] == 1 and warm["summary"]["already_cached"] == 0
    assert "admin_token" not in demo.stdout
    assert demo.stderr.splitlines()[-1] == "Stopped everything the demo started."


def test_keep_running_serves_the_cache_page_until_ctrl_c(
    start_demo: Callable[..., Demo],
) -> None:
    import httpx

    require_binary("redis-server")
    before = Snapshot.take()
    demo = start_demo("--keep-running")
    assert demo.wait_for("Ctrl-C stops everything", RUN_TIMEOUT), (demo.stdout, demo.stderr)
    found = re.search(r"Cache Management page at (\S+/_cache/), admin token (\S+)", demo.stdout)
    assert found is not None, demo.stdout[:2000]
    page_url, token = found.groups()
    assert page_url == f"http://127.0.0.1:{demo.environment()['app_port']}/_cache/"
    assert "Cache management" in httpx.get(page_url).text
    who = httpx.get(f"{page_url}api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert who.json()["role"] == "admin" and who.json()["namespace"] == "shop"

    demo.process.send_signal(signal.SIGINT)
    assert demo.wait(INTERRUPT_TIMEOUT) == 0, demo.stderr
    assert "Traceback" not in demo.stderr, demo.stderr
    assert_nothing_left(demo, before)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--url", "redis://127.0.0.1:1/0"], "drop --url"),
        (["--namespace", "mine"], "drop --namespace"),
        (["--url", "redis://127.0.0.1:1/0", "--namespace", "mine"], "drop --url and --namespace"),
    ],
)
def test_the_demo_refuses_to_run_on_a_redis_an_option_names(
    run_script: Callable[..., CliResult], options: list[str], named: str
) -> None:
    # The tour flushes keys: it runs on its own Redis only, and says so rather than ignore
    # the option (nothing is started, nothing connects).
    done = run_script(*options, "demo", "--json", timeout=60)
    assert done.exit_code == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith("cachectl: error: cachectl demo runs on a Redis of its own")
    assert named in done.stderr and done.stderr.count("\n") == 1
