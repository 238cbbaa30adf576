"""Everything the tool prints. The only module that imports Rich, and only in the functions that
draw with it: a plain line to a pipe (a cron job's flush report) needs none of it."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

    from cachectl.demo.environment import DemoEnvironment
    from cachectl.demo.tour import Step
    from cachectl.ops.flush import FlushResult
    from cachectl.ops.inspect import Inspection
    from cachectl.ops.latency import LatencyReport
    from cachectl.ops.listing import Listing
    from cachectl.ops.selection import Selection
    from cachectl.ops.server import ServerInfo
    from cachectl.ops.stats import StatsReport
    from cachectl.warm import WarmReport


@cache
def out() -> Console:
    """The console on standard output (wide when it is a file or a pipe: logs read better)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = max(console.width, 120)
    return console


@cache
def err() -> Console:
    """The console on standard error (progress, prompts, notes)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _plain(stream: TextIO | None) -> bool:
    """True when Rich would find no terminal on stream, decided without loading Rich."""
    if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
        return False  # settings Rich reads: it decides
    try:
        return stream is None or not stream.isatty()
    except ValueError:  # closed
        return True


def line(text: str) -> None:
    """One line of plain text on stdout (printed as is to a pipe, without loading Rich)."""
    if _plain(sys.stdout):
        print(text, flush=True)
    else:
        from rich.text import Text

        out().print(Text(text))


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr."""
    err().print(message, markup=False)


# -- units ------------------------------------------------------------------------------------


def size(n: int | None) -> str:
    """Bytes in a human unit."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
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


def key_text(key: bytes) -> Text:
    """A key, bytes that are not UTF-8 shown escaped."""
    from rich.text import Text

    return Text(key.decode("utf-8", "backslashreplace"))


# -- stats ------------------------------------------------------------------------------------


def stats_view(report: StatsReport, min_hit_ratio: float | None = None) -> RenderableType:
    """The servers table and the prefixes table."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    servers = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=f"Redis {report.url}",
        title_justify="left",
    )
    servers.add_column("")
    for server in report.servers:
        servers.add_column(server.node, justify="right")
    fields: list[tuple[str, Callable[[ServerInfo], str]]] = [
        ("version", lambda s: f"{s.version} {s.mode}"),
        ("uptime", lambda s: duration(s.uptime_seconds)),
        ("used memory", lambda s: size(s.used_memory)),
        ("peak memory", lambda s: size(s.peak_memory)),
        ("max memory", lambda s: f"{size(s.max_memory) if s.max_memory else 'no limit'}"),
        ("eviction policy", lambda s: s.maxmemory_policy),
        ("evicted keys", lambda s: number(s.evicted_keys)),
        ("keyspace hits", lambda s: number(s.keyspace_hits)),
        ("keyspace misses", lambda s: number(s.keyspace_misses)),
        ("hit ratio", lambda s: ratio(s.hit_ratio)),
        ("clients", lambda s: number(s.connected_clients)),
        ("keys in database", lambda s: number(s.keys)),
    ]
    for label, cell in fields:
        servers.add_row(label, *(cell(server) for server in report.servers))
    approx = "" if report.keys_exact else "~"
    # Below 100 columns the counters of rarer events give way to the ones read most.
    wide = out().width >= 100
    notes = [] if wide else ["sets, errors and fallback calls: on a terminal of 100 columns"]
    if not report.keys_exact:
        notes.append("~ key counts and memory extrapolated from a partial scan (see --max-scan)")
    skipped = f"{report.skipped_fields} unusable field(s) of the stats hash skipped"
    if report.skipped_fields:
        notes.append(skipped)
    prefixes = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=f"Namespace {report.namespace!r}",
        title_justify="left",
        caption="\n".join(notes) or None,
        caption_justify="left",
    )
    prefixes.add_column("prefix", no_wrap=True)
    counters = ("hits", "misses", "ratio", "sets", "errors", "fallback")
    for name in (*(counters if wide else counters[:3]), "p50 ms", "p99 ms", "keys", "memory"):
        prefixes.add_column(name, justify="right", no_wrap=True)

    def row(label: str, stats: Any, keys: int, memory: int | None, style: str = "") -> None:
        low = (
            min_hit_ratio is not None
            and stats.hit_ratio is not None
            and stats.hit_ratio < min_hit_ratio
        )
        cells: list[Text | str] = [
            Text(label),
            number(stats.hits),
            number(stats.misses),
            Text(ratio(stats.hit_ratio), style="bold red" if low else ""),
        ]
        if wide:
            cells += [number(stats.sets), number(stats.errors), number(stats.fallback)]
        cells += [
            millis(stats.percentile_ms(50)),
            millis(stats.percentile_ms(99)),
            approx + number(keys),
            (approx + size(memory)) if memory is not None else "-",
        ]
        prefixes.add_row(*cells, style=style)

    for r in report.prefixes:
        row(r.prefix, r.stats, r.keys, r.memory)
    if len(report.prefixes) > 1:
        prefixes.add_section()
        memory = sum(r.memory or 0 for r in report.prefixes)
        row("total", report.total, sum(r.keys for r in report.prefixes), memory, style="bold")
    if not report.prefixes:
        empty = f"Namespace {report.namespace!r}: no keys and no published stats."
        if report.skipped_fields:
            empty += "\n" + skipped
        return Group(servers, Text(""), Text(empty))
    return Group(servers, Text(""), prefixes)


