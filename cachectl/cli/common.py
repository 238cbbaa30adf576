"""What the commands share: connection settings, the --json option, opening a connection."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cachectl.errors import CachectlError

if TYPE_CHECKING:
    from cachectl.config import CacheConfig
    from cachectl.ops.connect import Connection

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else there.")
]


class Declined(CachectlError):
    """The operator did not confirm at the prompt: nothing was changed (exit status 4)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The connection options given before the command name."""

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
