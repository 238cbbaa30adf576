"""The options' vocabulary: one way to declare each kind of option, and the options several
commands share. A command declares `limit: Annotated[int | None, options.count("...")] = None`,
or a shared one as `prefix: options.Prefix = None`; cli.app adds every numeric option's maximum
(common.MAXIMA) to its help.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def option(
    metavar: str, help: str, *names: str, min: float | None = None, max: float | None = None
) -> Any:
    """An option taking a value shown as metavar, from min to max when they are given."""
    return typer.Option(*names, metavar=metavar, help=help, min=min, max=max)


def count(help: str, least: int = 1, *names: str) -> Any:
    """An option taking a whole number N, at least least."""
    return option("N", help, *names, min=least)


def flag(name: str, help: str, *aliases: str) -> Any:
    """An option that is on or off."""
    return typer.Option(name, *aliases, help=help)


def above_ms(what: str) -> Any:
    """A latency gate: exit status 1 when what is above MS milliseconds."""
    return option("MS", f"Exit with status 1 when {what} is above MS.", min=0.0)


Json = Annotated[bool, flag("--json", "Print one JSON document on stdout and nothing else there.")]
AllowEmpty = Annotated[
    bool,
    flag(
        "--allow-empty",
        "Succeed on a namespace that holds nothing of cachectl's (no entries, stats or tags). "
        "Without it that is exit status 5, with the nearest namespaces found: a mistyped "
        "--namespace never passes a check.",
    ),
]
#: stats and doctor: the figures of one application prefix.
AppPrefix = Annotated[
    str | None, option("PREFIX", "Only this application prefix (the first key segment).")
]
#: keys and flush: what a selection holds.
Prefix = Annotated[
    str | None,
    option("PREFIX", "The key equal to this prefix and every key below it (literal text)."),
]
Pattern = Annotated[str | None, option("GLOB", "Keys matching a Redis glob, inside the namespace.")]
Tag = Annotated[str | None, option("TAG", "Keys written with this tag.")]
