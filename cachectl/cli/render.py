"""What every command's view draws with: the consoles, escaping, units and tables that fit.

Each command's view lives next to it (cli/stats_view.py beside cli/stats.py, and so on) and is
built on these. Rich is imported only in the functions that draw with it: a plain line to a pipe
(a cron job's flush report) and --json need none of it.

Every name and value from Redis, a settings file or the command line is hostile until shown
through safe(): control characters, bidi overrides and bytes that are not UTF-8 appear as
visible escapes. Rich is told to interpret no markup and no emoji codes, so '[bold]' in a key
is text; and a render hook escapes whatever reaches a console unescaped all the same.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

from cachectl.ops.display import ESCAPE, visible
from cachectl.ops.display import HIDDEN as HIDDEN
from cachectl.ops.display import safe as safe

if TYPE_CHECKING:
    from rich.console import Console, OverflowMethod
    from rich.table import Table
    from rich.text import Text


# -- escaping ---------------------------------------------------------------------------------

# HIDDEN and safe() live in cachectl.ops.display: the Prometheus text escapes alike.


def text(value: str | bytes, style: str = "", overflow: OverflowMethod | None = None) -> Text:
    """A Rich Text of value made safe (never parsed for markup)."""
    from rich.text import Text

    return Text(safe(value), style=style, overflow=overflow)


def markup(value: str | bytes) -> str:
    """value made safe and escaped for Rich markup, for the rare string that is parsed."""
    from rich.markup import escape

    return escape(safe(value))


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\n"  # json.dumps escapes those inside strings: this one is indentation
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(document: Any) -> str:
    """document as JSON: exact (parsed back it is the same), with every HIDDEN character written
    as a \\u escape, so that a terminal showing it is never driven by a value."""
    return HIDDEN.sub(_json_escape, json.dumps(document, indent=2, ensure_ascii=False))


def _console(stderr: bool) -> Console:
    """A console that parses no markup or emoji codes and escapes what was not made safe."""
    from rich.console import Console, ConsoleOptions, RenderHook, RenderResult
    from rich.measure import Measurement
    from rich.segment import Segment

    class Escaped:
        """A renderable's segments with HIDDEN characters (line breaks aside) escaped."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            for segment in console.render(self.inner, options):
                body = segment.text
                if segment.control is None and body and not body.isprintable():
                    body = "\n".join(HIDDEN.sub(visible, part) for part in body.split("\n"))
                    yield Segment(body, segment.style)
                else:
                    yield segment

        def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
            return Measurement.get(console, options, self.inner)

    class Escaping(RenderHook):
        def process_renderables(self, renderables: list[Any]) -> list[Any]:
            return [Escaped(r) for r in renderables]

    console = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    console.push_render_hook(Escaping())
    return console


@cache
def out() -> Console:
    """The console on standard output (wide when it is a file or a pipe: logs read better)."""
    console = _console(stderr=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = max(console.width, 120)
    return console


@cache
def err() -> Console:
    """The console on standard error (progress, prompts, notes)."""
    return _console(stderr=True)


def plain(stream: TextIO | None) -> bool:
    """True when Rich would find no terminal on stream, decided without loading Rich."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False  # settings Rich reads: it decides
    try:
        return stream is None or not stream.isatty()
    except ValueError:  # closed
        return True


def line(message: str) -> None:
    """One line of text on stdout, made safe (printed as is to a pipe, without loading Rich)."""
    if plain(sys.stdout):
        print(safe(message), flush=True)
    else:
        out().print(text(message))


def width() -> int:
    """The width output is laid out for, decided without loading Rich as Rich decides it:
    $COLUMNS, else the terminal's, else 120 for a pipe or a file."""
    try:
        return max(int(os.environ["COLUMNS"]), 20)
    except (KeyError, ValueError):
        pass
    try:
        if sys.stdout.isatty():
            return max(os.get_terminal_size(sys.stdout.fileno()).columns, 20)
    except (OSError, ValueError):  # closed, or no file descriptor (a test's capture)
        pass
    return 120


def prose(message: str) -> str:
    """A sentence made safe and wrapped at width() (names in it cut: see name())."""
    import textwrap

    return "\n".join(textwrap.wrap(safe(message), width(), break_on_hyphens=False)) + "\n"


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr, made safe."""
    err().print(text(message))


# -- units ------------------------------------------------------------------------------------


def size(n: int | None) -> str:
    """Bytes in a human unit: 88 B, 1.1 KiB, 769.9 KiB (every table uses this one)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if round(abs(value), 1) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float | None) -> str:
    """Seconds as 3d 4h, 5m 2s, 1.5s."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.0f}s"
    parts = []
    whole = int(seconds)
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= span:
            parts.append(f"{whole // span}{unit}")
            whole %= span
    return " ".join(parts[:2])


def elapsed(seconds: float) -> str:
    """A measured duration: milliseconds below a second."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ttl(ms: int | None) -> str:
    """A TTL in milliseconds; no expiry as '-'."""
    return "-" if ms is None else duration(ms / 1000)


