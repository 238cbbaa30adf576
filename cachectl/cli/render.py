"""Everything the tool prints. The only module that imports Rich, and only in the functions that
draw with it: a plain line to a pipe (a cron job's flush report) needs none of it.

Every name and value from Redis, a settings file or the command line is hostile until shown
through safe(): control characters, bidi overrides and bytes that are not UTF-8 appear as
visible escapes. Rich is told to interpret no markup and no emoji codes, so '[bold]' in a key
is text; and a render hook escapes whatever reaches a console unescaped all the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TextIO

from cachectl.ops.display import ESCAPE, visible
from cachectl.ops.display import HIDDEN as HIDDEN
from cachectl.ops.display import safe as safe

if TYPE_CHECKING:
    from rich.console import Console, OverflowMethod, RenderableType
    from rich.table import Table
    from rich.text import Text

    from cachectl.demo.environment import DemoEnvironment
    from cachectl.demo.summary import DemoSummary
    from cachectl.demo.tour import Step
    from cachectl.ops.flush import FlushResult
    from cachectl.ops.inspect import Inspection
    from cachectl.ops.latency import LatencyReport
    from cachectl.ops.listing import Listing
    from cachectl.ops.selection import Selection
    from cachectl.ops.server import ServerInfo
    from cachectl.ops.stats import StatsReport
    from cachectl.stats import NearSummary
    from cachectl.warm import WarmReport


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


def _plain(stream: TextIO | None) -> bool:
    """True when Rich would find no terminal on stream, decided without loading Rich."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False  # settings Rich reads: it decides
    try:
        return stream is None or not stream.isatty()
    except ValueError:  # closed
        return True


def line(message: str) -> None:
    """One line of text on stdout, made safe (printed as is to a pipe, without loading Rich)."""
    if _plain(sys.stdout):
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


def name(value: str | bytes, width: int = NAME_CELLS) -> str:
    """A name, or a title or sentence holding one, made safe and shortened in the middle to
    width cells: a 100 KB key or prefix is never printed whole (--json has it whole)."""
    return middle(safe(value), width)


# -- tables -----------------------------------------------------------------------------------
#
# Columns of figures are no_wrap with their widest cell as minimum width: Rich then shrinks
# only the columns of names, which wrap (keys, endpoints) or are shortened in the middle
# (prefixes), and a figure is never cut to 'hi…' or '63.…'.


def _unbreakable(table: Table) -> Table:
    """table with every no_wrap column at least as wide as its widest cell."""
    from rich.cells import cell_len
    from rich.text import Text

    for column in table.columns:
        if column.no_wrap:
            cells = [column.header, *column.cells]
            widths = (c.cell_len if isinstance(c, Text) else cell_len(str(c)) for c in cells)
            column.min_width = max(widths)
    return table


def _fitted(
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

    table = _unbreakable(build(text))
    excess = width(table) - console.width
    if excess <= 0:
        return table, True
    longest = max((cell_len(safe(name)) for name in names), default=0)
    room = max(longest - excess, 12)
    table = _unbreakable(build(lambda name: text(middle(safe(name), room))))
    return table, width(table) <= console.width


def _figures(table: Table, *names: str) -> None:
    """Right-aligned, never-wrapped columns of figures."""
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)


# -- stats ------------------------------------------------------------------------------------


