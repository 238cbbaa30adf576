"""`cachectl stats`: server figures and, per prefix, what the library publishes."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cachectl.cli.common import JsonOption, connection, print_text
from cachectl.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from cachectl.ops.stats import StatsReport


class StatsFormat(StrEnum):
    """How stats are printed."""

    table = "table"
    json = "json"
    prometheus = "prometheus"


def stats(
    ctx: typer.Context,
    prefix: Annotated[
        str | None,
        typer.Option(
            metavar="PREFIX", help="Only this application prefix (the first key segment)."
        ),
    ] = None,
    watch: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            min=0.1,
            help="Refresh every SECONDS in place until Ctrl-C (or rewrite --output).",
        ),
    ] = None,
    fmt: Annotated[
        StatsFormat,
        typer.Option(
            "--format",
            help="table, json, or prometheus (the text format of node-exporter's "
            "textfile collector).",
        ),
    ] = StatsFormat.table,
    min_hit_ratio: Annotated[
        float | None,
        typer.Option(
            metavar="R",
            min=0.0,
            max=1.0,
            help="Exit with status 1 when a shown prefix's hit ratio is below R (0-1).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Write json or prometheus output to FILE atomically, instead of stdout.",
        ),
    ] = None,
    max_scan: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=1,
            help="Keys examined per primary to count keys; past it counts are extrapolated.",
        ),
    ] = 1_000_000,
    json_output: JsonOption = False,
) -> None:
    """Hit ratio, latency, keys and memory per prefix, and the Redis server's figures.

    Prefix figures (hits, misses, sets, errors, fallback calls, p50/p99 latency) are those
    every process using the cache publishes to the namespace's stats hash; key counts come
    from a SCAN of every primary and memory from MEMORY USAGE of a sample of keys.
    """
    from cachectl.ops.stats import collect

    if json_output:
        if fmt not in (StatsFormat.table, StatsFormat.json):
            raise ConfigError("--json and --format prometheus exclude each other")
        fmt = StatsFormat.json
    if output is not None and fmt is StatsFormat.table:
        raise ConfigError("--output writes --format json or prometheus")
    if watch is not None and fmt is not StatsFormat.table and output is None:
        raise ConfigError("--watch refreshes the table, or rewrites --output FILE")

    with connection(ctx) as conn:

        def take() -> StatsReport:
            return collect(conn, prefix, max_scan)

        if watch is None:
            report = take()
            _emit(report, fmt, output, min_hit_ratio)
            if prefix is None and not report.prefixes:
                from cachectl.cli.namespaces import hint_if_empty

                hint_if_empty(conn, known_empty=True)
        elif output is None:
            from cachectl.cli import render

            report = render.watch_stats(take, watch, min_hit_ratio)
        else:
            report = _rewrite(take, fmt, output, watch)
    if min_hit_ratio is not None:
        low = report.below(min_hit_ratio)
        if low:
            shown = ", ".join(f"{row.prefix} {row.stats.hit_ratio:.1%}" for row in low)
            raise CheckFailed(f"hit ratio below {min_hit_ratio:.1%}: {shown}")


def _emit(
    report: StatsReport, fmt: StatsFormat, output: Path | None, min_hit_ratio: float | None
) -> None:
    if fmt is StatsFormat.table:
        from cachectl.cli import render

        render.show_stats(report, min_hit_ratio)
        return
    text = _text(report, fmt)
    if output is None:
        print_text(text)
    else:
        _write_atomically(output, text)


def _text(report: StatsReport, fmt: StatsFormat) -> str:
    if fmt is StatsFormat.prometheus:
        from cachectl.ops.prometheus import render as exposition

        return exposition(report)
    import json

    return json.dumps(report.to_dict(), indent=2) + "\n"


def _rewrite(
    take: Callable[[], StatsReport], fmt: StatsFormat, output: Path, interval: float
) -> StatsReport:
    report = take()
    try:
        while True:
            _write_atomically(output, _text(report, fmt))
            time.sleep(interval)
            report = take()
    except KeyboardInterrupt:
        return report


def _write_atomically(path: Path, text: str) -> None:
    # A collector reading the file mid-write would see half the metrics: write, then rename.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc}") from None
