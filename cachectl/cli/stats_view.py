"""How `cachectl stats` draws its report: the servers' figures, then one row per prefix; redrawn
in place by --watch on a terminal, appended to a pipe or a file.

Built on cli.render's console, units and table fitting; Rich is imported in the functions that
draw with it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from cachectl.cli.render import (
    ERROR_CELLS,
    count,
    duration,
    figures,
    fitted,
    millis,
    name,
    number,
    out,
    ratio,
    safe,
    size,
    text,
    unbreakable,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

    from cachectl.ops.server import ServerInfo
    from cachectl.ops.stats import StatsReport
    from cachectl.stats import NearSummary


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
        tables.append(unbreakable(table))
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
        figures(prefixes, *shown)
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
    table, fits = fitted(partial(build, shown=columns), names)
    for group in STATS_DROP_ORDER:
        if fits:
            break
        dropped += [column for column in group if column in columns]
        shown = [column for column in columns if column not in dropped]
        table, fits = fitted(partial(build, shown=shown), names)
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


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the second: the stamp of a snapshot or an outage."""
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