def _servers(report: StatsReport) -> list[Table]:
    """The servers table; split by node into tables that fit the console (a big cluster)."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    fields: list[tuple[str, str, Callable[[ServerInfo], str]]] = [
        (
            "version",
            "version",
            lambda s: f"{'' if s.server == 'redis' else s.server + ' '}{s.version} {s.mode}",
        ),
        ("uptime", "uptime_seconds", lambda s: duration(s.uptime_seconds)),
        ("used memory", "used_memory", lambda s: size(s.used_memory)),
        ("peak memory", "peak_memory", lambda s: size(s.peak_memory)),
        ("max memory", "max_memory", lambda s: size(s.max_memory) if s.max_memory else "no limit"),
        ("eviction policy", "maxmemory_policy", lambda s: s.maxmemory_policy),
        ("evicted keys", "evicted_keys", lambda s: number(s.evicted_keys)),
        ("keyspace hits", "keyspace_hits", lambda s: number(s.keyspace_hits)),
        ("keyspace misses", "keyspace_misses", lambda s: number(s.keyspace_misses)),
        ("hit ratio", "hit_ratio", lambda s: ratio(s.hit_ratio)),
        ("clients", "connected_clients", lambda s: number(s.connected_clients)),
        ("keys in database", "keys", lambda s: number(s.keys)),
    ]
    if any(s.sentinel_service for s in report.servers):
        # Which node is the primary now: the column's name; this row says Sentinel chose it.
        fields.insert(
            0, ("primary of", "sentinel_service", lambda s: f"{s.sentinel_service} (Sentinel)")
        )
    # A figure INFO did not give is "-", never a zero it did not say (see server_notes).
    cells = [
        [safe(cell(server)) if server.given(figure) else "-" for _label, figure, cell in fields]
        for server in report.servers
    ]
    widths = [
        max(cell_len(safe(server.node)), *(cell_len(c) for c in column))
        for server, column in zip(report.servers, cells, strict=True)
    ]
    # Groups of nodes that fit next to the labels, one node at least; a column takes its
    # width and 3 more (a space of padding each side, one between).
    groups: list[range] = []
    start, used = 0, max(len(label) for label, _figure, _cell in fields)
    for end, width in enumerate(widths):
        if end > start and used + 3 + width > out().width:
            groups.append(range(start, end))
            start, used = end, max(len(label) for label, _figure, _cell in fields)
        used += 3 + width
    groups.append(range(start, len(widths)))
    tables: list[Table] = []
    for group in groups:
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            title=None if tables else text(name(f"Redis {report.url}")),
            title_justify="left",
        )
        table.add_column("", no_wrap=True)
        for i in group:
            table.add_column(text(report.servers[i].node), justify="right", no_wrap=True)
        for row, (label, _figure, _cell) in enumerate(fields):
            table.add_row(label, *(cells[i][row] for i in group))
        tables.append(_unbreakable(table))
    return tables


def stats_view(report: StatsReport, min_hit_ratio: float | None = None) -> RenderableType:
    """The servers table and the prefixes table."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    servers: list[RenderableType] = []
    for table in _servers(report):
        servers += [Text(""), table] if servers else [table]
    skipped = f"{count(report.skipped_fields, 'unusable field')} of the stats hash skipped"
    # What INFO did not say (refused, renamed, a section hidden), under the servers' figures.
    from cachectl.ops.server import server_notes

    measured = [text(note) for note in server_notes(report.servers)]
    if not report.prefixes:
        empty = f"{name(f'Namespace {report.namespace!r}')}: no keys and no published stats."
        if report.skipped_fields:
            empty += f" {skipped}."
        return Group(*servers, *measured, Text(""), text(empty))
    approx = "" if report.keys_exact else "~"

    def cells(stats: Any, keys: int, memory: int | None) -> dict[str, Text | str]:
        low = (
            min_hit_ratio is not None
            and stats.hit_ratio is not None
            and stats.hit_ratio < min_hit_ratio
        )
        return {
            "hits": number(stats.hits),
            "misses": number(stats.misses),
            "ratio": Text(ratio(stats.hit_ratio), style="bold red" if low else ""),
            "sets": number(stats.sets),
            "errors": number(stats.errors),
            "fallback": number(stats.fallback),
            "near": number(stats.near),
            "p50 ms": millis(stats.percentile_ms(50)),
            "p99 ms": millis(stats.percentile_ms(99)),
            "keys": approx + number(keys),
            "memory": (approx + size(memory)) if memory is not None else "-",
        }

    rows = [(r.prefix, cells(r.stats, r.keys, r.memory)) for r in report.prefixes]
    keys = sum(r.keys for r in report.prefixes)
    total = cells(report.total, keys, report.total_memory)

    def build(cell: Callable[[str], Text], shown: Sequence[str]) -> Table:
        prefixes = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,  # two spaces between columns: 11 of them fit 100 columns
            title=text(name(f"Namespace {report.namespace!r}")),
            title_justify="left",
        )
        prefixes.add_column("prefix", no_wrap=True)
        _figures(prefixes, *shown)
        for prefix, row in rows:
            prefixes.add_row(cell(prefix), *(row[column] for column in shown))
        if len(rows) > 1:
            prefixes.add_section()
            prefixes.add_row(Text("total"), *(total[c] for c in shown), style="bold")
        return prefixes

    # Where the figures do not fit, columns give way, the least read first; the note below
    # the table names every one left out. The near column shows once a near cache answered.
    names = [r.prefix for r in report.prefixes]
    columns = [c for c in STATS_COLUMNS if c != "near" or report.total.near]
    dropped: list[str] = []
    table, fits = _fitted(partial(build, shown=columns), names)
    for group in STATS_DROP_ORDER:
        if fits:
            break
        dropped += [column for column in group if column in columns]
        shown = [column for column in columns if column not in dropped]
        table, fits = _fitted(partial(build, shown=shown), names)
    notes = []
    if dropped:
        notes.append(f"Not shown at this width: {', '.join(dropped)} (--json has every column).")
    if not report.keys_exact:
        notes.append("~ key counts and memory extrapolated from a partial scan (see --max-scan)")
    if report.skipped_fields:
        notes.append(skipped)
    notes += report.notes
    if report.near is not None:
        notes.append(near_note(report.near))
    return Group(*servers, *measured, Text(""), table, *(text(n) for n in notes))


