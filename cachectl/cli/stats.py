"""`cachectl stats`: server figures and, per prefix, what the library publishes."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar

import typer

from cachectl.cli import options
from cachectl.cli.common import connection, examples, print_text
from cachectl.errors import BackendUnavailable, CheckFailed, ConfigError

if TYPE_CHECKING:
    from cachectl.ops.stats import StatsReport

T = TypeVar("T")


class StatsFormat(StrEnum):
    """How stats are printed."""

    table = "table"
    json = "json"
    prometheus = "prometheus"


#: Shown at the end of `cachectl stats --help`.
EXAMPLES = examples(
    "cachectl --url redis://cache:6379/0 --namespace shop stats --prefix users",
    "# A CI gate: exit status 1 when a prefix's hit ratio is below 90%",
    "cachectl --namespace shop stats --min-hit-ratio 0.9 --json > stats.json",
)


def stats(
    ctx: typer.Context,
    prefix: options.AppPrefix = None,
    watch: Annotated[
        float | None,
        options.option(
            "SECONDS",
            "Refresh every SECONDS until Ctrl-C, SIGTERM, SIGHUP or --for (exit status 0): in "
            "place on a terminal; appended, timestamped, to a pipe or file (one JSON document a "
            "line with --json); or rewrite --output FILE. An interval Redis does not answer is "
            "shown as unreachable, and the watch goes on.",
            min=0.1,
        ),
    ] = None,
    duration: Annotated[
        float | None,
        options.option(
            "SECONDS", "With --watch: stop after SECONDS (exit status 0).", "--for", min=0.1
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
        options.option(
            "R",
            "Exit with status 1 when a shown prefix's hit ratio is below R (0-1), or when "
            "--prefix names one with nothing stored or published.",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        options.option(
            "FILE", "Write json or prometheus output to FILE atomically, instead of stdout."
        ),
    ] = None,
    max_scan: Annotated[
        int,
        options.count("Keys examined per primary to count keys; past it counts are extrapolated."),
    ] = 1_000_000,
    allow_empty: options.AllowEmpty = False,
    json_output: options.Json = False,
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
    if duration is not None and watch is None:
        raise ConfigError("--for says when --watch stops: give --watch too")

    from cachectl.cli.namespaces import empty_namespace
    from cachectl.cli.stats_view import utc_now
    from cachectl.ops.connect import translate_errors

    with connection(ctx) as conn:

        def take() -> StatsReport | Unreachable:
            # Within the watch, an interval Redis does not answer is shown, not the end.
            try:
                with translate_errors(conn.config):
                    return collect(conn, prefix, max_scan)
            except BackendUnavailable as exc:
                return Unreachable(str(exc), utc_now())

        report = collect(conn, prefix, max_scan)
        empty = empty_namespace(conn, allow_empty, any(row.keys for row in report.prefixes))
        if watch is None:
            _emit(report, fmt, output, min_hit_ratio)
            if empty is not None:
                raise empty
        else:
            if empty is not None:
                raise empty  # before anything is shown: a typo would be watched for ever
            with _Stopper(watch, duration) as stopper:
                if output is None:
                    report = _watch(stopper, report, take, fmt is StatsFormat.json, min_hit_ratio)
                else:
                    report = _rewrite(stopper, report, take, fmt, output)
    if min_hit_ratio is not None:
        if prefix is not None and all(row.vacant for row in report.prefixes):
            # The gate would check nothing: a mistyped --prefix must not pass it.
            raise CheckFailed(
                f"no hit ratio to check: nothing is stored or published under prefix "
                f"{prefix!r} (a mistyped --prefix? cachectl stats lists them)"
            )
        low = report.below(min_hit_ratio)
        if low:
            shown = ", ".join(f"{row.prefix} {row.stats.hit_ratio:.1%}" for row in low)
            raise CheckFailed(f"hit ratio below {min_hit_ratio:.1%}: {shown}")


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A watch interval Redis did not answer: the error, and when the outage began."""

    error: str
    since: str  # UTC, ISO 8601 to the second


