"""The command-line reference of the docs, generated from the Typer application.

    python scripts/cli_reference.py           write docs/cli-reference.md
    python scripts/cli_reference.py --check   fail when it differs from what the app says

It walks the Click command tree of `cachectl.cli.app.app` and writes each command's usage, its
help, every option as `--help` states it (defaults, ranges, maxima) and the examples that end
its help; the page is never edited by hand, and CI fails when it drifts from the code.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli-reference.md"
COMMAND = "python scripts/cli_reference.py"

#: Characters Markdown (MyST) could read as markup in a help text; each is written escaped.
MARKUP = re.compile(r"([\\`*_\[\]<>|{}~#])")


def escape(text: str) -> str:
    return MARKUP.sub(r"\\\1", text)


def paragraphs(text: str) -> list[str]:
    """Markdown for a Click help text: its paragraphs rewrapped as Click does, and a paragraph
    Click keeps as written (after a line `\\b`) as a code block."""
    out = []
    for paragraph in re.split(r"\n\s*\n", inspect.cleandoc(text).strip()):
        lines = paragraph.split("\n")
        if lines[0].strip() == "\b":
            body = "\n".join(line.strip() for line in lines[1:])
            out.append(f"```text\n{body}\n```")
        else:
            out.append(escape(" ".join(line.strip() for line in lines)))
    return out


def options(command: Any, ctx: Any, skip: set[str]) -> list[str]:
    """A definition list of the command's options, as `--help` words them."""
    out = []
    for param in command.get_params(ctx):
        if param.name in skip and not param.expose_value:
            continue  # the group's connection options, repeated after the command name
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out.append(f"`{names}`\n: {escape(' '.join(help_text.split())) or '-'}")
    return out


def section(command: Any, ctx: Any, level: int, skip: set[str]) -> list[str]:
    """The Markdown of one command: heading, usage, help, options, examples."""
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [
        f"{'#' * level} {ctx.command_path}",
        f"```text\nUsage: {ctx.command_path} {usage}\n```",
        *paragraphs(command.help or ""),
        "Options:",
        *options(command, ctx, skip),
    ]
    if skip and ctx.parent is not None:
        out.append(
            "It also takes the connection options of [`cachectl`](#cachectl) after its name "
            "(`--url`, `--namespace`, `--password-file`, `--timeout`); given in both places, "
            "the one after the name wins."
        )
    if command.epilog:
        out += paragraphs(command.epilog)
    return out


def render() -> str:
    """The whole page, from the application as it is now."""
    import typer.main

    from cachectl.cli.app import CONNECTION_OPTIONS, app

    group = typer.main.get_command(app)
    root = group.make_context("cachectl", [], resilient_parsing=True)
    subcommands = [(name, group.commands[name]) for name in group.list_commands(root)]
    parts = [
        "# Command-line reference",
        "<!-- Generated from the Typer application by scripts/cli_reference.py: do not edit by "
        "hand; CI fails when this page and the code differ. -->",
        "Every command and option as `cachectl --help` and `cachectl COMMAND --help` state them. "
        "The [command-line guide](cli.md) explains the settings and exit statuses and shows "
        "real runs of each command.",
        "| command | |\n|---|---|\n"
        + "\n".join(
            f"| [`{name}`](#cachectl-{name}) | {escape(cmd.get_short_help_str(limit=200))} |"
            for name, cmd in subcommands
        ),
        *section(group, root, 2, set()),
    ]
    for name, command in subcommands:
        ctx = command.make_context(name, [], parent=root, resilient_parsing=True)
        parts += section(command, ctx, 2, set(CONNECTION_OPTIONS))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(
                f"cli_reference: {PAGE.relative_to(ROOT)} differs from the commands' help: "
                f"run {COMMAND}",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