def near_note(near: NearSummary) -> str:
    """One line on the namespace's near caches (the processes that published lately)."""
    if not near.processes:
        return f"Near caches: {count(near.skipped, 'unusable snapshot')} skipped."
    states = [(n, state) for state in ("on", "starting", "off") if (n := getattr(near, state))]
    line = (
        f"Near caches: {count(near.processes, 'process', 'processes')} "
        f"({', '.join(f'{n} {state}' for n, state in states)}), "
        f"{count(near.entries, 'entry', 'entries')}, {size(near.bytes)}, "
        f"{count(near.flushes, 'flush', 'flushes')} since they started"
    )
    if near.skipped:
        line += f"; {count(near.skipped, 'unusable snapshot')} skipped"
    return line + "."


#: The columns of the stats prefixes table after the prefix, and the groups of them left out,
#: in that order, while the table is wider than the console (hits and ratio always stay).
STATS_COLUMNS = (
    "hits", "misses", "ratio", "near", "sets", "errors", "fallback", "p50 ms", "p99 ms", "keys",
    "memory",
)  # fmt: skip
STATS_DROP_ORDER = (
    ("sets", "errors", "fallback"), ("near",), ("p99 ms",), ("p50 ms",), ("memory",), ("keys",),
    ("misses",)
)  # fmt: skip


def show_stats(report: StatsReport, min_hit_ratio: float | None = None) -> None:
    """Print the stats tables."""
    out().print(stats_view(report, min_hit_ratio))


@contextlib.contextmanager
def live_stats(
    min_hit_ratio: float | None,
) -> Iterator[Callable[[StatsReport, str | None], None]]:
    """On a terminal: a view of the stats tables redrawn in place by each call of the function
    it yields (with a note, such as Redis being unreachable, shown in red under the last
    tables); the cursor is shown again however the block ends."""
    from rich.console import Group
    from rich.live import Live

    def view(report: StatsReport, note: str | None) -> RenderableType:
        tables = stats_view(report, min_hit_ratio)
        return tables if note is None else Group(tables, text(note, style="bold red"))

    with Live(console=out(), auto_refresh=False) as live:
        yield lambda report, note: live.update(view(report, note), refresh=True)


