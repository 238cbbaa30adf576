"""The Typer application: connection options, the commands, and the one error handler."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from cachectl import errors
from cachectl.cli import demo, doctor, flush, inspect, keys, latency, namespaces, stats, ui, warm
from cachectl.cli.common import Declined, EmptyNamespace, Settings, examples
from cachectl.errors import CachectlError

EXIT_STATUSES = (
    "Exit status: 0 success (also a --dry-run, or nothing to delete); 1 a check failed (a "
    "threshold, a corrupt value, a key not found, --max-keys exceeded, an endpoint that failed "
    "to warm, a doctor finding at --fail-on's severity or worse), the output could not be "
    "written, or an internal error; 2 usage error (an "
    "unknown option or command, a bad value (nan, inf, or above the option's stated "
    "maximum) or endpoint file, an empty --url/--namespace or "
    "CACHECTL_ variable, a malformed URL or settings file, flush without --yes when stdin is "
    "not a terminal); 3 Redis unreachable, authentication refused, or timed out (for warm: the "
    "base URL), or a command refused (an ACL without it, or renamed); 4 flush declined at "
    "the confirmation prompt, nothing deleted; 5 the namespace holds nothing of cachectl's "
    "(no entries, stats or tags: stats, keys, inspect and flush, unless --allow-empty), most "
    "often a mistyped --namespace; 130 interrupted "
    "(Ctrl-C; stats --watch stops with 0). Errors are one line on stderr: 'cachectl: error: "
    "...' ('cachectl: aborted: ...' for status 4)."
)

#: Shown at the end of `cachectl --help`, after the exit statuses.
EXAMPLES = examples(
    "cachectl --url redis://localhost:6379/0 --namespace shop stats",
    "# No Redis at hand? A Redis and a shop of its own, through every command",
    "cachectl demo",
)

#: The exit status of each kind of error; the first match wins.
STATUS_OF: tuple[tuple[type[CachectlError], int], ...] = (
    (Declined, 4),
    (EmptyNamespace, 5),
    (errors.CheckFailed, 1),
    (errors.DecodeError, 1),
    (errors.ConfigError, 2),
    (errors.BackendUnavailable, 3),
    (errors.CommandRefused, 3),
)


def exit_status(exc: CachectlError) -> int:
    """The exit status that reports exc."""
    return next((status for kind, status in STATUS_OF if isinstance(exc, kind)), 1)


def report(message: str, label: str = "error") -> None:
    """One line on stderr, the one style of every error: 'cachectl: error: ...'."""
    from cachectl.cli.render import ERROR_CELLS, name

    # Split on line feeds only: a CR or another control character in a key is escaped, not
    # taken for a line break (or obeyed by the terminal).
    parts = [part.strip() for part in message.strip().split("\n")]
    text = " ".join(part for part in parts if part) or "unknown error"
    # A message quoting a 100 KB key is shortened in its middle: still one readable line.
    typer.echo(f"cachectl: {label}: {name(text, ERROR_CELLS)}", err=True)


def _is_usage_error(exc: BaseException) -> bool:
    """A framework error to report (a usage error, a bad value), as opposed to an exit."""
    return isinstance(exc, typer.TyperException) or (
        hasattr(exc, "format_message") and hasattr(exc, "exit_code")
    )


def _usage_error(exc: Any, command_path: str) -> NoReturn:
    """The framework's usage errors as one line (no usage block), with where to find help:
    the error's own command, else command_path (the parser names none for an option given
    without its value)."""
    message = str(exc.format_message())
    message = message[:1].lower() + message[1:] if message[1:2].islower() else message
    ctx = getattr(exc, "ctx", None)
    option = getattr(exc, "option_name", None)
    if ctx is not None and ctx.parent is None and option is not None:
        # `cachectl --json stats`: the connection options go before the name, so this will be
        # tried; the suggestion click makes (--version) helps nobody.
        takers = [
            name
            for name, command in getattr(ctx.command, "commands", {}).items()
            if any(option in param.opts for param in command.params)
        ]
        if takers:
            message = (
                f"{option} is an option of the command, not of cachectl: put it after the "
                f"command's name (as in cachectl {takers[0]} {option})"
            )
    path = ctx.command_path if ctx is not None else command_path
    message = f"{message.rstrip().rstrip('.')} (see '{path} --help')"
    report(message)
    raise typer.Exit(int(exc.exit_code))


class CachectlGroup(TyperGroup):
    """The command group; every error becomes one line on stderr and an exit status.

    Its connection options are also accepted after the command name (see _connection_options).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Here, not in run(): every way of running the app (tests' CliRunner, the completion
        # scripts' generator) gets the same commands.
        _bounded_numbers(self)
        _connection_options(self)

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as exc:
            # Bare `cachectl` shows the help (on stderr, status 2); other errors are one line.
            if type(exc).__name__ == "NoArgsIsHelpError" or not _is_usage_error(exc):
                raise
            path = info_name or "cachectl"
            _usage_error(exc, path if parent is None else f"{parent.command_path} {path}")

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CachectlError as exc:
            report(
                str(exc) or type(exc).__name__, "aborted" if isinstance(exc, Declined) else "error"
            )
            raise typer.Exit(exit_status(exc)) from None
        except BrokenPipeError:
            # The reader went away (`cachectl keys | head -1`): nothing more can reach it.
            raise typer.Exit(1) from None
        except Exception as exc:
            # Exits (they carry an exit_code) are the framework's to report. Anything else is
            # a bug, not a user error: one line and a status all the same, the traceback on
            # request.
            if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
                # End of input or Ctrl-C at the confirmation prompt: not answered yes. The
                # cursor is still on the question's line.
                typer.echo("", err=True)
                report("no answer at the prompt; nothing was deleted", "aborted")
                raise typer.Exit(exit_status(Declined())) from None
            if isinstance(exc, typer.Exit):
                raise
            if _is_usage_error(exc):
                # A subcommand's options, parsed here: the error names its command, or not.
                sub = ctx.invoked_subcommand
                _usage_error(exc, f"{ctx.command_path} {sub}" if sub else ctx.command_path)
            if hasattr(exc, "exit_code"):
                raise
            if os.environ.get("CACHECTL_DEBUG"):
                raise

            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                report(f"cannot write the output: {exc}")
                raise typer.Exit(1) from None
            text = str(exc).strip().split("\n")[0]
            report(
                f"internal error: {type(exc).__name__}: {text} "
                "(CACHECTL_DEBUG=1 shows the traceback)"
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    name="cachectl",
    cls=CachectlGroup,
    help="Operate a cachectl cache on Redis or Redis Cluster: stats, keys, inspect, flush, "
    "latency; warm an application's endpoints; or run the demo. The connection options "
    "(--url, --namespace, --password-file, --timeout) go before the command name or after it; "
    "given in both places, the one after wins.",
    epilog=f"{EXIT_STATUSES}\n\n{EXAMPLES}",
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
            "detected), redis+sentinel://host:26379,.../service. Else $CACHECTL_URL, $REDIS_URL, "
            "the settings file, "
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
            help="Wait this long to connect and for each reply (a positive, finite number). "
            "Else $CACHECTL_TIMEOUT, the settings file, 2.",
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
    ./pyproject.toml > defaults. They go before the command name or after it (`cachectl stats
    --url URL`); given in both places, the one after wins. An option or CACHECTL_ variable
    given empty is an error, not the default. Passwords are never printed; URLs are shown
    redacted."""
    ctx.obj = Settings(url, namespace, password_file, timeout)


#: The commands in the order --help lists them: each module's function of its own name, its
#: help ending with the module's EXAMPLES.
COMMANDS = (stats, keys, inspect, flush, latency, namespaces, warm, demo, doctor, ui)
for _module in COMMANDS:
    _name = _module.__name__.rpartition(".")[2]
    app.command(epilog=_module.EXAMPLES)(getattr(_module, _name))


def _is_number(kind: Any, name: str) -> bool:
    # By class name: Typer may carry a Click of its own (typer._click).
    return any(cls.__name__ == name for cls in type(kind).__mro__)


def _bounded_numbers(command: Any, group: bool = True) -> None:
    """Every numeric option refuses what no run can use, as a usage error (status 2): nan and
    inf, which Click's float type takes (a nan threshold would pass every check, an inf
    interval overflow a timer), and anything above its maximum in common.MAXIMA, which its
    help states. The group's --timeout also refuses 0 and below, with the one message that
    CACHECTL_TIMEOUT and the settings file give (config.CLI_TIMEOUT_RANGE)."""
    import copy
    import math

    from cachectl.cli.common import DEFAULT_MAXIMUM, MAXIMA

    for param in command.params:
        if not (_is_number(param.type, "FloatParamType") or _is_number(param.type, "IntParamType")):
            continue
        kind: Any = copy.copy(param.type)  # click.FLOAT and click.INT are shared: patch a copy
        param.type = kind
        most = MAXIMA.get(param.name, DEFAULT_MAXIMUM)
        if getattr(param, "help", None):
            param.help = f"{param.help.rstrip()} At most {most:,}."

        def bounded(
            value: Any,
            p: Any,
            ctx: Any,
            convert: Any = kind.convert,
            kind: Any = kind,
            most: float = most,
            timeout: bool = group and param.name == "timeout",
        ) -> Any:
            number = convert(value, p, ctx)
            if timeout and not (math.isfinite(number) and 0 < number <= most):
                from cachectl.config import CLI_TIMEOUT_RANGE

                kind.fail(f"{CLI_TIMEOUT_RANGE}, not {value}", p, ctx)
            if isinstance(number, float) and not math.isfinite(number):
                kind.fail(f"{value!r} is not a finite number", p, ctx)
            if isinstance(number, int | float) and number > most:
                kind.fail(f"{value} is more than the maximum, {most:,}", p, ctx)
            return number

        kind.convert = bounded
    for sub in getattr(command, "commands", {}).values():
        _bounded_numbers(sub, group=False)


#: The group's options that every command also takes after its name (not --version).
CONNECTION_OPTIONS = ("url", "namespace", "password_file", "timeout")


def _connection_options(group: Any) -> None:
    """Every command also takes the group's connection options after its name, with the same
    help; a value given there replaces the one given before the name. A command's own option
    of the same name (warm's --timeout, per request) keeps it."""
    import copy
    import dataclasses

    def after_the_name(ctx: Any, param: Any, value: Any) -> None:
        if value is not None:
            settings = ctx.find_object(Settings) or Settings()
            ctx.obj = dataclasses.replace(settings, **{param.name: value})

    shared = [p for p in group.params if p.name in CONNECTION_OPTIONS]
    for command in group.commands.values():
        own = {p.name for p in command.params} | {o for p in command.params for o in p.opts}
        for param in shared:
            if param.name in own or own.intersection(param.opts):
                continue
            option = copy.copy(param)
            option.expose_value = False
            option.callback = after_the_name
            # The demo refuses them (its tour makes its own Redis): taken, so that the refusal
            # is its own clear one, but not listed in its help.
            option.hidden = command.name == "demo"
            command.params.append(option)


def run(args: Sequence[str]) -> int:
    """Run the application on args; returns the exit status."""
    command = typer.main.get_command(app)
    try:
        command.main(args=list(args), prog_name="cachectl")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