def show_stats(report: StatsReport, min_hit_ratio: float | None = None) -> None:
    """Print the stats tables."""
    out().print(stats_view(report, min_hit_ratio))


@contextlib.contextmanager
def live_stats(min_hit_ratio: float | None) -> Iterator[Callable[[StatsReport], None]]:
    """On a terminal: a view of the stats tables redrawn in place by each call of the function
    it yields; the cursor is shown again however the block ends."""
    from rich.live import Live

    with Live(console=out(), auto_refresh=False) as live:
        yield lambda report: live.update(stats_view(report, min_hit_ratio), refresh=True)


def append_stats(report: StatsReport, as_json: bool, min_hit_ratio: float | None) -> None:
    """One timestamped snapshot appended to stdout, flushed: a JSON document on one line, or a
    '# <time>' line and the tables (for a pipe or a file, where nothing is redrawn)."""
    import datetime
    import json

    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if as_json:
        sys.stdout.write(json.dumps({"time": stamp, **report.to_dict()}) + "\n")
    else:
        sys.stdout.write(f"# {stamp}\n")
        sys.stdout.flush()
        show_stats(report, min_hit_ratio)
        sys.stdout.write("\n")
    sys.stdout.flush()


# -- keys -------------------------------------------------------------------------------------


def show_listing(listing: Listing) -> None:
    """Print a key listing."""
    from rich.table import Table

    table = Table(title=listing.selection, title_justify="left")
    table.add_column("key", overflow="fold")
    table.add_column("type")
    table.add_column("ttl", justify="right")
    table.add_column("size", justify="right")
    table.add_column("codec")
    for row in listing.rows:
        table.add_row(key_text(row.key), row.type, ttl(row.ttl_ms), size(row.size), row.codec)
    if listing.top is not None:
        table.caption = f"the {len(listing.rows)} biggest keys (MEMORY USAGE)"
    elif listing.truncated:
        table.caption = f"first {len(listing.rows)} keys; more match (--limit shows more)"
    else:
        table.caption = f"{len(listing.rows)} keys"
    table.caption_justify = "left"
    out().print(table)


# -- inspect ----------------------------------------------------------------------------------


def show_inspection(found: Inspection) -> None:
    """Print what is known of a key, then its value."""
    from rich.pretty import Pretty
    from rich.table import Table
    from rich.text import Text

    from cachectl.ops.inspect import hexdump

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("key", key_text(found.key))
    grid.add_row("redis key", key_text(found.full_key))
    grid.add_row("type", found.type)
    grid.add_row("ttl", ttl(found.ttl_ms) if found.ttl_ms is not None else "no expiry")
    grid.add_row("memory", size(found.memory))
    grid.add_row("tags", Text(", ".join(found.tags)) if found.tags else "-")
    if found.length is not None:
        grid.add_row("items", f"{number(found.length)} (first {_shown(found.value)} shown)")
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
    if found.raw is not None:
        console.print(Text(hexdump(found.raw, len(found.raw))))
    elif found.error is not None:
        console.print(Text(f"corrupt value: {found.error}", style="bold red"))
        console.print(Text(hexdump(found.head)))
    elif encoding is not None and encoding.serializer == "text":
        console.print(Text(str(found.value)))
    elif encoding is not None and encoding.serializer == "binary":
        console.print(Text(hexdump(found.value if isinstance(found.value, bytes) else b"")))
    else:
        console.print(Pretty(found.value, max_length=200, max_string=4000, indent_guides=True))


def _shown(value: Any) -> int:
    return len(value) if isinstance(value, list | dict) else 0


# -- flush ------------------------------------------------------------------------------------


def show_plan(selection: Selection, url: str, count: int, sample: Sequence[bytes]) -> None:
    """A dry run: how many keys would go, and some of them (application keys)."""
    from rich.text import Text

    console = out()
    console.print(
        Text(f"Would delete {number(count)} keys: {selection.label}, on {url}."), markup=False
    )
    if sample:
        console.print(f"First {len(sample)}:")
        for key in sample:
            console.print(Text("  ") + key_text(key))
    console.print("Nothing was deleted (--dry-run).")