def append_stats(report: StatsReport, as_json: bool, min_hit_ratio: float | None) -> None:
    """One timestamped snapshot appended to stdout, flushed: a JSON document on one line, or a
    '# <time>' line and the tables (for a pipe or a file, where nothing is redrawn)."""
    stamp = utc_now()
    if as_json:
        sys.stdout.write(json.dumps({"time": stamp, **report.to_dict()}) + "\n")
    else:
        sys.stdout.write(f"# {stamp}\n")
        sys.stdout.flush()
        show_stats(report, min_hit_ratio)
        sys.stdout.write("\n")
    sys.stdout.flush()


def append_unreachable(last: StatsReport, note: str, error: str, since: str, as_json: bool) -> None:
    """An interval Redis did not answer, appended as append_stats appends a snapshot: a JSON
    document with "unreachable": true, the error and when the outage began, or a '# <time>'
    line and the note."""
    stamp = utc_now()
    if as_json:
        document = {
            "time": stamp,
            "url": last.url,
            "namespace": last.namespace,
            "unreachable": True,
            "since": since,
            "error": error,
        }
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        sys.stdout.write(f"# {stamp}\n{name(note, ERROR_CELLS)}\n\n")
    sys.stdout.flush()


#: Cells of an error line, or of a note in a stream, at most: a message quoting a 100 KB key
#: stays one readable line.
ERROR_CELLS = 500


def utc_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# -- keys -------------------------------------------------------------------------------------


