"""The application itself: documented commands, the error handler, the fast --version path."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from typer.main import get_command
from typer.testing import CliRunner

from cachectl.cache import Cache
from cachectl.cli import main
from cachectl.cli.app import EXIT_STATUSES, STATUS_OF, app, exit_status
from cachectl.cli.common import Declined
from cachectl.errors import (
    BackendUnavailable,
    CachectlError,
    CheckFailed,
    ConfigError,
    DecodeError,
    SerializationError,
)
from tests.plugins.cli import CliResult

ROOT = Path(__file__).resolve().parent.parent
GROUP = get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def test_the_command_set() -> None:
    assert COMMANDS == [
        "demo",
        "doctor",
        "flush",
        "inspect",
        "keys",
        "latency",
        "namespaces",
        "stats",
        "ui",
        "warm",
    ]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_and_option_is_documented(name: str) -> None:
    command = GROUP.commands[name]  # type: ignore[attr-defined]
    assert command.help and len(command.help.split("\n\n")) >= 2, "a summary and a paragraph"
    for param in command.params:
        if param.param_type_name == "option":
            assert param.help, f"{name} {param.opts} has no help"
    result = CliRunner().invoke(app, [name, "--help"], prog_name="cachectl")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cachectl {name} [OPTIONS]")
    if name != "demo":  # a guided tour for a person, not a document for a program
        assert "--json" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_real_example_in_the_docs(name: str) -> None:
    examples = (ROOT / "docs" / "cli-commands.md").read_text()
    assert f"$ cachectl {name}" in examples or f" {name} " in examples
    assert f"## cachectl {name}" in examples


def test_global_options_are_documented() -> None:
    for param in GROUP.params:
        assert param.help, param.opts


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_every_help_ends_with_one_or_two_examples_that_parse(
    name: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--help"] if name is None else [name, "--help"]
    result = CliRunner().invoke(app, args, prog_name="cachectl", env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    before, _, examples = result.stdout.rpartition("\n  Examples:\n\n")
    assert before, "the help ends with its examples"
    lines = [line.strip() for line in examples.rstrip().split("\n")]
    calls = [line for line in lines if not line.startswith("# ")]
    assert 1 <= len(calls) <= 2, lines
    for call in calls:
        words = shlex.split(call.partition(" > ")[0])  # a redirection is the shell's
        assert words[0] == "cachectl" and (name is None or name in words)
        # Parsed by the real application, every command's work left out: no usage error.
        group = get_command(app)
        for command in group.commands.values():  # type: ignore[attr-defined]
            command.callback = lambda **options: None
        assert group.main(words[1:], prog_name="cachectl", standalone_mode=False) in (None, 0)
        assert capsys.readouterr().err == "", call


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CheckFailed("x"), 1),
        (DecodeError("x"), 1),
        (ConfigError("x"), 2),
        (BackendUnavailable("x"), 3),
        (SerializationError("x"), 1),
        (CachectlError("x"), 1),
        (Declined("x"), 4),
    ],
)
def test_exit_status_of_each_error(error: CachectlError, status: int) -> None:
    assert exit_status(error) == status


def test_version_fast_path_does_not_import_typer_or_redis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith(("typer", "cachectl.cli.app"))]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "cachectl 0.1.0\n"
    assert "typer" not in sys.modules and "cachectl.cli.app" not in sys.modules


def test_version_through_typer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--namespace", "x", "--version"]) == 0
    assert capsys.readouterr().out == "cachectl 0.1.0\n"


def test_main_returns_usage_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "--sort", "colour"]) == 2
    assert capsys.readouterr().err == (
        "cachectl: error: invalid value for '--sort': 'colour' is not one of 'name', 'ttl', "
        "'memory' (see 'cachectl keys --help')\n"
    )


def test_cli_modules_import_no_redis_rich_or_msgpack() -> None:
    code = (
        "import sys, cachectl.cli.app; "
        "print(sorted(m for m in ('redis', 'rich', 'msgpack') if m in sys.modules))"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_completions_match_the_cli() -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "completions" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    for shell, name in generate.FILES.items():
        expected = generate.script(shell)
        actual = (ROOT / "completions" / name).read_text()
        assert actual == expected, f"completions/{name} is stale: python completions/generate.py"
        for command in COMMANDS:
            assert f"#   {command}: " in actual


def test_the_exit_status_table_lists_every_status() -> None:
    text = " ".join(EXIT_STATUSES.split())
    for status in sorted({0, 1, 2, 3, 130} | {status for _, status in STATUS_OF}):
        assert f" {status} " in text, status


def test_declining_the_flush_is_status_4_and_deletes_nothing(
    cli: Callable[..., CliResult],
    cli_cache: Cache,
    raw_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_cache.set("page:1", 1)
    monkeypatch.setattr("cachectl.cli.common.stdin_is_terminal", lambda: True)
    declined = cli("flush", "--prefix", "page", input="n\n")
    assert declined.exit_code == 4
    # (The runner does not echo the answer, so the line starts with the question.)
    assert declined.stderr.endswith("cachectl: aborted: not confirmed; nothing was deleted\n")
    unanswered = cli("flush", "--prefix", "page", input="")  # end of input at the prompt
    assert unanswered.exit_code == 4
    assert unanswered.stderr.splitlines()[-1] == (
        "cachectl: aborted: no answer at the prompt; nothing was deleted"
    )
    assert raw_redis.exists(b"clitest:page:1")


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--watch", "nan"],
        ["stats", "--min-hit-ratio", "nan"],
        ["latency", "--interval", "inf"],
        ["latency", "--max-p50", "nan"],
        ["flush", "--tag", "t", "--yes", "--rate", "nan"],
        ["warm", "endpoints.txt", "--max-p95", "nan"],
        ["warm", "endpoints.txt", "--timeout", "-inf"],
    ],
    ids=lambda args: " ".join(args[:1] + args[-2:]),
)
def test_every_float_option_refuses_what_is_not_a_finite_number(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Before anything connects: a nan threshold passed every check, an inf interval overflowed.
    assert main(["--url", "redis://127.0.0.1:1/0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cachectl: error: invalid value for '--")
    assert "is not a finite number" in err and err.count("\n") == 1