def confirm(question: str) -> bool:
    """Ask on the terminal; the answer defaults to no."""
    import typer

    return bool(typer.confirm(question, default=False, err=True))


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
        columns += [TextColumn("{task.completed:,} keys")]
    columns += [TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("flush", total=total)
        yield lambda n: bar.advance(task, n)


def show_flushed(result: FlushResult, selection: Selection) -> None:
    """How many keys were removed, and how fast."""
    if result.removed == 0:
        line(f"Nothing to delete: no keys match ({selection.label}).")
        return
    line(
        f"Deleted {number(result.removed)} keys ({selection.label}) in "
        f"{elapsed(result.seconds)}, {number(int(result.rate))} keys/s."
    )


# -- latency ----------------------------------------------------------------------------------


def show_latency(report: LatencyReport, over: Sequence[str]) -> None:
    """The probes' percentiles in milliseconds."""
    from rich.table import Table

    table = Table(title=f"Round trips to {report.url} (ms)", title_justify="left")
    if report.cluster:
        table.add_column("node")
    table.add_column("probe")
    for name in ("samples", "min", "p50", "p90", "p99", "max"):
        table.add_column(name, justify="right")
    for probe in report.probes:
        q = probe.quantiles()
        failed = any(line.startswith(probe.name + " ") and probe.node in line for line in over)
        cells = [probe.name, str(len(probe.samples_us))]
        cells += [millis(q[name] / 1000) for name in ("min", "p50", "p90", "p99", "max")]
        table.add_row(
            *([probe.node] if report.cluster else []), *cells, style="bold red" if failed else ""
        )
    table.caption = "PING, GET: own raw connection; set+get: through cachectl.Cache"
    table.caption_justify = "left"
    out().print(table)


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
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("warm", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def show_warm(report: WarmReport, limit: int | None = None) -> None:
    """Per endpoint: status, cold and warm latency, speedup, cache verdict; then the summary."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Warmed {report.base_url or ''}".rstrip(), title_justify="left")
    for name, justify in (
        ("endpoint", "left"),
        ("status", "right"),
        ("cold", "right"),
        ("warm", "right"),
        ("speedup", "right"),
        ("cache", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    base = (report.base_url or "").rstrip("/")
    shown = report.endpoints if limit is None else report.endpoints[:limit]
    for row in shown:
        label = row.label
        if base and label.startswith(f"{row.method} {base}/"):
            label = f"{row.method} {label[len(row.method) + 1 + len(base) :]}"
        verdict = Text(row.cache, style="green" if row.cache == "HIT" else "yellow")
        status = Text(str(row.status) if row.status is not None else "-")
        if row.failed:
            status = Text(row.error or str(row.status), style="red")
        table.add_row(
            Text(label, overflow="fold"),
            status,
            millis(row.cold_ms),
            millis(row.warm_ms),
            f"{row.speedup:.1f}x" if row.speedup is not None else "-",
            verdict,
        )
    out().print(table)
    if len(shown) < len(report.endpoints):
        out().print(Text(f"... and {len(report.endpoints) - len(shown)} more endpoints"))
    s = report.summary
    counts = ", ".join(f"{code}: {n}" for code, n in sorted(s.status_counts.items()))
    lines = [
        f"{s.targets} endpoints x {s.passes} passes = {s.requests} requests in "
        f"{elapsed(s.duration_s)}; statuses {counts}",
        f"measured: p50 {millis(s.p50_ms)} ms, p95 {millis(s.p95_ms)} ms, p99 "
        f"{millis(s.p99_ms)} ms; hit ratio {ratio(s.hit_ratio)}; "
        f"{s.requests_per_s or 0:,.0f} requests/s",
    ]
    if s.stats_delta:
        moved = ", ".join(f"{k} +{v}" for k, v in s.stats_delta.items())
        lines.append(f"cache stats moved: {moved}")
    for threshold in report.thresholds:
        lines.append(("ok    " if threshold.passed else "FAILED ") + threshold.message)
    for line in lines:
        out().print(Text(line))


# -- demo -------------------------------------------------------------------------------------


def show_demo_environment(env: DemoEnvironment) -> None:
    """Where the demo's parts run."""
    from rich.text import Text

    out().rule("cachectl demo")
    out().print(
        Text(
            f"Redis ({env.redis_kind}) at {env.redis_url}, the reference shop at {env.app_url}, "
            f"namespace {env.namespace!r}, database {env.db_path}"
        )
    )


def show_demo_step(step: Step) -> None:
    """One step of the tour, rendered like the command it stands for."""
    from rich.text import Text

    out().print()
    out().rule(f"$ {step.title}", align="left")
    out().print(Text(step.explanation, style="italic"))
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
            Text(
                f"{change.request} removed {len(change.removed)} of "
                f"{len(change.removed) + change.kept} entries "
                f"(X-Cache-Invalidated: {change.header}), all tagged with it:"
            )
        )
        for key in change.removed:
            out().print(Text(f"  - {key}"))
