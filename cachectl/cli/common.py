"""What the commands share: connection settings, the --json option, opening a connection."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from cachectl.errors import CachectlError

if TYPE_CHECKING:
    from cachectl.config import CacheConfig
    from cachectl.ops.connect import Connection

#: The largest value of each numeric option, by parameter name, in every command (enforced by
#: cli.app, which also adds "At most N." to the option's help). Beyond these a run would hang
#: (latency --samples 10**12), hold memory (keys --limit) or overflow a timer (--timeout 1e300).
MAXIMA: dict[str, float] = {
    # seconds: the global --timeout (config.CLI_MAX_TIMEOUT, which also bounds the environment
    # and the settings file), and warm's
    "timeout": 3600,
    "watch": 86_400,  # seconds: stats --watch
    "duration": 2_592_000,  # seconds: stats --for, thirty days
    "interval": 60_000,  # ms: latency --interval
    "samples": 100_000,  # latency
    "max_p50": 3_600_000,  # ms: latency thresholds
    "max_p99": 3_600_000,
    "max_p95": 3_600_000,  # ms: warm
    "min_hit_ratio": 1,
    "limit": 1_000_000,  # keys
    "top": 1_000_000,
    "items": 100_000,  # inspect
    "max_bytes": 512 * 1024 * 1024,  # inspect: Redis's largest string
    "max_scan": 100_000_000,  # stats
    "max_keys": 1_000_000_000,  # flush
    "rate": 1_000_000,  # flush keys/s, warm requests/s
    "sample": 10_000_000,  # namespaces
    "sample_size": 1_000_000,  # doctor --sample: entries read one by one
    "concurrency": 10_000,  # warm (its library check agrees)
    "retries": 20,
    "passes": 100,
    "port": 65_535,  # ui
}
#: The largest value of a numeric option missing from MAXIMA (a test keeps the table whole).
DEFAULT_MAXIMUM = 1_000_000_000


def examples(*lines: str) -> str:
    """The end of a command's --help: 'Examples:' and lines shown as written (a '# ...' line
    says what the next one is for). '\b' keeps Click from joining them into one paragraph."""
    return "Examples:\n\n\b\n" + "".join(f"  {line}\n" for line in lines)


class Declined(CachectlError):
    """The operator did not confirm at the prompt: nothing was changed (exit status 4)."""


class EmptyNamespace(CachectlError):
    """The namespace holds nothing of cachectl's, and --allow-empty was not given (exit
    status 5): most often a mistyped --namespace."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The connection options, given before the command name or after it."""

    url: str | None = None
    namespace: str | None = None
    password_file: str | None = None
    timeout: float | None = None

    def config(self) -> CacheConfig:
        """Options merged with the environment, the settings file and the defaults."""
        from cachectl.config import cli_config

        return cli_config(self.url, self.namespace, self.password_file, self.timeout)


def print_json(document: Any) -> None:
    """One JSON document on stdout and nothing else (no Rich: --json stays fast and exact)."""
    from cachectl.cli.render import json_text  # escapes what a terminal would act on

    sys.stdout.write(json_text(document) + "\n")
    sys.stdout.flush()


def show(
    result: Any,
    json_output: bool,
    view: Callable[[Any], None],
    empty: EmptyNamespace | None = None,
) -> None:
    """A command's result on stdout: one JSON document (its to_dict()) with --json, else drawn
    by its view; then empty, the namespace check's error, is raised once the output is out."""
    if json_output:
        print_json(result.to_dict())
    else:
        view(result)
    if empty is not None:
        raise empty


def print_text(text: str) -> None:
    """Text on stdout exactly as given."""
    sys.stdout.write(text)
    sys.stdout.flush()


def stdin_is_terminal() -> bool:
    """Whether someone can answer a question on standard input."""
    return sys.stdin.isatty()


@contextlib.contextmanager
def connection(ctx: typer.Context) -> Iterator[Connection]:
    """A connection to the configured server for the duration of the block."""
    from cachectl.ops.connect import connection as open_connection

    settings = ctx.find_object(Settings) or Settings()
    with open_connection(settings.config()) as conn:
        yield conn