def ratio(value: float | None) -> str:
    """A ratio as a percentage."""
    return "-" if value is None else f"{value:.1%}"


def millis(value: float | None) -> str:
    """Milliseconds with microsecond resolution."""
    return "-" if value is None else f"{value:.3f}"


def number(value: int) -> str:
    """An integer with thousands separators."""
    return f"{value:,}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 key', '1,200 keys'."""
    return f"{number(n)} {noun if n == 1 else plural or noun + 's'}"


def key_text(key: bytes) -> Text:
    """A key made safe (controls escaped, bytes that are not UTF-8 shown as \\xNN), folded
    over lines, at most KEY_CELLS of it (--json has it whole)."""
    return text(name(key, KEY_CELLS), overflow="fold")


def middle(value: str, width: int) -> str:
    """value (made safe) shortened in the middle to width cells ('very-lo…prefix') when it is
    wider; an escape ('\\x1b[2J', '\\xff') is kept whole or left out, never cut."""
    if 2 * len(value) <= width:
        return value  # no character takes more than 2 cells (and Rich need not load)
    from rich.cells import cell_len

    if cell_len(value) <= width:
        return value
    units = [m.group() for m in ESCAPE.finditer(value)]
    room = max(width - 1, 2)
    head_room, tail_room = (room + 1) // 2, room // 2
    head: list[str] = []
    for unit in units:
        head_room -= cell_len(unit)
        if head_room < 0:
            break
        head.append(unit)
    tail: list[str] = []
    for unit in reversed(units[len(head) :]):
        tail_room -= cell_len(unit)
        if tail_room < 0:
            break
        tail.append(unit)
    return "".join(head) + "…" + "".join(reversed(tail))


#: Cells of a title or a sentence naming something (a 100 KB prefix is shown cut to this).
NAME_CELLS = 100
#: Cells of a key in inspect's table, shown folded over lines up to this.
KEY_CELLS = 1000
#: Cells of an error line, or of a note in a stream, at most: a message quoting a 100 KB key
#: stays one readable line.
ERROR_CELLS = 500


def name(value: str | bytes, width: int = NAME_CELLS) -> str:
    """A name, or a title or sentence holding one, made safe and shortened in the middle to
    width cells: a 100 KB key or prefix is never printed whole (--json has it whole)."""
    return middle(safe(value), width)


# -- tables -----------------------------------------------------------------------------------
#
# Columns of figures are no_wrap with their widest cell as minimum width: Rich then shrinks
# only the columns of names, which wrap (keys, endpoints) or are shortened in the middle
# (prefixes), and a figure is never cut to 'hi…' or '63.…'.


def unbreakable(table: Table) -> Table:
    """table with every no_wrap column at least as wide as its widest cell."""
    from rich.cells import cell_len
    from rich.text import Text

    for column in table.columns:
        if column.no_wrap:
            cells = [column.header, *column.cells]
            widths = (c.cell_len if isinstance(c, Text) else cell_len(str(c)) for c in cells)
            column.min_width = max(widths)
    return table


def fitted(
    build: Callable[[Callable[[str], Text]], Table], names: Iterable[str]
) -> tuple[Table, bool]:
    """The table build(name cell maker) draws, names shortened in the middle to fit the
    console, and whether it fits.

    build is called once with text(); when that table is wider than the console, once more
    with names cut by the excess (to no fewer than 12 cells).
    """
    from rich.cells import cell_len
    from rich.measure import Measurement

    console = out()

    def width(table: Table) -> int:
        return Measurement.get(console, console.options.update_width(1 << 20), table).maximum

    table = unbreakable(build(text))
    excess = width(table) - console.width
    if excess <= 0:
        return table, True
    longest = max((cell_len(safe(name)) for name in names), default=0)
    room = max(longest - excess, 12)
    table = unbreakable(build(lambda name: text(middle(safe(name), room))))
    return table, width(table) <= console.width


def figures(table: Table, *names: str) -> None:
    """Right-aligned, never-wrapped columns of figures."""
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
