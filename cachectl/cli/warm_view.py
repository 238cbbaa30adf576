"""How `cachectl warm` draws a run: a progress bar of requests, then one row an endpoint and the
summary, each figure saying what it covers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from cachectl.cli.render import (
    count,
    elapsed,
    err,
    millis,
    number,
    out,
    plain,
    ratio,
    text,
    unbreakable,
)

if TYPE_CHECKING:
    from cachectl.warm import WarmReport


@contextlib.contextmanager
def request_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar of requests on stderr (when it is a terminal)."""
    if plain(sys.stderr) or not err().is_terminal:
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
    out().print(unbreakable(table))
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
