"""How `cachectl flush` talks: the plan of a dry run, the confirmation, the progress bar, and
what was deleted."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from cachectl.cli.render import KEY_CELLS, count, elapsed, err, line, name, number, plain, safe

if TYPE_CHECKING:
    from cachectl.ops.flush import FlushResult
    from cachectl.ops.selection import Selection


def show_plan(
    selection: Selection,
    url: str,
    total: int,
    sample: Sequence[bytes],
    max_keys: int | None = None,
) -> None:
    """A dry run: how many keys would go, some of them (application keys), and whether the
    real run would be refused by --max-keys."""
    line(f"Would delete {count(total, 'key')}: {name(selection.label)}, on {name(url)}.")
    if total == 0 and selection.hint:
        line(f"{selection.hint[0].upper()}{selection.hint[1:]}")
    if sample:
        shown = "all of them" if len(sample) == total else f"{number(len(sample))} of them"
        line(f"{shown[0].upper()}{shown[1:]}:")
        for key in sample:
            line("  " + name(key, KEY_CELLS))
    line("Nothing was deleted (--dry-run).")
    if max_keys is not None and total > max_keys:
        line(f"Without --dry-run it would be refused: more than --max-keys {number(max_keys)}.")


def confirm(question: str) -> bool:
    """Ask on the terminal, question made safe; the answer defaults to no."""
    import typer

    return bool(typer.confirm(safe(question), default=False, err=True))


def confirm_typed(question: str, expected: str) -> bool:
    """Ask on the terminal for expected to be typed (a name, not y): anything else is no."""
    import typer

    answer = typer.prompt(safe(question), default="", show_default=False, err=True)
    return str(answer).strip() == expected


@contextlib.contextmanager
def progress(total: int | None, show: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (when it is a terminal); yields the per-batch callback."""
    if not show or plain(sys.stderr) or not err().is_terminal:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = err()
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("deleting")]
    if total is not None:
        columns += [BarColumn(), TaskProgressColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.completed:,} so far")]
    columns += [TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("flush", total=total)
        yield lambda n: bar.advance(task, n)


def show_flushed(result: FlushResult, selection: Selection) -> None:
    """How many keys were removed, and how fast."""
    if result.removed == 0:
        hint = f" {selection.hint[0].upper()}{selection.hint[1:]}" if selection.hint else ""
        line(f"Nothing to delete: no keys match ({name(selection.label)}).{hint}")
        return
    line(
        f"Deleted {count(result.removed, 'key')} ({name(selection.label)}) in "
        f"{elapsed(result.seconds)}, {number(int(result.rate))} keys/s."
    )