class _Stop(BaseException):
    """A stop was asked for (Ctrl-C, SIGTERM, SIGHUP) while waiting or collecting; a
    BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it."""


class _Stopper:
    """Paces a watch loop, and turns SIGINT, SIGTERM and SIGHUP into a clean stop of it.

    A signal interrupts a wait or a collection at once, but never the writing of a snapshot (a
    reader of the stream would get half a JSON line): then it is acted on right after.
    """

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self, interval: float, duration: float | None = None) -> None:
        self.interval = interval
        self.deadline = None if duration is None else time.monotonic() + duration
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

    def wait(self) -> None:
        """Wait an interval; _Stop when a stop is asked for, or when the --for deadline
        comes first."""
        if self.deadline is None:
            self.run(lambda: time.sleep(self.interval))
            return
        left = self.deadline - time.monotonic()
        self.run(lambda: time.sleep(max(0.0, min(self.interval, left))))
        if self.interval >= left:
            raise _Stop


def _watch(
    stopper: _Stopper,
    report: StatsReport,
    take: Callable[[], StatsReport | Unreachable],
    as_json: bool,
    min_hit_ratio: float | None,
) -> StatsReport:
    """Snapshots every interval until stopped: redrawn in place on a terminal, appended to a
    pipe or a file (one JSON document per line with --json); the last report Redis answered."""
    from cachectl.cli.render import out
    from cachectl.cli.stats_view import append_stats, append_unreachable, live_stats

    live = not as_json and out().is_terminal
    view = live_stats(min_hit_ratio) if live else contextlib.nullcontext(None)
    taken: StatsReport | Unreachable = report
    down: Unreachable | None = None
    try:
        with view as show:
            while True:
                if isinstance(taken, Unreachable):
                    down = down or taken
                    note = _unreachable(down, taken, stopper.interval)
                    if show is None:
                        append_unreachable(report, note, taken.error, down.since, as_json)
                    else:
                        show(report, note)
                else:
                    down, report = None, taken
                    if show is None:
                        append_stats(report, as_json, min_hit_ratio)
                    else:
                        show(report, None)
                stopper.wait()
                taken = stopper.run(take)
    except _Stop:
        return report


def _unreachable(down: Unreachable, now: Unreachable, interval: float) -> str:
    return f"Redis unreachable since {down.since}: {now.error}; retrying every {interval:g} s"


def _emit(
    report: StatsReport, fmt: StatsFormat, output: Path | None, min_hit_ratio: float | None
) -> None:
    if fmt is StatsFormat.table:
        from cachectl.cli.stats_view import show_stats

        show_stats(report, min_hit_ratio)
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
    report: StatsReport,
    take: Callable[[], StatsReport | Unreachable],
    fmt: StatsFormat,
    output: Path,
) -> StatsReport:
    """--output FILE rewritten every interval; while Redis does not answer, FILE keeps the
    last snapshot (its age says so) and stderr says when the outage began and ended."""
    taken: StatsReport | Unreachable = report
    down: Unreachable | None = None
    try:
        while True:
            if isinstance(taken, Unreachable):
                if down is None:
                    down = taken
                    note = _unreachable(down, taken, stopper.interval)
                    _say(f"{note}; {output} keeps the last snapshot")
            else:
                if down is not None:
                    from cachectl.cli.stats_view import utc_now

                    _say(f"Redis answers again at {utc_now()}")
                    down = None
                report = taken
                _write_atomically(output, _text(report, fmt))
            stopper.wait()
            taken = stopper.run(take)
    except _Stop:
        return report


def _say(message: str) -> None:
    """One line on stderr, escaped and bounded as an error line is."""
    from cachectl.cli.render import ERROR_CELLS, name

    typer.echo(f"cachectl: {name(message, ERROR_CELLS)}", err=True)


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
