"""Every numeric option has a maximum, stated in its help and enforced where options are
parsed: an absurd value is one `cachectl: error:` line and status 2, never a hang, a memory
blow-up or an OverflowError from a timer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer

from cachectl.cli.app import app
from cachectl.cli.common import MAXIMA
from tests.plugins.cli import CLI_NAMESPACE, CliResult

pytestmark = pytest.mark.usefixtures("watchdog")

Run = Callable[..., CliResult]
HUGE_INT = str(10**30)


@pytest.mark.parametrize(
    "args",
    [
        ("--timeout", "1e300", "stats"),
        ("latency", "--samples", HUGE_INT),
        ("latency", "--samples", "1000000000000"),
        ("latency", "--interval", "1e300"),
        ("latency", "--max-p99", "1e300"),
        ("warm", "--passes", "1000000000"),
        ("warm", "--concurrency", HUGE_INT),
        ("warm", "--timeout", "1e300"),
        ("keys", "--limit", HUGE_INT),
        ("keys", "--top", "1000000000"),
        ("inspect", "k", "--items", HUGE_INT),
        ("inspect", "k", "--max-bytes", HUGE_INT),
        ("stats", "--watch", "1e300"),
        ("stats", "--max-scan", HUGE_INT),
        ("flush", "--all", "--max-keys", HUGE_INT),
        ("flush", "--all", "--rate", "1e300"),
        ("namespaces", "--sample", HUGE_INT),
    ],
    ids=lambda args: " ".join(a if len(a) < 12 else a[:6] + "..." for a in args),
)
def test_a_huge_value_is_a_usage_error(redis_url: str, run_script: Run, args: tuple[str]) -> None:
    result = run_script("--url", redis_url, "--namespace", CLI_NAMESPACE, *args, timeout=60)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachectl: error: invalid value for '--")
    assert "maximum" in lines[0] and "internal error" not in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("value", ["1e300", "100000"])
@pytest.mark.parametrize("where", ["environment", "settings file", "URL"])
def test_a_huge_timeout_from_the_environment_a_file_or_the_url_is_a_usage_error(
    redis_url: str, run_script: Run, cli_isolated: Any, where: str, value: str
) -> None:
    env = {"CACHECTL_URL": redis_url}
    if where == "environment":
        env["CACHECTL_TIMEOUT"] = value
    elif where == "URL":
        env["CACHECTL_URL"] = f"{redis_url}?socket_timeout={value}"
    else:
        (cli_isolated / "cachectl.toml").write_text(f"timeout = {value}\n")
    result = run_script("stats", env=env, timeout=60)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("cachectl: error: ")
    assert "at most" in result.stderr and "internal error" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_maximum_itself_is_accepted(redis_url: str, run_script: Run) -> None:
    result = run_script(
        "--url", redis_url, "--timeout", "3600", "latency", "--samples", "3",
        "--interval", "0", "--max-p99", "3600000", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def _numeric_options(command: Any, path: str = "cachectl") -> Iterator[tuple[str, Any]]:
    for param in command.params:
        names = {cls.__name__ for cls in type(param.type).__mro__}
        if names & {"IntParamType", "FloatParamType"}:
            yield path, param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _numeric_options(sub, f"{path} {name}")


def test_every_numeric_option_has_a_stated_maximum(cli: Callable[..., CliResult]) -> None:
    command = typer.main.get_command(app)
    command.make_context("cachectl", ["--help"], resilient_parsing=True)
    options = list(_numeric_options(command))
    assert len(options) > 15
    for path, param in options:
        assert param.name in MAXIMA, f"{path} {param.opts[0]} has no entry in MAXIMA"
        assert f"At most {MAXIMA[param.name]:,}." in (param.help or ""), (path, param.opts)
