"""The command-line tool, in process (Typer's CliRunner) and as the installed console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from cachectl.cache import Cache
from tests.servers import RedisServer


def pytest_configure(config: pytest.Config) -> None:
    """Children of the tests hear Ctrl-C. A shell starts a background job (`pytest &`, as
    .ci/run starts its lowest and newest runs) with SIGINT ignored, and an ignored signal stays
    ignored through fork and exec: the tests that press Ctrl-C on the console script would
    press it on a process that cannot hear it. A handled signal is reset to its default."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


CLI_ENV_VARS = (
    "CACHECTL_URL",
    "REDIS_URL",
    "CACHECTL_NAMESPACE",
    "CACHECTL_PASSWORD",
    "CACHECTL_PASSWORD_FILE",
    "CACHECTL_TIMEOUT",
)
CLI_NAMESPACE = "clitest"


@pytest.fixture
def cli_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cachectl settings from the environment or a settings file; returns the work dir."""
    for name in CLI_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class CliResult:
    """What a run of the tool printed, and its exit status."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as the one JSON document it must be."""
        return json.loads(self.stdout)


@pytest.fixture
def cli(cli_isolated: Path, redis_url: str) -> Callable[..., CliResult]:
    """Run `cachectl --url <test server> --namespace clitest ARGS` in process."""
    from typer.testing import CliRunner

    from cachectl.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, url: str | None = None) -> CliResult:
        base = ["--url", url or redis_url, "--namespace", CLI_NAMESPACE]
        result = runner.invoke(app, [*base, *args], input=input, prog_name="cachectl")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def cachectl_script() -> str:
    """The installed console script (next to this interpreter)."""
    script = Path(sys.executable).with_name("cachectl")
    if not script.exists():
        pytest.skip("the cachectl console script is not installed (pip install -e .)")
    return str(script)


@pytest.fixture
def run_script(cli_isolated: Path, cachectl_script: str) -> Callable[..., CliResult]:
    """Run the real console script in a subprocess, stdin not a terminal."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> CliResult:
        full_env = {k: v for k, v in os.environ.items() if k not in CLI_ENV_VARS}
        full_env.update(env or {})
        done = subprocess.run(
            [cachectl_script, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="surrogateescape",
            cwd=cli_isolated,
            env=full_env,
            timeout=timeout,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def cli_cache(redis_url: str) -> Iterator[Cache]:
    """A cachectl.Cache on the test server, in the CLI tests' namespace, stats on."""
    with Cache(redis_url, namespace=CLI_NAMESPACE, stats_interval=0.01) as instance:
        yield instance


@pytest.fixture
def raw_redis(redis_server: RedisServer, redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client to the (flushed) test server, to plant foreign values."""
    with redis_server.client() as client:
        yield client