def show_listing(listing: Listing) -> None:
    """Print a key listing, saying which keys of how many are shown."""
    from rich.table import Table

    table = Table(title=text(name(listing.selection)), title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("type", no_wrap=True)
    _figures(table, "ttl", "memory")
    table.add_column("codec", no_wrap=True)
    for row in listing.rows:
        table.add_row(
            key_text(row.key), row.type, ttl(row.ttl_ms), size(row.memory), text(row.codec)
        )
    shown, matched = len(listing.rows), listing.matched
    order = {"name": "by name", "ttl": "soonest expiry first", "memory": "biggest first"}
    if listing.top is not None:
        basis = "MEMORY USAGE" if listing.ranked_by != "strlen" else "by value length"
        note = f"the {count(shown, 'biggest key')} ({basis})"
    elif listing.truncated and matched is not None:
        note = (
            f"the first {number(shown)} of {count(matched, 'matching key')}, "
            f"{order[listing.sort]} (--limit shows more)"
        )
    else:
        note = count(shown, "key") + ("" if listing.sort == "name" else f", {order[listing.sort]}")
    if listing.top is not None and listing.truncated and matched is not None:
        note += f" of {count(matched, 'matching key')}"
    # Below the table, not its caption: a caption wraps at the table's width.
    out().print(_unbreakable(table))
    out().print(text(note))
    for line in listing.notes:
        out().print(text(line))


# -- inspect ----------------------------------------------------------------------------------


def show_inspection(found: Inspection) -> None:
    """Print what is known of a key, then its value (bounded: see inspect --max-bytes)."""
    import json

    from rich.pretty import Pretty
    from rich.table import Table
    from rich.text import Text

    from cachectl.ops.inspect import UNITS, hexdump_lines, jsonable

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("key", key_text(found.key))
    grid.add_row("redis key", key_text(found.full_key))
    grid.add_row("type", text(found.type))
    grid.add_row("ttl", ttl(found.ttl_ms) if found.ttl_ms is not None else "no expiry")
    memory = size(found.memory)
    if found.memory is None and found.memory_note:
        memory += f" ({found.memory_note})"
    grid.add_row("memory", text(memory))
    tags = ", ".join(found.tags) if found.tags else "-"
    if found.tags_searched is not None:  # the search stopped: say so rather than imply none
        tags += f" (tag sets searched among the first ~{found.tags_searched:,} keys only)"
    grid.add_row("tags", text(tags))
    if found.length is not None:
        grid.add_row("items", f"{number(found.length)} (first {_shown(found.value)} shown)")
    if found.type == "string":
        grid.add_row("codec", text(found.codec))  # as `keys` names it
    encoding = found.encoding
    if encoding is not None:
        grid.add_row("format", "cachectl" if encoding.format == "cachectl" else "not cachectl's")
        grid.add_row("serializer", encoding.serializer)
        grid.add_row("compression", encoding.compression)
        sizes = f"{size(encoding.stored_size)} stored"
        if encoding.payload_size is not None:
            sizes += f", {size(encoding.payload_size)} decoded"
        if encoding.ratio is not None:
            sizes += f" (ratio {encoding.ratio:.2f})"
        grid.add_row("size", sizes)
        if encoding.fresh_until_ms is not None:
            left = encoding.fresh_until_ms / 1000 - time.time()
            grid.add_row("fresh for", duration(left) if left > 0 else "stale (being refreshed)")
    console = out()
    console.print(grid)
    console.print()
    serializer = encoding.serializer if encoding is not None else None
    if found.raw is not None:
        stream(hexdump_lines(found.raw, len(found.raw), total=found.size))
    elif found.error is not None:
        console.print(text(f"corrupt value: {found.error}", style="bold red"))
        stream(hexdump_lines(found.head, total=found.size))
    elif serializer in ("binary", "pickle") and isinstance(found.value, bytes):
        if serializer == "pickle":
            console.print(Text("a pickle: shown, never unpickled (that would run its code)"))
        total = len(found.value) + found.left_out.get("bytes", 0)
        stream(hexdump_lines(found.value, len(found.value), total=total))
    elif serializer == "text":
        stream([str(found.value)])
    elif serializer == "json":
        stream([json.dumps(jsonable(found.value), indent=2, ensure_ascii=False)])
    else:
        # Never cut by Rich: clip() bounded the value and wrote its own markers.
        console.print(Pretty(found.value, max_length=None, max_string=None, indent_guides=True))
    omitted = found.left_out
    if omitted and found.raw is None and serializer not in ("binary", "pickle"):
        parts = [count(omitted[unit], f"more {unit[:-1]}") for unit in UNITS if omitted.get(unit)]
        console.print(Text(f"(value shortened: {', '.join(parts)} left out)"))


def stream(lines: Iterable[str]) -> None:
    """Lines of any length and number written to stdout as they come, made safe, in time
    linear in their size: never laid out by Rich (a hex dump of megabytes would take it
    minutes), so a terminal wraps them itself."""
    file = out().file if not _plain(sys.stdout) else sys.stdout
    batch: list[str] = []
    size = 0
    for chunk in lines:
        batch.append(safe(chunk, newlines=True))
        size += len(chunk)
        if size >= 1 << 16:
            file.write("\n".join(batch) + "\n")
            batch, size = [], 0
    if batch:
        file.write("\n".join(batch) + "\n")
    file.flush()


def _shown(value: Any) -> int:
    """Items of a clipped collection shown, its '... N more items' marker aside."""
    from cachectl.ops.inspect import Omitted

    if not isinstance(value, list | dict):
        return 0
    return sum(not isinstance(item, Omitted) for item in value)


# -- flush ------------------------------------------------------------------------------------


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
    if not show or _plain(sys.stderr) or not err().is_terminal:
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
        line(f"Nothing to delete: no keys match ({name(selection.label)}).")
        return
    line(
        f"Deleted {count(result.removed, 'key')} ({name(selection.label)}) in "
        f"{elapsed(result.seconds)}, {number(int(result.rate))} keys/s."
    )


# -- latency ----------------------------------------------------------------------------------


def show_latency(report: LatencyReport, over: Sequence[str]) -> None:
    """The probes' percentiles in milliseconds."""
    from rich.table import Table

    table = Table(title=text(name(f"Round trips to {report.url} (ms)")), title_justify="left")
    if report.cluster:
        table.add_column("node", overflow="fold")
    table.add_column("probe", overflow="fold")
    _figures(table, "samples", "min", "p50", "p90", "p99", "max")
    for probe in report.probes:
        q = probe.quantiles()
        failed = any(line.startswith(probe.name + " ") and probe.node in line for line in over)
        cells: list[Text | str] = [text(probe.name), number(len(probe.samples_us))]
        cells += [millis(q[name] / 1000) for name in ("min", "p50", "p90", "p99", "max")]
        table.add_row(
            *([text(probe.node)] if report.cluster else []),
            *cells,
            style="bold red" if failed else "",
        )
    table.caption = "PING, GET: own raw connection; set+get: through cachectl.Cache"
    table.caption_justify = "left"
    out().print(_unbreakable(table))


# -- warm -------------------------------------------------------------------------------------


@contextlib.contextmanager
def request_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar of requests on stderr (when it is a terminal)."""
    if _plain(sys.stderr) or not err().is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = err()
    columns = [SpinnerColumn(), TextColumn("requesting"), BarColumn(), MofNCompleteColumn()]
    bar = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("warm", total=None)

    def update(done: int, total: int) -> None:
        # Drawn from the first call on, which comes once the inputs are checked: a bad
        # endpoint file is reported without a bar flashing first.
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        bar.stop()


def show_warm(report: WarmReport, limit: int | None = None) -> None:
    """Per endpoint: status, cold and warm latency, speedup, cache verdict; then the summary."""
    from rich.table import Table
    from rich.text import Text

    s = report.summary
    # Latency under load includes queueing in the application: the load is named above it.
    load = (
        f"latency with {s.concurrency} requests in flight"
        if s.concurrency > 1
        else "latency one request at a time"
    )
    title = f"Warmed {report.base_url or ''}".rstrip() + f": {load}"
    table = Table(title=text(title), title_justify="left")
    for name, justify in (
        ("endpoint", "left"),
        ("status", "right"),
        ("cold ms", "right"),
        ("warm ms", "right"),
        ("speedup", "right"),
        ("cache", "left"),
    ):
        wraps = name in ("endpoint", "status")  # names and error messages; figures never
        table.add_column(name, justify=justify, no_wrap=not wraps)  # type: ignore[arg-type]
    base = (report.base_url or "").rstrip("/")
    shown = report.endpoints if limit is None else report.endpoints[:limit]
    for row in shown:
        label = row.label
        if base and label.startswith(f"{row.method} {base}/"):
            label = f"{row.method} {label[len(row.method) + 1 + len(base) :]}"
        verdict = text(row.cache, style="green" if row.cache == "HIT" else "yellow")
        status = Text(str(row.status) if row.status is not None else "-")
        if row.failed:
            status = text(row.error or str(row.status), style="red", overflow="fold")
        cold = millis(row.cold_ms) + ("*" if row.cold_cache == "HIT" else "")
        table.add_row(
            text(label, overflow="fold"),
            status,
            cold,
            millis(row.warm_ms),
            f"{row.speedup:.1f}x" if row.speedup is not None else "-",
            verdict,
        )
    out().print(_unbreakable(table))
    if len(shown) < len(report.endpoints):
        out().print(Text(f"... and {number(len(report.endpoints) - len(shown))} more endpoints"))
    counts = (
        ", ".join(f"{code}: {number(n)}" for code, n in sorted(s.status_counts.items())) or "none"
    )
    in_flight = (
        f"with {s.concurrency} requests in flight: latency includes queueing in the application "
        "(--concurrency 1 measures one request at a time)"
        if s.concurrency > 1
        else "one request at a time"
    )
    # Each time says what it covers: requesting, the measured passes (the rate's basis), and
    # the wait for published stats, which no request figure includes.
    lines = [
        f"{count(s.targets, 'endpoint')} x {count(s.passes, 'pass', 'passes')} = "
        f"{count(s.requests, 'request')}, sent in {elapsed(s.requests_s)}; statuses {counts}",
        f"measured {in_flight}",
        f"measured: p50 {millis(s.p50_ms)} ms, p95 {millis(s.p95_ms)} ms, p99 "
        f"{millis(s.p99_ms)} ms; hit ratio {ratio(s.hit_ratio)}; "
        f"{s.requests_per_s or 0:,.0f} requests/s ({count(s.measured_requests, 'request')} "
        f"in {elapsed(s.measured_s)})",
    ]
    if s.already_cached:
        one = s.already_cached == 1
        lines.append(
            f"* {s.already_cached} {'endpoint was' if one else 'endpoints were'} already cached "
            f"on pass 1: {'its' if one else 'their'} 'cold' "
            f"{'figure is a warm one' if one else 'figures are warm ones'}, so no speedup is "
            "shown (flush the cache first for a cold run)"
        )
    for origin, withheld in sorted(report.headers_withheld.items()):
        lines.append(
            f"--header values not sent to {origin} ({count(withheld, 'endpoint')}): not the "
            "--base-url "
            "origin; allow it with --header-origin"
        )
    if s.stats_delta:
        moved = ", ".join(f"{k} +{v}" for k, v in s.stats_delta.items())
        lines.append(f"published cache stats moved during the measured passes: {moved}")
    if s.settle_s is not None:
        lines.append(
            f"waited {elapsed(s.settle_s)} for the published stats to settle, before and after "
            "the measured passes (not in the request times)"
        )
    for threshold in report.thresholds:
        lines.append(("ok    " if threshold.passed else "FAILED ") + threshold.message)
    if report.interrupted:
        lines.append(
            f"INTERRUPTED after {number(s.requests)} of {number(s.targets * s.passes)} "
            "requests: the figures cover those"
        )
    for line in lines:
        out().print(text(line))


# -- demo -------------------------------------------------------------------------------------


def show_demo_environment(env: DemoEnvironment) -> None:
    """Where the demo's parts run."""

    out().rule("cachectl demo")
    out().print(
        text(
            f"Redis ({env.redis_kind}) at {env.redis_url}, the reference shop at {env.app_url}, "
            f"namespace {env.namespace!r}, database {env.db_path}"
        )
    )
    out().print(text(f"Cache Management page at {env.page_url}, admin token {env.admin_token}"))


def show_demo_step(step: Step) -> None:
    """One step of the tour, rendered like the command it stands for."""

    if step.kind == "summary":
        show_demo_summary(step.result)
        return
    out().print()
    out().rule(text(f"$ {step.title}"), align="left")
    out().print(text(step.explanation, style="italic"))
    if step.kind == "warm":
        show_warm(step.result, limit=8)
    elif step.kind == "stats":
        show_stats(step.result)
    elif step.kind == "inspect":
        show_inspection(step.result)
    elif step.kind == "flush":
        show_flushed(*step.result)
    elif step.kind == "invalidation":
        change = step.result
        out().print(
            text(
                f"{change.request} removed {len(change.removed)} of "
                f"{len(change.removed) + change.kept} entries "
                f"(X-Cache-Invalidated: {change.header}), all tagged with it:"
            )
        )
        for key in change.removed:
            out().print(text(f"  - {key}"))


def show_demo_summary(summary: DemoSummary) -> None:
    """The demo's closing summary, the speedup of the cached dashboard endpoints first."""
    out().print()
    out().rule("Summary", align="left")
    for row in summary.dashboard:
        if row.speedup is None:
            why = "no cold figure: its first request was already a cache hit"
            out().print(text(f"{row.path}: {why}; cached p50 {millis(row.warm_p50_ms)} ms"))
            continue
        out().print(
            text(
                f"{row.path}: {row.speedup:,.0f}x faster cached: cold {millis(row.cold_ms)} ms "
                f"-> cached p50 {millis(row.warm_p50_ms)} ms, p95 {millis(row.warm_p95_ms)} ms "
                f"({row.speedup_p95:,.0f}x at p95; {row.hits}/{row.samples} X-Cache: HIT)",
                style="bold",
            )
        )
    median = "-" if summary.median_speedup is None else f"{summary.median_speedup:,.1f}x"
    lines = [
        f"All {summary.endpoints} endpoints: median speedup {median}; "
        f"{summary.measured_hits} of {summary.measured} measured requests answered "
        "X-Cache: HIT",
        f"Measured one request at a time (concurrency {summary.concurrency}); cold figures only "
        f"from requests that missed the cache ({summary.cold_misses} of {summary.endpoints}); "
        "hits from each response's X-Cache header, not from published stats.",
    ]
    for line in lines:
        out().print(text(line))
