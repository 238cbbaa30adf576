"""`cachectl stats`: server figures and, per prefix, what the library publishes."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar

import typer

from cachectl.cli.common import JsonOption, connection, print_text
from cachectl.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from cachectl.ops.stats import StatsReport

T = TypeVar("T")


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
            help="Refresh every SECONDS until Ctrl-C, SIGTERM or SIGHUP (exit status 0): in "
            "place on a terminal; appended, timestamped, to a pipe or file (one JSON document "
            "a line with --json); or rewrite --output FILE.",
        ),
    ] = None,
    fmt: Annotated[
        StatsFormat,
        typer.Option(
            "--format",
            help="table, json, or prometheus (the text format of node-exporter's "
            "textfile collector: prefixes the application published, the 100 busiest as "
            "labels, the rest as '(other)'; latency as a histogram).",
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
    every process using the cache publishes to the namespace's stats hash (at most 1,000
    prefixes, the rest as '(other)'; it expires a day after the last publish; fields that are
    not usable are skipped and counted); key counts come from a SCAN of every primary and
    memory from MEMORY USAGE of a sample of keys.
    """
    from cachectl.ops.stats import collect

    if json_output:
        if fmt not in (StatsFormat.table, StatsFormat.json):
            raise ConfigError("--json and --format prometheus exclude each other")
        fmt = StatsFormat.json
    if output is not None and fmt is StatsFormat.table:
        raise ConfigError("--output writes --format json or prometheus")
    if watch is not None and fmt is StatsFormat.prometheus and output is None:
        raise ConfigError("--watch with --format prometheus rewrites --output FILE")

    with connection(ctx) as conn:

        def take() -> StatsReport:
            return collect(conn, prefix, max_scan)

        if watch is None:
            report = take()
            _emit(report, fmt, output, min_hit_ratio)
            if prefix is None and not report.prefixes:
                from cachectl.cli.namespaces import hint_if_empty

                hint_if_empty(conn, known_empty=True)
        else:
            with _Stopper() as stopper:
                if output is None:
                    report = _watch(stopper, take, watch, fmt is StatsFormat.json, min_hit_ratio)
                else:
                    report = _rewrite(stopper, take, fmt, output, watch)
    if min_hit_ratio is not None:
        low = report.below(min_hit_ratio)
        if low:
            shown = ", ".join(f"{row.prefix} {row.stats.hit_ratio:.1%}" for row in low)
            raise CheckFailed(f"hit ratio below {min_hit_ratio:.1%}: {shown}")


class _Stop(BaseException):
    """A stop was asked for (Ctrl-C, SIGTERM, SIGHUP) while waiting or collecting; a
    BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it."""


class _Stopper:
    """Turns SIGINT, SIGTERM and SIGHUP into a clean stop of a watch loop.

    A signal interrupts a wait or a collection at once, but never the writing of a snapshot (a
    reader of the stream would get half a JSON line): then it is acted on right after.
    """

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.asked = False
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.asked = True
        if self._interruptible:
            self._interruptible = False
            raise _Stop

    def run(self, work: Callable[[], T]) -> T:
        """work(), unless a stop is asked for first or meanwhile (then _Stop)."""
        self._interruptible = True
        try:
            if self.asked:
                raise _Stop
            return work()
        except KeyboardInterrupt:  # Ctrl-C before the handler was in place, or a test's
            raise _Stop from None
        finally:
            self._interruptible = False

    def sleep(self, seconds: float) -> None:
        """Wait, unless a stop is asked for (then _Stop)."""
        self.run(lambda: time.sleep(seconds))


def _watch(
    stopper: _Stopper,
    take: Callable[[], StatsReport],
    interval: float,
    as_json: bool,
    min_hit_ratio: float | None,
) -> StatsReport:
    """Snapshots every interval until stopped: redrawn in place on a terminal, appended to a
    pipe or a file (one JSON document per line with --json); the last report."""
    from cachectl.cli import render

    report = take()
    live = not as_json and render.out().is_terminal
    view = render.live_stats(min_hit_ratio) if live else contextlib.nullcontext(None)
    try:
        with view as show:
            while True:
                if show is None:
                    render.append_stats(report, as_json, min_hit_ratio)
                else:
                    show(report)
                stopper.sleep(interval)
                report = stopper.run(take)
    except _Stop:
        return report


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
    stopper: _Stopper,
    take: Callable[[], StatsReport],
    fmt: StatsFormat,
    output: Path,
    interval: float,
) -> StatsReport:
    report = take()
    try:
        while True:
            _write_atomically(output, _text(report, fmt))
            stopper.sleep(interval)
            report = stopper.run(take)
    except _Stop:
        return report


def _write_atomically(path: Path, text: str) -> None:
    # A collector reading the file mid-write would see half the metrics: write, then rename.
    # Only over a regular file (or nothing): a rename would replace a device, a FIFO or a
    # symlink (/dev/stdout) with a file, so those are written in place.
    if path.is_symlink() or (path.exists() and not path.is_file()):
        try:
            with path.open("w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise CheckFailed(f"cannot write {path}: {exc}") from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise CheckFailed(f"cannot write {path}: {exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckFailed(f"cannot write {path}: {exc}") from None
