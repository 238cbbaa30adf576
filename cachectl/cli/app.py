"""The Typer application: connection options, the commands, and the one error handler."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cachectl.cli.common import Settings
from cachectl.cli.demo import demo
from cachectl.cli.flush import flush
from cachectl.cli.inspect import inspect
from cachectl.cli.keys import keys
from cachectl.cli.latency import latency
from cachectl.cli.stats import stats
from cachectl.cli.warm import warm
from cachectl.errors import (
    BackendUnavailable,
    CachectlError,
    CheckFailed,
    ConfigError,
    DecodeError,
)

EXIT_STATUSES = (
    "Exit status: 0 success; 1 a check failed (a threshold, a corrupt value, a key not found, "
    "--max-keys exceeded); 2 usage error (including flush without --yes when stdin is not a "
    "terminal); 3 Redis unreachable, authentication refused, or timed out (for warm: the base "
    "URL)."
)

#: The exit status of each kind of error; the first match wins.
STATUS_OF: tuple[tuple[type[CachectlError], int], ...] = (
    (CheckFailed, 1),
    (DecodeError, 1),
    (ConfigError, 2),
    (BackendUnavailable, 3),
)


def exit_status(exc: CachectlError) -> int:
    """The exit status that reports exc."""
    return next((status for kind, status in STATUS_OF if isinstance(exc, kind)), 1)


class CachectlGroup(TyperGroup):
    """The command group; cachectl's errors become one line on stderr and an exit status."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CachectlError as exc:
            from cachectl.cli.render import safe

            # Split on line feeds only: a CR or a control character in a key is escaped, not
            # taken for a line break (or obeyed by the terminal).
            lines = str(exc).strip().split("\n")
            typer.echo(f"cachectl: error: {safe(lines[0] or type(exc).__name__)}", err=True)
            raise typer.Exit(exit_status(exc)) from None
        except BrokenPipeError:
            # The reader went away (`cachectl keys | head -1`): nothing more can reach it.
            raise typer.Exit(1) from None
        except Exception as exc:
            # Usage errors and exits (they carry an exit_code) are the framework's to report.
            # Anything else is a bug, not a user error: one line and a status all the same,
            # the traceback on request.
            if isinstance(exc, typer.Exit | typer.Abort) or hasattr(exc, "exit_code"):
                raise
            if os.environ.get("CACHECTL_DEBUG"):
                raise
            from cachectl.cli.render import safe

            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                typer.echo(f"cachectl: error: cannot write the output: {safe(str(exc))}", err=True)
                raise typer.Exit(1) from None
            text = safe(str(exc).strip().split("\n")[0])
            typer.echo(
                f"cachectl: internal error: {type(exc).__name__}: {text} "
                "(CACHECTL_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    name="cachectl",
    cls=CachectlGroup,
    help="Operate a cachectl cache on Redis or Redis Cluster: stats, keys, inspect, flush, "
    "latency; warm an application's endpoints; or run the demo.",
    epilog=EXIT_STATUSES,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool | None) -> None:
    if value:
        from cachectl import __version__

        typer.echo(f"cachectl {__version__}")
        raise typer.Exit()


@app.callback()
def connection_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Redis URL: redis://, rediss://, unix://, redis+cluster:// (a cluster is also "
            "detected). Else $CACHECTL_URL, $REDIS_URL, the settings file, "
            "redis://localhost:6379/0.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Namespace of the cache's keys. Else $CACHECTL_NAMESPACE, the settings file, "
            "'cachectl'.",
        ),
    ] = None,
    password_file: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="File holding the Redis password, for a URL without one. Else "
            "$CACHECTL_PASSWORD_FILE, $CACHECTL_PASSWORD, the settings file.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            min=0.001,
            help="Wait this long to connect and for each reply. Else $CACHECTL_TIMEOUT, the "
            "settings file, 2.",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = None,
) -> None:
    """Connection settings: options > environment > ./cachectl.toml or [tool.cachectl] of
    ./pyproject.toml > defaults. Passwords are never printed; URLs are shown redacted."""
    ctx.obj = Settings(url, namespace, password_file, timeout)


app.command()(stats)
app.command()(keys)
app.command()(inspect)
app.command()(flush)
app.command()(latency)
app.command()(warm)
app.command()(demo)


def run(args: Sequence[str]) -> int:
    """Run the application on args; returns the exit status."""
    command = typer.main.get_command(app)
    try:
        command.main(args=list(args), prog_name="cachectl")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
